"""Which ACL policies let a token read a path: a small reader of policy rules.

Policies are HCL (or JSON) ``path "<glob>" { capabilities = [...] }`` blocks. A
glob may end in ``*`` (any suffix) and use ``+`` for one path segment. As in
Vault, the most specific matching rule of a policy decides (an exact path beats a
glob; a longer prefix beats a shorter one) and ``deny`` in that rule wins over its other capabilities.
The root policy reads everything. Templated paths (``{{identity...}}``) cannot be
resolved here and are reported as such.
"""

from __future__ import annotations

import json
import re
from typing import Any

_BLOCK = re.compile(r'path\s+"(?P<path>[^"]+)"\s*\{(?P<body>[^{}]*)\}', re.S)
_CAPS = re.compile(r"capabilities\s*=\s*\[(?P<caps>[^\]]*)\]", re.S)


def parse(rules: str) -> dict[str, set[str]]:
    """``{path glob: capabilities}`` of one policy's rules (HCL or JSON)."""
    out: dict[str, set[str]] = {}
    text = rules.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            for path, body in (data.get("path") or {}).items():
                caps = body.get("capabilities", []) if isinstance(body, dict) else []
                out[str(path)] = {str(c) for c in caps}
            return out
    no_comments = re.sub(r"(?m)^\s*(#|//).*$", "", text)
    for m in _BLOCK.finditer(no_comments):
        caps = _CAPS.search(m["body"])
        out[m["path"]] = set(re.findall(r'"([^"]+)"', caps["caps"])) if caps else set()
    return out


def _matches(glob: str, path: str) -> bool:
    prefix = glob.endswith("*")
    pattern = glob[:-1] if prefix else glob
    parts = re.escape(pattern).replace(r"\+", "[^/]+")
    return re.fullmatch(parts + (".*" if prefix else ""), path) is not None


def _specificity(glob: str) -> tuple[int, int, int]:
    # exact beats glob; then fewer "+" segments; then the longer pattern
    return (0 if glob.endswith("*") else 1, -glob.count("+"), len(glob))


def grants_read(rules: dict[str, set[str]], path: str) -> bool | None:
    """True/False when the policy's most specific matching rule allows/denies read; None if none match."""
    matching = [g for g in rules if _matches(g, path)]
    if not matching:
        return None
    best = max(matching, key=_specificity)
    return bool({"read", "sudo"} & rules[best]) and "deny" not in rules[best]


def readers(client: Any, api_path: str) -> list[str] | str:
    """Names of the policies that grant read on ``api_path``, or why that is unknown."""
    from opspack_vault.policy import policy_names

    try:
        names = policy_names(client)
    except Exception:  # noqa: BLE001 - the token may not list policies
        return "unknown: the bot's token may not read policies"
    out = ["root"] if "root" in names else []
    for name in names:
        if name == "root":
            continue
        try:
            policy = client.sys.read_acl_policy(name)
        except Exception:  # noqa: BLE001, S112 - an unreadable policy is skipped
            continue
        data = policy.get("data", policy) if isinstance(policy, dict) else {}
        rules = parse(str(data.get("policy") or data.get("rules") or ""))
        if grants_read(rules, api_path):
            out.append(name)
        elif grants_read(_untemplated(rules), api_path):
            out.append(f"{name} (through a templated path: depends on who asks)")
    return out


def _untemplated(rules: dict[str, set[str]]) -> dict[str, set[str]]:
    """The templated rules with each ``{{...}}`` read as one path segment (``+``)."""
    return {re.sub(r"\{\{[^}]*\}\}", "+", g): caps for g, caps in rules.items() if "{{" in g}
