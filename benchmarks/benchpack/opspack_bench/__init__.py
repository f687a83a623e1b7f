"""A pack of trivial commands for measuring the core's own overhead."""

from opspack.pack import Pack

pack = Pack(name="bench", summary="Trivial commands for benchmarks", modules=["opspack_bench.trivial"])
