"""The pack's one error translator on vCenter's faults as pyvmomi decodes them (a failed
task's ``info.error`` is the fault itself, its message in ``msg``)."""

from __future__ import annotations

from opspack_vmware.errors import task_error


def test_a_failed_task_keeps_vcenters_message() -> None:
    from pyVmomi import vim

    fault = vim.fault.InvalidState(msg="The operation is not allowed in the current state.")
    error = task_error("migration of VM web01", "task-7", fault)
    assert error.kind == "backend"
    assert error.message == (
        "migration of VM web01 failed: vCenter task task-7 says: The operation is not allowed in the current state."
    )
    assert "Recent Tasks" in str(error.hint)
    refused = task_error("migration of VM web01", None, fault)  # raised by the call that starts it
    assert refused.message.startswith("migration of VM web01 failed: vCenter says: The operation")


def test_a_missing_privilege_is_denied_with_the_privilege() -> None:
    from pyVmomi import vim

    fault = vim.fault.NoPermission(
        msg="Permission to perform this operation was denied.", privilegeId="Resource.HotMigrate"
    )
    error = task_error("migration of VM web01", "task-8", fault)
    assert error.kind == "denied" and error.message == (
        "migration of VM web01 failed: vCenter task task-8 says: Permission to perform this operation was denied."
        " (needs privilege Resource.HotMigrate)"
    )
    assert "grant the privilege" in str(error.hint)
