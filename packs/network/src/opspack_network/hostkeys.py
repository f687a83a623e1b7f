"""Devices' SSH host keys: checked against a known_hosts file before any password is sent.

The setting ``host_keys`` says how:

* ``accept-new`` (the default, as OpenSSH's ``StrictHostKeyChecking accept-new``): the
  key a device shows the first time is appended to the file; afterwards the device must
  show that key, or nothing is sent to it and its row says the key changed.
* ``strict``: only devices already in the file are talked to (fill it with
  ``ssh-keyscan``, or with a run in ``accept-new`` mode you trust).
* ``off``: any key is accepted; for labs only.

The file (setting ``known_hosts``; default ``$XDG_DATA_HOME/opspack/network_known_hosts``)
is in OpenSSH's format, entries named ``host`` on port 22 and ``[host]:port`` otherwise,
so ``ssh-keyscan`` output and ``ssh-keygen -R`` work on it.

The check is paramiko's host key policy of each connection (:meth:`HostKeys.policy`),
which paramiko consults after the key exchange and before authentication. The file is
read once and again only when it changes, and each connection looks up its one device:
netmiko's own option (``alt_key_file``) parses the whole file on every connection,
4.6 ms for 50 devices and growing with the file.

Several threads (a group) and several bot processes may learn keys at once: each new
entry is one ``O_APPEND`` write of one line, under a lock per file in this process.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any, Literal

import paramiko
from opspack import ConfigError, Denied, OpsError

Mode = Literal["accept-new", "strict", "off"]
MODES: tuple[Mode, ...] = ("accept-new", "strict", "off")


def default_path() -> Path:
    """``$XDG_DATA_HOME/opspack/network_known_hosts`` (``~/.local/share`` without it)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "opspack" / "network_known_hosts"


def keyscan(name: str) -> str:
    """The ssh-keyscan command line that fetches the key of the device named ``name``."""
    if name.startswith("[") and "]:" in name:
        host, port = name[1:].split("]:", 1)
        return f"ssh-keyscan -p {port} {host}"
    return f"ssh-keyscan {name}"


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's fingerprint of a key: ``SHA256:`` and the unpadded base64 of its digest."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def entry_name(host: str, port: int) -> str:
    """The name OpenSSH and paramiko give a host in known_hosts."""
    return host if port == 22 else f"[{host}]:{port}"


def fetch_key(host: str, port: int, timeout: float) -> paramiko.PKey:
    """The key a device shows now, from an SSH key exchange that stops before authentication."""
    sock = socket.create_connection((host, port), timeout=min(timeout, 15.0))
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = timeout
        transport.start_client(timeout=timeout)
        return transport.get_remote_server_key()
    finally:
        transport.close()


class Refused(paramiko.SSHException):  # type: ignore[misc]
    """The policy refused the device's key. An ``SSHException``, so that netmiko closes the
    transport before re-raising; :mod:`opspack_network.errors` finds ``error`` in the chain."""

    def __init__(self, error: OpsError) -> None:
        super().__init__(error.message)
        self.error = error


