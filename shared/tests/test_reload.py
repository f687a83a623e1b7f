"""Packs changed under a running pool of worker processes: a call in flight finishes on the
code it started with, the next one runs the new code in a new worker; what a change says.

The end to end (a pack pip-installed next to a running `opspack serve`, then SIGHUP,
POST /admin/reload and the periodic check) is tests/frontends/test_publish.py."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from opspack.devtools.registry_build import registry_from_package
from opspack.executor import Embedded
from opspack.jobs import WorkItem
from opspack.registry import Registry, RegistryChange

PACK = '''
"""A pack whose answer says which version of its code ran."""
import os
import time
from opspack import Pack, Text, command

pack = Pack(name="reloadtest", summary="says its version", modules=["opspack_reloadtest"])


@command(group="code", verb="version", settings=[])
def version(pause: float = 0.0) -> Text:
    """Say which code ran.

    Args:
        pause: seconds to wait first
    """
    time.sleep(pause)
    return Text(f"{version} {os.getpid()}")
'''


def _write(folder: Path, version: str) -> Registry:
    package = folder / "opspack_reloadtest"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text(PACK.replace("{version}", version))
    for name in [m for m in sys.modules if m.startswith("opspack_reloadtest")]:
        del sys.modules[name]
    return registry_from_package("opspack_reloadtest", version)  # type: ignore[no-any-return]


@pytest.fixture
def pack_folder(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.startswith("opspack_reloadtest")]:
            del sys.modules[name]


def _item(registry: Registry, job: int, pause: float = 0.0) -> WorkItem:
    entry = registry.get("reloadtest.code.version")
    assert entry is not None
    return WorkItem(job=job, entry=entry, args={"pause": pause}, user="alice")


def _text(reply: object) -> str:
    results = getattr(reply, "results", [])
    assert getattr(reply, "ok", False), reply
    return str(results[0].text)


def test_a_call_in_flight_keeps_its_code_and_the_next_runs_the_new(pack_folder: Path) -> None:
    old = _write(pack_folder, "1.0.0")
    # spawn: each worker starts from this process's sys.path, which holds the pack's folder
    pool = Embedded(workers=1, registry_data=old.to_data(), start_method="spawn", queue_timeout_s=60)
    try:
        first, old_pid = _text(pool.run(_item(old, 1), lambda *a: None, lambda: None)).split()
        assert first == "1.0.0"
        answers: list[str] = []
        started = threading.Event()
        slow = threading.Thread(
            target=lambda: answers.append(_text(pool.run(_item(old, 2, 1.5), lambda *a: None, started.set)))
        )
        slow.start()
        assert started.wait(30)
        time.sleep(0.2)  # the worker has imported and is running the old code
        new = _write(pack_folder, "2.0.0")
        pool.reload(new.to_data())
        slow.join(60)
        assert answers == [f"1.0.0 {old_pid}"]  # finished on the code it started with
        latest, new_pid = _text(pool.run(_item(new, 3), lambda *a: None, lambda: None)).split()
        assert latest == "2.0.0" and new_pid != old_pid  # a new worker, which imported the new code
        assert pool.stats()["idle"] == 1
    finally:
        pool.close()


def test_a_change_says_what_moved() -> None:
    def registry(version: str, ids: list[str], summary: str = "s") -> Registry:
        commands = [
            {"id": i, "pack": {"name": i.split(".")[0], "version": version}, "summary": summary, "install": version}
            for i in ids
        ]
        packs = [{"name": n, "version": version} for n in sorted({i.split(".")[0] for i in ids})]
        return Registry.from_data({"packs": packs, "commands": commands})

    old = registry("1.0", ["vm.a.list", "vm.a.show"])
    new = registry("1.1", ["vm.a.list", "vm.a.power", "db.q.run"])
    change = RegistryChange.between(old, new, "packs install by alice")
    assert change.added == ["db.q.run", "vm.a.power"] and change.removed == ["vm.a.show"] and not change.changed
    assert change.packs == {"db": (None, "1.1"), "vm": ("1.0", "1.1")}
    assert change.summary() == "+db 1.1, vm 1.0 -> 1.1: 2 commands added, 1 command removed"
    assert not RegistryChange.between(old, old, "nothing")
    edited = RegistryChange.between(old, registry("1.0", ["vm.a.list", "vm.a.show"], "other"), "x")
    assert edited.changed == ["vm.a.list", "vm.a.show"] and not edited.packs


def test_snapshots_and_whats_new_without_a_checkout(tmp_path: Path) -> None:
    from opspack.audit import AuditLog
    from opspack.devtools.whats_new import snapshot_report

    def registry(packs: dict[str, str], ids: list[str]) -> Registry:
        commands = [
            {"id": i, "pack": {"name": i.split(".")[0], "version": packs[i.split(".")[0]]}, "summary": f"do {i}"}
            for i in ids
        ]
        return Registry.from_data(
            {"packs": [{"name": n, "version": v} for n, v in packs.items()], "commands": commands}
        )

    audit = AuditLog(f"sqlite:///{tmp_path / 'audit.db'}")
    try:
        first = registry({"core": "0.2.2", "vm": "1.0"}, ["core.h.list", "vm.a.list"])
        assert audit.snapshot(first, "runner start") is not None
        assert audit.snapshot(first, "runner start") is None  # unchanged: nothing kept
        second = registry({"core": "0.2.2", "vm": "1.0", "db": "0.1"}, ["core.h.list", "vm.a.list", "db.q.run"])
        audit.snapshot(second, "core.packs.reload by al")
        kept = audit.snapshots()
        assert [s["reason"] for s in kept] == ["core.packs.reload by al", "runner start"]
        for since in ("last-reload", "7d", "db@0.0.1"):
            table = snapshot_report(kept, since)[0].to_dict()
            assert [r[:2] for r in table["rows"]] == [["added", "db.q.run"]], since
        third = registry({"core": "0.2.2", "vm": "1.1"}, ["core.h.list", "vm.a.list"])
        audit.snapshot(third, "SIGHUP")
        table = snapshot_report(audit.snapshots(), "last-reload")[0].to_dict()
        assert [r[:2] for r in table["rows"]] == [["removed", "db.q.run"]]
        assert (
            snapshot_report(audit.snapshots(), "7d", hidden={"db.q.run"})[0].to_dict()["text"].startswith("No command")
        )
    finally:
        audit.close()


def test_packs_install_takes_only_opspack_packs_and_asks_first() -> None:
    from opspack_testkit import run_command

    core = registry_from_package("opspack_core")
    for text in ("packs install requests>=2", "packs install testkit", "packs install core", "packs install ../x"):
        reply = run_command(text, registry=core)
        assert not reply.ok and reply.error is not None and reply.error.kind == "usage", (text, reply.error)
    missing = run_command("packs upgrade vmware", registry=core)
    assert missing.error is not None and missing.error.kind == "not_found", missing.error
    asked = run_command("packs install grafana==0.1.2", registry=core)
    assert asked.error is not None and asked.error.confirm is not None  # confirmed first: nothing ran
    assert asked.error.confirm.text == "packs install grafana==0.1.2"
    entry = core.get("core.packs.install")
    assert entry is not None and entry["permission"] == "core.admin.packs" and entry["effects"]["destructive"]


def test_packs_reload_reads_the_installed_packs_again_or_says_it_cannot() -> None:
    from opspack.context import Caller
    from opspack.runtime import Runtime
    from opspack.settings import Config
    from opspack_testkit import run_command

    # a runner that serves a registry file cannot change its commands: it says so
    fixed = run_command("packs reload", registry=registry_from_package("opspack_core"))
    assert fixed.ok and "restart it to change its commands" in fixed.results[-1].text  # type: ignore[union-attr]
    # a runner that reads the installed packs reads them again: nothing was installed meanwhile
    runtime = Runtime(None, config=Config(data={}, environ={}), audit=None)
    try:
        reply = runtime.chat("packs reload", Caller(user="al"))
        assert reply.ok, reply.error
        assert [getattr(r, "text", None) for r in reply.results][-1] == "No pack changed."
    finally:
        runtime.close()
