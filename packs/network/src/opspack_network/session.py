"""Talking to devices: netmiko sessions, TextFSM parsing, and running on many devices at once.

The command modules import this inside their functions, so listing commands never
imports netmiko. One SSH session per device per command: sessions are not kept
between commands (a device allows few VTY sessions, and a kept session would be
shared by commands running at the same time).

:func:`fan_out` runs a function on many devices in a thread pool of ``workers``
threads (so at most ``workers`` SSH sessions are open at once). Each device has
``timeout`` seconds from the moment its turn comes; a device that fails or runs
out of time becomes an :class:`Outcome` with its error, never the end of the reply.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from netmiko import ConnectHandler
from opspack import CommandTimeout, Context, OpsError

from opspack_network import hostkeys
from opspack_network.errors import as_error
from opspack_network.inventory import Device, login


@dataclass(slots=True)
class Outcome:
    """What one device answered, or why it did not."""

    device: Device
    value: Any = None
    error: OpsError | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


class _Gauge:
    """How many sessions are open now, and the most that were open at once (for the benchmark)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def add(self, n: int) -> None:
        with self.lock:
            self.now += n
            self.peak = max(self.peak, self.now)

    def reset(self) -> None:
        with self.lock:
            self.peak = self.now


SESSIONS = _Gauge()


class Session:
    """An open netmiko connection to one device, in enable mode where the platform has one."""

    def __init__(self, ctx: Context, device: Device, timeout: float) -> None:
        creds = login(ctx, device)
        keys = hostkeys.for_settings(ctx.settings)
        self.device = device
        self.timeout = timeout
        #: whether this session entered configuration mode (then it leaves the netmiko way)
        self.configured = False
        SESSIONS.add(1)  # from the first packet: a session being opened counts
        try:
            self.conn = self._connect(device, creds.username, creds.password, creds.secret, timeout, keys)
        except BaseException:
            SESSIONS.add(-1)
            raise

    @staticmethod
    def _connect(
        device: Device, username: str, password: str, secret: str, timeout: float, keys: hostkeys.HostKeys
    ) -> Any:
        conn = ConnectHandler(
            device_type=device.platform,
            host=device.host,
            port=device.port,
            username=username,
            password=password,
            secret=secret,
            conn_timeout=min(timeout, 15.0),
            auth_timeout=timeout,
            banner_timeout=timeout,
            timeout=timeout,
            read_timeout_override=timeout,
            fast_cli=True,
            # password logins only: no look-ups of the bot's own SSH keys or agent
            use_keys=False,
            allow_agent=False,
            # the device's host key is checked by our policy (hostkeys.py), not from netmiko's files
            system_host_keys=False,
            alt_host_keys=False,
            auto_connect=False,
        )
        # paramiko consults the policy after the key exchange, before the password is sent
        conn.key_policy = keys.policy()
        conn._open()  # what auto_connect runs: connect, then the platform's session preparation
        try:
            conn.enable()  # checks the prompt first itself: no round trip of our own before it
        except (AttributeError, NotImplementedError):
            pass  # the platform has no enable mode
        except BaseException:
            _end(conn, graceful=False)
            raise
        return conn

    def run(self, command: str) -> str:
        out = self.conn.send_command(command, read_timeout=self.timeout, strip_prompt=True, strip_command=True)
        return str(out)

    def configure(self, lines: Sequence[str]) -> str:
        self.configured = True
        return str(self.conn.send_config_set(list(lines), read_timeout=self.timeout))

    def save(self) -> str:
        return str(self.conn.save_config())

    def close(self) -> None:
        """End the session: the netmiko way only when it configured (see :func:`_end`)."""
        _end(self.conn, graceful=self.configured)
        SESSIONS.add(-1)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _end(conn: Any, *, graceful: bool) -> None:
    """Close a netmiko connection; never raises (closing must not hide the real answer).

    Not graceful, its SSH connection ends first: the device frees the line when SSH
    closes, and netmiko's graceful exit would first ask whether the device is in
    configuration mode (a round trip, and 2 s of waiting for the prompt on Dell OS6).
    ``disconnect`` then releases what netmiko holds (its log filter among them)."""
    if not graceful:
        with contextlib.suppress(Exception):
            conn.paramiko_cleanup()
    with contextlib.suppress(Exception):
        conn.disconnect()


def parse(platform: str, command: str, output: str) -> list[dict[str, Any]] | None:
    """Rows parsed with the ntc-templates TextFSM template for this platform and command, if any."""
    if not output.strip():
        return None
    try:
        parsed = _textfsm(platform, command, output)
    except Exception:  # noqa: BLE001 - a template that does not fit the output means raw text
        return None
    if parsed:
        return [{k: _cell(v) for k, v in r.items()} for r in parsed]
    return None


