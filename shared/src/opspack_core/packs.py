"""``packs``: the packs of the runner, and new commands without a restart.

``packs`` lists them with the newest version on the package index; ``packs install <pack>``
and ``packs upgrade <pack>`` (permission ``core.admin.packs``, confirmed first) run pip of
the runner's own environment against the configured index only, for opspack packs only,
keeping the running core; then the runtime reloads.

``packs reload`` asks the runner to read its installed packs again (it also does so on
SIGHUP, ``POST /admin/reload`` and every ``[serve] reload_s`` seconds). The command itself
only answers; the runtime that ran it reloads once it answered
(:data:`opspack.runtime.RELOAD_COMMANDS`), in the runner's own process, and adds what
changed to the reply.
"""

from __future__ import annotations

import re
from typing import Any

from opspack import BackendError, ConfigError, Context, NotFound, Status, Table, UsageError, command


@command(
    group="packs",
    verb="reload",
    words=["packs", "reload"],
    mutating=True,
    idempotent=True,
    permission="core.admin.reload",
    examples=["packs reload"],
    settings=[],
)
def reload(ctx: Context) -> Status:
    """Read the installed packs again: new, upgraded and removed packs take effect without a restart.

    Commands running now finish on the code they started with.
    """
    return Status("ok", "Reading the installed packs again.", title="packs reload")


#: what `packs install` takes: a pack's name (``grafana``, ``opspack-grafana``), maybe ``==version``
_SPEC = re.compile(
    r"^(?:opspack-)?(?P<name>[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*)(?:==(?P<version>[0-9][0-9A-Za-z.+!-]*))?$"
)
#: seconds pip may take
PIP_TIMEOUT_S = 240.0


def _index(ctx: Context) -> str:
    from opspack.devtools.publish import PYPI

    configured = str(ctx.settings["index"] or "").strip()
    if configured and not configured.startswith(("http://", "https://")):
        raise ConfigError(f"setting index is {configured!r}, expected the http(s) URL of a simple index")
    return (configured if configured.endswith("/") else configured + "/") if configured else PYPI


def _requirement(pack: str) -> tuple[str, str | None]:
    """(``opspack-<name>``, the version or None) of what the user typed; only opspack packs."""
    found = _SPEC.match(pack.strip().lower())
    if found is None or found.group("name") in ("", "testkit"):
        raise UsageError(
            f"pack: got {pack!r}, expected a pack's name such as grafana or opspack-grafana (optionally ==1.2.0)",
            "Only opspack packs (opspack-*) are installed; `packs` lists them.",
        )
    return "opspack-" + found.group("name").replace("_", "-"), found.group("version")


def _installed(ctx: Context) -> dict[str, str]:
    """Distribution name -> version of the packs this runner serves."""
    packs = ctx.registry.packs if ctx.registry is not None else []
    return {str(p.get("distribution") or f"opspack-{p['name']}"): str(p.get("version")) for p in packs}


def _pip(ctx: Context, args: list[str]) -> str:
    """Run pip of the runner's own environment on ``args`` (from the configured index only);
    its output's tail. The running core is kept: a pack that needs another core fails here."""
    import os
    import shutil
    import subprocess
    import sys
    import tempfile
    from importlib.metadata import version
    from importlib.util import find_spec

    if find_spec("pip") is not None:
        base = [sys.executable, "-m", "pip", "install", "--no-input", "--disable-pip-version-check"]
    elif shutil.which("uv"):
        base = [str(shutil.which("uv")), "pip", "install", "--python", sys.executable]
    else:
        raise ConfigError("the runner's environment has neither pip nor uv to install packs with", "pip install pip")
    # no index, extra index or find-links of the machine's pip or uv configuration
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["UV_NO_CONFIG"] = "1"
    with tempfile.NamedTemporaryFile("w", suffix=".txt", prefix="opspack-core-") as keep:
        keep.write(f"opspack=={version('opspack')}\n")
        keep.flush()
        command = [*base, "--index-url", _index(ctx), "--constraint", keep.name, *args]
        try:
            proc = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=PIP_TIMEOUT_S,
                env=env,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise BackendError(f"installing took more than {PIP_TIMEOUT_S:g} s", retryable=False) from None
    out = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        last = [line for line in out.splitlines() if line.strip()][-3:]
        raise BackendError(f"pip failed: {' '.join(last) or proc.returncode}", retryable=False)
    return out


@command(group="packs", verb="list", words=["packs"], examples=["packs"], settings=["index"], timeout=60)
def list_(ctx: Context) -> Table:
    """List the packs this runner serves, their versions and the newest on the package index.

    The index is the setting `index` (the runner's configured index).
    """
    from opspack.devtools.publish import PublishError, index_versions, version_key

    index = _index(ctx)
    rows: list[list[Any]] = []
    for dist, version in sorted(_installed(ctx).items()):
        try:
            versions = sorted(index_versions(index, dist, timeout=10), key=version_key)
            newest = versions[-1] if versions else "not on the index"
        except PublishError as exc:
            newest = f"unknown ({exc})"
        commands = sum(1 for c in (ctx.registry or []) if c["pack"].get("distribution") == dist)
        rows.append([dist, version, newest, commands])
    return Table(columns=["pack", "installed", "newest on the index", "commands"], rows=rows, title=f"Packs ({index})")


def _check_install(ctx: Context, pack: str) -> None:
    dist, _ = _requirement(pack)
    if dist == "opspack-core" or dist == "opspack":
        raise UsageError("the core is not a pack: upgrade it with the runner stopped")


@command(
    group="packs",
    verb="install",
    words=["packs", "install"],
    destructive=True,
    permission="core.admin.packs",
    examples=["packs install grafana", "packs install opspack-vmware==0.2.0"],
    settings=["index"],
    timeout=PIP_TIMEOUT_S + 30,
    check=_check_install,
)
def install(ctx: Context, pack: str) -> Status:
    """Install a pack from the package index into the runner's environment; its commands come at once.

    Only opspack packs (opspack-*), only from the configured index (setting `index`). The
    running core is kept: a pack that needs another core is not installed.

    Args:
        pack: the pack, e.g. grafana or opspack-grafana, optionally with ==version
    """
    dist, version = _requirement(pack)
    _check_install(ctx, pack)
    _pip(ctx, [f"{dist}=={version}" if version else dist])
    return Status(
        "ok", f"Installed {dist}{'==' + version if version else ''} from {_index(ctx)}.", title="packs install"
    )


def _check_upgrade(ctx: Context, pack: str) -> str:
    dist, version = _requirement(pack)
    if version:
        raise UsageError("packs upgrade takes no version", f"To install one version: packs install {dist}=={version}")
    if dist not in _installed(ctx):
        raise NotFound(f"{dist} is not installed on this runner", f"Install it: packs install {dist}")
    return dist


@command(
    group="packs",
    verb="upgrade",
    words=["packs", "upgrade"],
    destructive=True,
    permission="core.admin.packs",
    examples=["packs upgrade vmware"],
    settings=["index"],
    timeout=PIP_TIMEOUT_S + 30,
    check=_check_upgrade,
)
def upgrade(ctx: Context, pack: str) -> Status:
    """Upgrade an installed pack to the newest version on the package index; its new commands come at once.

    Args:
        pack: the installed pack, e.g. vmware or opspack-vmware
    """
    dist = _check_upgrade(ctx, pack)
    before = _installed(ctx).get(dist)
    _pip(ctx, ["--upgrade", dist])
    return Status("ok", f"Upgraded {dist} (was {before}) from {_index(ctx)}.", title="packs upgrade")
