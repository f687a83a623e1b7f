"""The core's own commands: history of invocations and the friction log."""

from opspack.pack import Pack

pack = Pack(
    name="core",
    summary="opspack's own commands: who ran what (history) and what slowed people down (friction)",
    modules=["opspack_core.history", "opspack_core.friction"],
)
