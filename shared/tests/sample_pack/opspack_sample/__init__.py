"""A pack used by the core's tests: one command of every argument shape."""

from opspack.errors import BackendError, OpsError
from opspack.pack import Pack, Setting


class FlakyBackendError(Exception):
    """What a client library might raise."""


def translate(exc: BaseException) -> OpsError | None:
    if isinstance(exc, FlakyBackendError):
        return BackendError(f"backend said: {exc}", "Try again later.")
    return None


pack = Pack(
    name="sample",
    summary="Sample commands for the core's tests",
    modules=["opspack_sample.thing"],
    settings=[
        Setting("url", "where the backend is"),
        Setting("password", "backend password", secret=True),
        Setting("verify_tls", "verify certificates", type="bool", default=True),
        Setting("retries", "how often to retry", type="int", default=2),
    ],
    translate=translate,
)