_parse_lock = threading.Lock()
_index: Any = None
_compiled: dict[str, Any] = {}
#: (platform, command) -> template names ("" when ntc-templates has none): the index match
#: runs every index row's regular expressions, ~2 ms a call
_templates: dict[tuple[str, str], str] = {}


def _textfsm(platform: str, command: str, output: str) -> list[dict[str, Any]] | None:
    """TextFSM through the ntc-templates index, with the index and each template compiled once.

    (netmiko's ``use_textfsm`` reads the index and compiles the template on every call,
    about 12 ms each: more than the SSH session on a fast network, over 50 devices.)"""
    global _index
    import textfsm
    from netmiko.utilities import get_structured_data_textfsm, get_template_dir
    from textfsm import clitable

    with _parse_lock:
        if _index is None:
            _index = clitable.CliTable("index", get_template_dir())
        found = _templates.get((platform, command))
        if found is None:
            if len(_templates) > 1000:  # commands are free text: keep the cache bounded
                _templates.clear()
            row = _index.index.GetRowMatch({"Command": command, "Platform": platform})
            found = _templates[(platform, command)] = str(_index.index.index[row]["Template"]) if row else ""
        if not found:
            return None
        names = found.split(":")
        if len(names) == 1:
            path = os.path.join(_index.template_dir, names[0])
            fsm = _compiled.get(path)
            if fsm is None:
                with open(path, encoding="utf-8") as f:
                    fsm = _compiled[path] = textfsm.TextFSM(f)
            fsm.Reset()
            header = [str(h).lower() for h in fsm.header]
            return [dict(zip(header, values, strict=True)) for values in fsm.ParseText(output)]
    # several templates joined on their keys: netmiko's way
    parsed = get_structured_data_textfsm(output, platform=platform, command=command)
    if isinstance(parsed, list) and all(isinstance(r, dict) for r in parsed):
        return [{str(k): v for k, v in r.items()} for r in parsed]
    return None


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return value


def run_on(ctx: Context, device: Device, timeout: float, use: Callable[[Session], Any]) -> Any:
    """Open a session to one device, run ``use(session)``, close it."""
    with Session(ctx, device, timeout) as session:
        return use(session)


def run_one(ctx: Context, device: Device, timeout: float, use: Callable[[Session], Any]) -> Any:
    """``use`` on one device within ``timeout`` seconds in all; its error is raised, not returned."""
    (outcome,) = fan_out(ctx, [device], use, workers=1, timeout=timeout)
    if outcome.error is not None:
        raise outcome.error
    return outcome.value


def fan_out(
    ctx: Context,
    devices: Sequence[Device],
    use: Callable[[Session], Any],
    *,
    workers: int,
    timeout: float,
    on_done: Callable[[Outcome, int], None] | None = None,
) -> list[Outcome]:
    """Run ``use`` on every device, ``workers`` at a time; one :class:`Outcome` per device, in order.

    ``on_done(outcome, finished)`` is called in the calling thread as each device finishes
    (answered, failed or timed out), with how many have finished so far."""
    outcomes: dict[str, Outcome] = {}
    started: dict[str, float] = {}

    def finish(outcome: Outcome) -> None:
        outcomes[outcome.device.name] = outcome
        if on_done is not None:
            on_done(outcome, len(outcomes))

    def one(device: Device) -> Outcome:
        started[device.name] = time.monotonic()
        try:
            value = run_on(ctx, device, timeout, use)
        except BaseException as exc:  # noqa: BLE001 - every failure becomes this device's row
            ctx.log.info("network: %s failed: %s", device.name, type(exc).__name__)
            return Outcome(device, error=as_error(exc), seconds=time.monotonic() - started[device.name])
        return Outcome(device, value=value, seconds=time.monotonic() - started[device.name])

    pool = cf.ThreadPoolExecutor(max_workers=max(1, min(workers, len(devices))), thread_name_prefix="opspack-net")
    try:
        futures = {pool.submit(one, d): d for d in devices}
        pending = set(futures)
        while pending:
            done, pending = cf.wait(pending, timeout=0.05, return_when=cf.FIRST_COMPLETED)
            for fut in done:
                finish(fut.result())
            now = time.monotonic()
            for fut in list(pending):
                device = futures[fut]
                begin = started.get(device.name)
                if begin is not None and now - begin > timeout:
                    # its thread is left to netmiko's own timeouts; the reply does not wait
                    pending.discard(fut)
                    finish(
                        Outcome(
                            device,
                            error=CommandTimeout(
                                f"no answer within {timeout:g} s", "Raise the pack's device_timeout (or --timeout)."
                            ),
                            seconds=now - begin,
                        )
                    )
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return [outcomes[d.name] for d in devices]
