"""``vm migrate`` against vcsim: the VM moves (read back with pyvmomi), the task's progress
arrives while it runs, and what cannot or need not move is answered without a task.

vcsim (govmomi 0.24) runs a task inside the call that starts it: RelocateVM_Task returns a
task that has already succeeded, with no progress in between. A method delay on that call
(``method_delay_ms``) is how a long migration looks here: the command's first line is out
(and in the job's record) while vCenter still holds the call.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import Bot, pyvmomi_login, settings_env
from opspack.context import Caller
from opspack.jobs import Job
from opspack_testkit import check_rendering
from opspack_testkit.servers.vcsim import Vcsim

VM = "DC0_C0_RP0_VM0"
DELAY_MS = 1500


def answer(reply: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Status and the KV of a successful migrate reply."""
    assert reply.ok, reply.error
    check_rendering(reply)
    status, kv = reply.to_dict()["results"]
    assert status["kind"] == "status" and status["level"] == "ok" and kv["kind"] == "kv"
    return status, kv["items"]


def recent_tasks(si: Any) -> int:
    return len(si.content.taskManager.recentTask)


def test_migrate_moves_the_vm_within_and_across_clusters(vcsim_bin: Path, make_bot: Callable[..., Bot]) -> None:
    with Vcsim(binary=vcsim_bin, clusters=2, hosts=2, vms=1, datastores=2, tls=False) as sim:
        si = pyvmomi_login(sim)
        find = si.content.searchIndex.FindByInventoryPath
        vm = find(f"DC0/vm/{VM}")
        pool = vm.resourcePool
        bot = make_bot(settings_env(sim))

        status, kv = answer(bot(f"vm migrate {VM} --host DC0_C0_H1"))
        assert status["message"].startswith(f"VM {VM} migrated from host DC0_C0_H0 to host DC0_C0_H1 in ")
        assert kv["host"] == "DC0_C0_H1" and kv["from_host"] == "DC0_C0_H0" and kv["cluster"] == "DC0_C0"
        assert kv["task"].startswith("task-") and kv["seconds"] >= 0 and kv["datastores"] == ["LocalDS_0"]
        assert vm.runtime.host.name == "DC0_C0_H1"
        assert vm.resourcePool == pool  # within the cluster the VM keeps its pool

        status, kv = answer(bot(f"vm migrate DC0/vm/{VM} --host DC0/host/DC0_C1/DC0_C1_H0 --datastore LocalDS_1"))
        assert "to host DC0_C1_H0 and datastore LocalDS_1" in status["message"]
        assert kv["cluster"] == "DC0_C1" and kv["datastores"] == ["LocalDS_1"]
        assert vm.runtime.host.name == "DC0_C1_H0"
        assert vm.resourcePool == find("DC0/host/DC0_C1/Resources")  # another cluster: its root pool
        assert [d.name for d in vm.datastore] == ["LocalDS_1"]
        assert bot(f"vm info {VM}").to_dict()["results"][0]["items"]["host"] == "DC0_C1_H0"


def test_already_there_is_answered_without_a_task(vcsim_bin: Path, make_bot: Callable[..., Bot]) -> None:
    with Vcsim(binary=vcsim_bin, clusters=1, hosts=2, vms=1, datastores=2, tls=False) as sim:
        si = pyvmomi_login(sim)
        bot = make_bot(settings_env(sim))
        before = recent_tasks(si)
        for text, where in (
            (f"vm migrate {VM} --host DC0_C0_H0", "host DC0_C0_H0"),
            (f"vm migrate {VM} --host dc0_c0_h0 --datastore LocalDS_0", "host DC0_C0_H0 and datastore LocalDS_0"),
        ):
            status, kv = answer(bot(text))
            assert status["message"] == f"VM {VM} is already on {where}; nothing to do", text
            assert kv["host"] == "DC0_C0_H0" and "task" not in kv
        assert recent_tasks(si) == before  # no RelocateVM_Task

        # the same host, another datastore: a storage migration, one task
        status, kv = answer(bot(f"vm migrate {VM} --host DC0_C0_H0 --datastore LocalDS_1"))
        assert kv["datastores"] == ["LocalDS_1"] and kv["host"] == "DC0_C0_H0"
        assert recent_tasks(si) == before + 1
        assert "already" in answer(bot(f"vm migrate {VM} --host DC0_C0_H0 --datastore LocalDS_1"))[0]["message"]
        assert recent_tasks(si) == before + 1


