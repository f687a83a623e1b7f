"""vcsim (govmomi's vCenter simulator) for the vmware pack's tests: built once (cached),
started per module or per test with the inventory each test needs, stopped afterwards.

Needs `apt-get install golang-go golang-github-vmware-govmomi-dev` (scripts/install-test-deps.sh);
without them the tests skip on a laptop and fail under CI=true.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from opspack.context import Caller
from opspack.devtools.registry_build import registry_from_package
from opspack.registry import Registry
from opspack.results import Reply
from opspack.runtime import Runtime
from opspack.settings import Config
from opspack_testkit import need
from opspack_testkit.servers.vcsim import Vcsim, VcsimUnavailable, build_vcsim, vmware_pack_environ


@pytest.fixture(scope="session")
def registry() -> Registry:
    reg: Registry = registry_from_package("opspack_vmware", metadata.version("opspack-vmware"))
    return reg


@pytest.fixture(scope="session")
def vcsim_bin() -> Path:
    try:
        return build_vcsim()
    except VcsimUnavailable as exc:
        need(False, f"vcsim cannot be built: {exc}")
        raise


def settings_env(sim: Vcsim, **extra: str) -> dict[str, str]:
    """The environment that points the pack at ``sim``."""
    env = vmware_pack_environ(sim)  # the same helper the demo uses
    env.update({f"OPSPACK_VMWARE_{k.upper()}": v for k, v in extra.items()})
    return env


class Bot:
    """One long-running runtime (as a bot process has), so sessions are kept between commands."""

    def __init__(self, registry: Registry, environ: dict[str, str]) -> None:
        self.runtime = Runtime(registry, config=Config.load(environ=environ))

    def __call__(self, text: str, *, confirmed: bool = False, profile: str | None = None) -> Reply:
        reply: Reply = self.runtime.chat(
            text, Caller(user="test", frontend="test", confirmed=confirmed, profile=profile)
        )
        return reply

    def close(self) -> None:
        self.runtime.close()


@pytest.fixture
def make_bot(registry: Registry) -> Iterator[Callable[..., Bot]]:
    bots: list[Bot] = []

    def make(environ: dict[str, str]) -> Bot:
        bot = Bot(registry, environ)
        bots.append(bot)
        return bot

    yield make
    for bot in bots:
        bot.close()


@pytest.fixture(scope="module")
def lab(vcsim_bin: Path) -> Iterator[Vcsim]:
    """A read-only inventory: 2 clusters x 2 hosts x 2 VMs, one standalone host with 2 VMs,
    2 datastores, guest IPs from 198.18.0.10, plain http."""
    with Vcsim(
        binary=vcsim_bin,
        clusters=2,
        hosts=2,
        vms=2,
        standalone_hosts=1,
        datastores=2,
        tls=False,
        guest_ip_base="198.18.0.10",
    ) as sim:
        yield sim


@pytest.fixture(scope="module")
def lab_bot(registry: Registry, lab: Vcsim) -> Iterator[Bot]:
    bot = Bot(registry, settings_env(lab))
    yield bot
    bot.close()


@pytest.fixture
def scratch(vcsim_bin: Path) -> Iterator[Vcsim]:
    """A small inventory of its own for a test that changes things: 1 cluster x 2 hosts x 2 VMs."""
    with Vcsim(binary=vcsim_bin, clusters=1, hosts=2, vms=2, tls=False) as sim:
        yield sim


def pyvmomi_login(sim: Vcsim) -> Any:
    """A separate pyvmomi session (the test's own eyes on vCenter, not the pack's)."""
    from pyVim.connect import SmartConnect

    return SmartConnect(**sim.connect_kwargs())
