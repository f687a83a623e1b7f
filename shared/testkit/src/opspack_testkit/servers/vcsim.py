"""A vCenter simulator (govmomi's vcsim) for tests, standard library only.

``build_vcsim()`` compiles ``vcsim_main.go`` (next to this file) against the
govmomi sources that Debian ships and caches the binary; ``Vcsim`` runs it on
a free loopback port for the length of a ``with`` block::

    with Vcsim(clusters=1, hosts=2, vms=2, tls=False) as sim:
        si = SmartConnect(**sim.connect_kwargs())   # pyVim.connect

Needs ``apt-get install golang-go golang-github-vmware-govmomi-dev``
(Go 1.19, govmomi 0.24.2 under /usr/share/gocode). Environment:

* ``OPSPACK_VCSIM_BIN``: use this vcsim binary as is, build nothing.
* ``OPSPACK_CACHE``: cache root (default ``~/.cache/opspack``); the binary
  goes to ``<cache>/vcsim-<hash>/vcsim``, the hash covering
  ``vcsim_main.go``, ``go version`` and the govmomi sources' stamp.
* ``OPSPACK_GOPATH``: GOPATH holding govmomi (default /usr/share/gocode).

Inventory (govmomi's VPX model; <d>, <c>, <h>, <n>, <k>, <p> count from 0)::

    DC<d>                    Datacenter: DC0, DC1 ...
    DC<d>_C<c>               ClusterComputeResource: DC0_C0 ...
    DC<d>_C<c>_H<h>          HostSystem in a cluster: DC0_C0_H0, DC0_C0_H1 ...
    Resources                every cluster's (and standalone host's) root
                             ResourcePool, called "RP0" inside VM names
    DC<d>_C<c>_RP<p>         extra ResourcePools (pools=N), p from 1, no VMs
    DC<d>_C<c>_RP0_VM<n>     VirtualMachine in a cluster; VM n runs on host
                             DC<d>_C<c>_H<n // vms> (e.g. vms=2: VM0, VM1 on
                             H0; VM2, VM3 on H1)
    DC<d>_H<h>               standalone HostSystem (standalone_hosts=N), and
                             its ComputeResource of the same name
    DC<d>_H<h>_VM<n>         VirtualMachine on standalone host DC<d>_H<h>
    LocalDS_<k>              Datastore: the same names in every DC, mounted on
                             every host of the DC; VMs live on LocalDS_0. Its
                             moid is odd: "/tmp/govcsim-DC0-LocalDS_0-<rand>@folder-5"
    DVS0                     DistributedVirtualSwitch, one per DC, with uplink
                             portgroup "DVS0-DVUplinks-<number>"
    DC<d>_DVPG<p>            DistributedVirtualPortgroup (portgroups=N); VM
                             NICs are on DC<d>_DVPG0 ("VM Network" if 0)
    VM Network               the hosts' standard Network, one per DC
    F0                       folders=N: the last N DCs go in root folder F0
                             (then F1 ...) and their vm/host/datastore/network
                             folders get a subfolder of that name holding all
                             (e.g. /F0/DC1/vm/F0/DC1_C0_RP0_VM0)

Inventory paths (for SearchIndex.FindByInventoryPath without the leading
slash): /DC0/vm/DC0_C0_RP0_VM0, /DC0/host/DC0_C0/DC0_C0_H0,
/DC0/host/DC0_C0/Resources, /DC0/host/DC0_H0/DC0_H0,
/DC0/datastore/LocalDS_0, /DC0/network/DC0_DVPG0. Other managed object ids
(vm-86, host-34, datacenter-2 ...) come from one counter: stable for the same
knobs, but better looked up by name.

VMs: 1 vCPU, 32 MB, guestId and guestFullName "otherGuest", one 1 MB disk,
one e1000 NIC, a CD-ROM; powered on unless autostart=False; guest tools
"not running". Guest IP and host name are empty unless ``guest_ip_base`` is
given: VM number n in creation order (clusters' and standalone hosts' VM
name prefixes sorted as strings, then hosts, then VMs) then reports
``guest_ip_base + n`` and its own name as host name.

The server says "VMware vCenter Server 6.5.0", API 6.5. Any non-empty user
and password log in unless ``username``/``password`` are given; then only
that pair does. With ``tls=True`` the certificate is Go's self-signed test
certificate ("O=Acme Co", SANs example.com, 127.0.0.1 and ::1, RSA 1024
bit, valid 1970-2084), which no client trusts and which OpenSSL 3 at its
default security level rejects as too weak even when given as CA; connect
with verification off, or pass ``tls_cert``/``tls_key`` (PEM files) for a
certificate of your own. With ``tls=False`` it serves plain http (pyvmomi:
``SmartConnect(..., protocol="http")``).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from opspack_testkit.servers.process import ManagedProcess, ServerError

__all__ = [
    "APT_PACKAGES",
    "Vcsim",
    "VcsimBuildError",
    "VcsimError",
    "VcsimUnavailable",
    "build_vcsim",
    "vmware_pack_environ",
]

APT_PACKAGES = ("golang-go", "golang-github-vmware-govmomi-dev")
MAIN_GO = Path(__file__).with_name("vcsim_main.go")
URL_PREFIX = "OPSPACK_VCSIM_URL="
_GOVMOMI = Path("src/github.com/vmware/govmomi")
_INSTALL_HINT = "apt-get install -y " + " ".join(APT_PACKAGES)
_METHOD = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


class VcsimUnavailable(RuntimeError):
    """Go or the govmomi sources are missing, so vcsim cannot be built."""


class VcsimBuildError(RuntimeError):
    """``go build`` of vcsim_main.go failed."""


class VcsimError(ServerError):
    """The simulator did not start (or died)."""


def default_cache_dir() -> Path:
    """``$OPSPACK_CACHE`` or ``~/.cache/opspack``."""
    env = os.environ.get("OPSPACK_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "opspack"


def _gopath() -> Path:
    return Path(os.environ.get("OPSPACK_GOPATH", "/usr/share/gocode"))


def build_vcsim(cache_dir: Path | None = None) -> Path:
    """Return the path of a vcsim binary, building and caching it if needed.

    ``$OPSPACK_VCSIM_BIN`` wins if set. Concurrent callers are safe: the
    build goes to a temporary file renamed into place, under a file lock.
    """
    env_bin = os.environ.get("OPSPACK_VCSIM_BIN")
    if env_bin:
        path = Path(env_bin)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise VcsimUnavailable(f"OPSPACK_VCSIM_BIN={env_bin} is not an executable file")
        return path

    go = shutil.which("go")
    if go is None:
        raise VcsimUnavailable(f"no 'go' on PATH to build vcsim; install: {_INSTALL_HINT}")
    gopath = _gopath()
    stamp = gopath / _GOVMOMI / "simulator" / "simulator.go"
    if not stamp.is_file():
        raise VcsimUnavailable(
            f"govmomi sources not found under {gopath} (set OPSPACK_GOPATH?); install: {_INSTALL_HINT}"
        )

    go_version = _run_go([go, "version"], gopath, cache_dir=None).strip()
    st = stamp.stat()
    digest = hashlib.sha256()
    for part in (
        MAIN_GO.read_bytes(),
        go_version.encode(),
        f"{stamp}:{st.st_size}:{st.st_mtime_ns}".encode(),
    ):
        digest.update(part)
        digest.update(b"\0")
    root = cache_dir if cache_dir is not None else default_cache_dir()
    out_dir = root / f"vcsim-{digest.hexdigest()[:16]}"
    binary = out_dir / "vcsim"
    if binary.is_file():
        return binary

    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building
        if binary.is_file():
            return binary
        tmp_dir = Path(tempfile.mkdtemp(prefix=".build.", dir=out_dir))
        try:
            tmp = tmp_dir / "vcsim"
            _run_go([go, "build", "-o", str(tmp), str(MAIN_GO)], gopath, cache_dir=root)
            tmp.replace(binary)  # atomic: readers see no binary or a whole one
        finally:
            shutil.rmtree(tmp_dir, ignore_errors=True)
    return binary


def _run_go(cmd: list[str], gopath: Path, cache_dir: Path | None) -> str:
    env = dict(os.environ, GOPATH=str(gopath), GO111MODULE="off", GOFLAGS="")
    if cache_dir is not None and "GOCACHE" not in os.environ:
        env["GOCACHE"] = str(cache_dir / "go-build")
    try:
        proc = subprocess.run(
            cmd,
            env=env,
            cwd=MAIN_GO.parent,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise VcsimBuildError(f"{' '.join(cmd)}: {exc}") from exc
    if proc.returncode != 0:
        raise VcsimBuildError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr.strip()}")
    return proc.stdout


class Vcsim(ManagedProcess):
    """A running vCenter simulator; use as a context manager.

    ``vms`` counts VMs per host (cluster hosts and standalone hosts), so the
    inventory holds ``datacenters * (clusters * hosts + standalone_hosts) *
    vms`` VMs (``vm_count``). ``username``/``password``: only that login is
    accepted (both or neither). ``session_idle_timeout``: seconds after which
    an idle session expires. ``delay_ms``: delay of every SOAP call;
    ``method_delay_ms``: delay of these SOAP methods (added to ``delay_ms``),
    e.g. ``{"RelocateVM_Task": 2000}``. Delays start once the inventory is
    built. vcsim runs a task within the call that starts it (its state is
    ``success`` or ``error`` when the call returns, with no progress in
    between), so a delayed ``*_Task`` method is how a long task looks here.
    ``port=0`` lets the simulator bind a free loopback port itself (no race).
    """

    name = "vcsim"
    error = VcsimError
    own_port = True  # it prints the URL it serves
    stdin_pipe = True  # -stdin-exit: vcsim exits when the tests do

    def __init__(
        self,
        *,
        datacenters: int = 1,
        clusters: int = 1,
        hosts: int = 2,
        vms: int = 2,
        standalone_hosts: int = 0,
        datastores: int = 1,
        portgroups: int = 1,
        pools: int = 0,
        folders: int = 0,
        tls: bool = True,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
        username: str | None = None,
        password: str | None = None,
        autostart: bool = True,
        guest_ip_base: str | None = None,
        session_idle_timeout: float | None = None,
        delay_ms: int = 0,
        method_delay_ms: Mapping[str, int] | None = None,
        listen_host: str = "127.0.0.1",
        port: int = 0,
        binary: Path | None = None,
        start_timeout: float | None = None,
    ) -> None:
        if (username is None) != (password is None) or username == "" or password == "":
            raise ValueError("give both username and password (non-empty), or neither")
        if (tls_cert is None) != (tls_key is None) or (tls_cert and not tls):
            raise ValueError("tls_cert and tls_key go together, and need tls=True")
        if vms > 0 and datastores < 1:
            raise ValueError("VMs need datastores >= 1")
        method_delays = dict(method_delay_ms or {})
        for method, ms in method_delays.items():
            if not _METHOD.fullmatch(method) or not isinstance(ms, int) or ms < 0:
                raise ValueError(f"method_delay_ms: {method}={ms!r}, expected a SOAP method name and milliseconds >= 0")
        self.datacenters = datacenters
        self.clusters = clusters
        self.hosts = hosts
        self.vms = vms
        self.standalone_hosts = standalone_hosts
        self.datastores = datastores
        self.tls = tls
        self.username = username
        self.password = password
        self.guest_ip_base = guest_ip_base
        self.binary = binary
        super().__init__(
            host=listen_host,
            port=port,
            start_timeout=start_timeout if start_timeout is not None else 30.0 + self.vm_count / 40,
            stop_timeout=5.0,
        )
        self.url = ""
        self._args = [
            f"-listen={listen_host}:{port}",
            f"-dc={datacenters}",
            f"-cluster={clusters}",
            f"-host={hosts}",
            f"-standalone-host={standalone_hosts}",
            f"-vm={vms}",
            f"-ds={datastores}",
            f"-pg={portgroups}",
            f"-pool={pools}",
            f"-folder={folders}",
            f"-autostart={str(autostart).lower()}",
            f"-tls={str(tls).lower()}",
            f"-delay={delay_ms}",
            "-stdin-exit",
        ]
        if username is not None and password is not None:
            self._args += [f"-username={username}", f"-password={password}"]
        if tls_cert is not None and tls_key is not None:
            self._args += [f"-tlscert={tls_cert}", f"-tlskey={tls_key}"]
        if method_delays:
            self._args.append("-method-delay=" + ",".join(f"{m}={ms}" for m, ms in sorted(method_delays.items())))
        if guest_ip_base is not None:
            self._args.append(f"-guest-ip-base={guest_ip_base}")
        if session_idle_timeout is not None:
            self._args.append(f"-session-idle-timeout={round(session_idle_timeout * 1000)}ms")

    @property
    def vm_count(self) -> int:
        """Number of VMs the inventory starts with."""
        return self.datacenters * (self.clusters * self.hosts + self.standalone_hosts) * self.vms

    @property
    def host_count(self) -> int:
        """Number of HostSystems (cluster and standalone)."""
        return self.datacenters * (self.clusters * self.hosts + self.standalone_hosts)

    @property
    def login(self) -> tuple[str, str]:
        """A user and password that log in."""
        if self.username is not None and self.password is not None:
            return self.username, self.password
        return "user", "pass"

    def connect_kwargs(self) -> dict[str, object]:
        """Keyword arguments for pyVim.connect.SmartConnect."""
        user, pwd = self.login
        kwargs: dict[str, object] = {
            "host": self.host,
            "port": self.port,
            "user": user,
            "pwd": pwd,
        }
        if self.tls:
            kwargs["disableSslCertValidation"] = True
        else:
            kwargs["protocol"] = "http"
        return kwargs

    def server_certificate_pem(self) -> str:
        """The certificate the running simulator presents (PEM), tls=True only."""
        if not self.tls:
            raise VcsimError("plain http simulator has no certificate")
        return ssl.get_server_certificate((self.host, self.port))

    # -- ManagedProcess ------------------------------------------------------------------
    def prepare(self) -> None:
        """Build (or find) the binary; forget the URL of an earlier run."""
        self.url = ""
        if self.binary is None:
            self.binary = build_vcsim()

    def command(self) -> list[str]:
        """The vcsim binary with the inventory's knobs."""
        assert self.binary is not None
        return [str(self.binary), *self._args]

    def on_output(self, line: str) -> None:
        """vcsim prints ``OPSPACK_VCSIM_URL=<url>`` once it listens."""
        if line.startswith(URL_PREFIX) and not self.url:
            url = line[len(URL_PREFIX) :].strip()
            parts = urlsplit(url)
            self.host = parts.hostname or self.host
            self.port = parts.port or 0
            self.url = url

    def ready(self) -> bool:
        """The URL is printed and its port accepts connections."""
        return bool(self.url) and super().ready()

    def __repr__(self) -> str:
        state = self.url if self.running else "stopped"
        return f"Vcsim({state}, vms={self.vm_count}, tls={self.tls})"


def vmware_pack_environ(sim: Vcsim) -> dict[str, str]:
    """The environment that points the vmware pack at a started simulator.

    For the demo and for tests: ``os.environ.update(vmware_pack_environ(sim))``
    and ``vm list`` lists the simulator's VMs. vcsim's own certificate cannot be
    verified (see the module docstring), so TLS verification is turned off for it.
    """
    if not sim.url:
        raise VcsimError("start the simulator first")
    user, password = sim.login
    env = {
        "OPSPACK_VMWARE_URL": sim.url,
        "OPSPACK_VMWARE_USER": user,
        "OPSPACK_VMWARE_PASSWORD": password,
    }
    if sim.tls:
        env["OPSPACK_VMWARE_VERIFY_TLS"] = "false"
    return env