def test_unknown_names_and_hosts_that_cannot_take_the_vm(
    vcsim_bin: Path, make_bot: Callable[..., Bot], tmp_path: Path
) -> None:
    from pyVim.task import WaitForTask

    with Vcsim(binary=vcsim_bin, clusters=1, hosts=2, vms=1, tls=False) as sim:
        si = pyvmomi_login(sim)
        find = si.content.searchIndex.FindByInventoryPath
        bot = make_bot(settings_env(sim))
        for text, what, close in (
            ("vm migrate DC0_C0_RP0_VMX --host DC0_C0_H1", "VM 'DC0_C0_RP0_VMX' not found", VM),
            (f"vm migrate {VM} --host DC0_C0_H7", "host 'DC0_C0_H7' not found", "DC0_C0_H1"),
            (f"vm migrate {VM} --host DC0_C0_H1 --datastore LocalDS_9", "datastore 'LocalDS_9' not found", "LocalDS_0"),
        ):
            reply = bot(text)
            assert reply.error is not None and reply.error.kind == "not_found", text
            assert reply.error.message == what and close in str(reply.error.hint)
            check_rendering(reply)
        missing = bot(f"vm migrate {VM}")
        assert missing.error is not None and missing.error.kind == "usage" and "--host" in str(missing.error.hint)

        # a datastore only DC0_C0_H0 mounts
        local = tmp_path / "only-h0"
        local.mkdir()
        find("DC0/host/DC0_C0/DC0_C0_H0").configManager.datastoreSystem.CreateLocalDatastore("OnlyH0", str(local))
        before = recent_tasks(si)
        refused = bot(f"vm migrate {VM} --host DC0_C0_H1 --datastore OnlyH0")
        assert refused.error is not None and refused.error.kind == "usage"
        assert refused.error.message == "host DC0_C0_H1 does not mount datastore OnlyH0"
        assert "LocalDS_0" in str(refused.error.hint) and recent_tasks(si) == before
        answer(bot(f"vm migrate {VM} --host DC0_C0_H0 --datastore OnlyH0"))  # its files go there
        refused = bot(f"vm migrate {VM} --host DC0_C0_H1")  # where its files are is not mounted there
        assert refused.error is not None and refused.error.message == "host DC0_C0_H1 does not mount datastore OnlyH0"
        assert f"vm migrate {VM} --host DC0_C0_H1 --datastore" in str(refused.error.hint)
        check_rendering(refused)
        answer(bot(f"vm migrate {VM} --host DC0_C0_H1 --datastore LocalDS_0"))
        assert find(f"DC0/vm/{VM}").runtime.host.name == "DC0_C0_H1"

        WaitForTask(find("DC0/host/DC0_C0/DC0_C0_H0").EnterMaintenanceMode_Task(0))
        before = recent_tasks(si)
        refused = bot(f"vm migrate {VM} --host DC0_C0_H0")
        assert refused.error is not None and refused.error.kind == "usage"
        assert "DC0_C0_H0 is in maintenance mode" in refused.error.message
        assert "host maintenance exit DC0_C0_H0" in str(refused.error.hint)
        assert recent_tasks(si) == before  # refused before any task


def test_progress_arrives_while_the_migration_runs(vcsim_bin: Path, make_bot: Callable[..., Bot]) -> None:
    delays = {"RelocateVM_Task": DELAY_MS}
    with Vcsim(binary=vcsim_bin, clusters=1, hosts=2, vms=1, tls=False, method_delay_ms=delays) as sim:
        bot = make_bot(settings_env(sim))
        runtime = bot.runtime
        lines: list[tuple[float, str, float | None]] = []
        caller = Caller(
            user="test",
            frontend="test",
            on_progress=lambda p: lines.append((time.monotonic(), p.message, p.percent)),
        )
        replies: list[Any] = []
        worker = threading.Thread(
            target=lambda: replies.append(runtime.chat(f"vm migrate {VM} --host DC0_C0_H1", caller))
        )
        worker.start()

        # while vCenter holds RelocateVM_Task: the job runs and already says what it does
        running: Job | None = None
        deadline = time.monotonic() + 30
        while running is None and time.monotonic() < deadline:
            for job in runtime.jobs.find(user="test", states=["running"]):
                live = runtime.jobs.get(job.id)
                if live is not None and live.progress:
                    running = live
            time.sleep(0.05)
        assert running is not None, "no progress while the migration ran"
        assert running.command == "vmware.vm.migrate" and running.state == "running"
        assert running.progress[0].message == f"VM {VM}: migrating from host DC0_C0_H0 to host DC0_C0_H1"
        assert running.progress[0].percent == 0.0
        worker.join(60)

        status, kv = answer(replies[0])
        task = kv["task"]
        messages = [m for _, m, _ in lines]
        assert messages[:2] == [
            f"VM {VM}: migrating from host DC0_C0_H0 to host DC0_C0_H1",
            f"VM {VM}: vCenter task {task} started",  # once the call returns: vcsim's task is done
        ]
        assert messages[2].startswith(f"VM {VM} is on host DC0_C0_H1 after ") and len(messages) == 3
        assert [p for _, _, p in lines] == [0.0, 0.0, 100.0]
        assert lines[1][0] - lines[0][0] >= 0.9 * DELAY_MS / 1000  # the first line came while vCenter worked
        assert kv["seconds"] >= 0.9 * DELAY_MS / 1000 and f"task {task}" in status["message"]

        done = runtime.jobs.get(running.id)
        assert done is not None and done.state == "succeeded"
        assert [line.message for line in done.progress] == messages
        assert [line.percent for line in done.progress] == [0.0, 0.0, 100.0]
