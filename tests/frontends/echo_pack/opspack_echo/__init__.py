"""A pack for the front-end tests: trivial, slow, destructive and image commands, no backend."""

from opspack.pack import Pack

pack = Pack(
    name="echo",
    summary="Echo commands for the front-end tests",
    modules=["opspack_echo.say"],
    settings=[],
)