class HostKeys:
    """One known_hosts file in one mode; shared by every session of the process (see :func:`store`)."""

    def __init__(self, path: Path, mode: Mode) -> None:
        self.path = path
        self.mode = mode
        self._lock = threading.Lock()
        self._keys = paramiko.HostKeys()
        self._stamp: tuple[int, int] | None = None

    def policy(self) -> paramiko.MissingHostKeyPolicy:
        """The policy a connection checks the device's key with."""
        return _Policy(self)

    def check(self, name: str, key: paramiko.PKey) -> None:
        """Accept ``key`` for the device named ``name`` (learning it in accept-new), or raise :class:`Refused`."""
        if self.mode == "off":
            return
        with self._lock:
            self._reload()
            known = self._keys.lookup(name)
            if known is not None:
                if known.get(key.get_name()) == key:
                    return
                raise Refused(
                    Denied(
                        "the device's SSH host key is not the one on record: nothing was sent to it"
                        " (a replaced device, or someone in the middle)",
                        "If the device was replaced or re-keyed, compare `net hostkeys <device> --check` with its"
                        " owner, then `net hostkey forget <device>` (or ssh-keygen -R"
                        f" '{name}' -f {self.path}) and run it again.",
                    )
                )
            if self.mode == "strict":
                raise Refused(
                    Denied(
                        f"the device's SSH host key is not in {self.path} (host_keys is strict): nothing was sent",
                        f"Check the key with the device's owner, then add it: {keyscan(name)} >> {self.path}",
                    )
                )
            self._append(name, key)

    def records(self, name: str) -> dict[str, paramiko.PKey]:
        """The keys on record for the device named ``name``, by key type (empty: never seen)."""
        with self._lock:
            self._reload()
            found = self._keys.lookup(name)
            return dict(found.items()) if found is not None else {}

    def forget(self, name: str) -> int:
        """Remove every line of the device named ``name``; how many there were.

        The file is rewritten beside itself and renamed over it; a line another process
        appends meanwhile may be lost, and is learned again on its next connection."""
        with self._lock:
            try:
                lines = self.path.read_text(encoding="utf-8").splitlines(keepends=True)
            except FileNotFoundError:
                return 0
            kept = [line for line in lines if not _names_host(line, name)]
            removed = len(lines) - len(kept)
            if removed:
                fd, tmp = tempfile.mkstemp(prefix=".known_hosts.", dir=self.path.parent)
                try:
                    with os.fdopen(fd, "w", encoding="utf-8") as out:
                        out.writelines(kept)
                    os.chmod(tmp, 0o600)
                    os.replace(tmp, self.path)
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp)
                    raise
                self._stamp = None  # read it again next time
            return removed

    def _reload(self) -> None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._keys, self._stamp = paramiko.HostKeys(), None
            return
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            keys = paramiko.HostKeys()
            try:
                keys.load(str(self.path))
            except (OSError, paramiko.SSHException, ValueError) as exc:
                raise Refused(
                    ConfigError(
                        f"the known_hosts file {self.path} cannot be read: {exc}",
                        "Fix or remove the file (setting known_hosts), or set host_keys to off for a lab.",
                    )
                ) from None
            self._keys, self._stamp = keys, stamp

    def _append(self, name: str, key: paramiko.PKey) -> None:
        line = f"{name} {key.get_name()} {key.get_base64()}\n".encode("ascii")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
                st = os.fstat(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise Refused(
                ConfigError(
                    f"the device's host key cannot be saved in {self.path}: {exc.strerror or exc}",
                    "Set known_hosts to a file the bot may write, or fill it beforehand and set host_keys to strict.",
                )
            ) from None
        self._keys.add(name, key.get_name(), key)
        if st.st_size == (self._stamp[1] if self._stamp else 0) + len(line):
            self._stamp = (st.st_mtime_ns, st.st_size)  # only our line was added: no need to read it back


def _names_host(line: str, name: str) -> bool:
    """Whether a known_hosts line is about ``name`` (plain or hashed names)."""
    fields = line.split()
    if not fields or line.lstrip().startswith("#"):
        return False
    for host in fields[0].split(","):
        if host == name:
            return True
        if host.startswith("|1|") and paramiko.HostKeys.hash_host(name, host) == host:
            return True
    return False


class _Policy(paramiko.MissingHostKeyPolicy):  # type: ignore[misc]
    """Called by paramiko for every key, since the connection itself loads no known_hosts."""

    def __init__(self, keys: HostKeys) -> None:
        self.keys = keys

    def missing_host_key(self, client: Any, hostname: str, key: paramiko.PKey) -> None:
        self.keys.check(hostname, key)


_stores: dict[tuple[str, str], HostKeys] = {}
_stores_lock = threading.Lock()


def for_settings(settings: Any) -> HostKeys:
    """The process's :class:`HostKeys` for a command's ``known_hosts`` and ``host_keys`` settings."""
    return store(str(settings["known_hosts"] or ""), str(settings["host_keys"]))


def store(known_hosts: str, mode: str) -> HostKeys:
    """The process's :class:`HostKeys` for these settings (``known_hosts`` empty: the default path)."""
    if mode not in MODES:
        raise ConfigError(f"host_keys: {mode!r} is not a mode", f"Set it to one of {', '.join(MODES)}.")
    path = Path(known_hosts).expanduser() if known_hosts else default_path()
    key = (str(path), mode)
    with _stores_lock:
        found = _stores.get(key)
        if found is None:
            found = _stores[key] = HostKeys(path, mode)
        return found
