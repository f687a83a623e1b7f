"""The core's own commands: history of invocations, the friction log, what's new, the packs."""

from opspack.pack import Pack, Setting

pack = Pack(
    name="core",
    summary="opspack's own commands: who ran what (history), what slowed people down (friction), what's new",
    modules=["opspack_core.history", "opspack_core.friction", "opspack_core.whats_new", "opspack_core.packs"],
    settings=[
        Setting(
            "repo",
            "checkout of the packs repository whose registry.json history `whats-new` reads (default: the current one)",
            default="",
        ),
        Setting(
            "index",
            "the package index (simple index URL) `packs` and `packs install` use; default PyPI",
            default="",
        ),
    ],
)
