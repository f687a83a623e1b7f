"""The one place where driver exceptions become the core's error kinds.

Drivers are recognised by the module their exception class comes from, so this
module imports none of them. Each answer carries a hint a person on call can act on.
"""

from __future__ import annotations

from opspack.errors import BackendError, CommandTimeout, ConfigError, Denied, OpsError

_EXTRAS = {"psycopg": "postgres", "pymysql": "mysql", "pymssql": "mssql"}

_TIMEOUT_HINT = (
    "The pack stops its own statements after statement_timeout seconds (default 5) so a sick "
    "database cannot hang the bot; raise it for this profile if the server is just slow."
)
_PRIVILEGE_HINT = {
    "psycopg": "Grant the pack's login pg_monitor (and pg_signal_backend for sql kill).",
    "pymysql": "Grant the pack's login PROCESS (and CONNECTION ADMIN for sql kill, REPLICATION CLIENT for lag).",
    "pymssql": "Grant the pack's login VIEW SERVER STATE (and ALTER ANY CONNECTION for sql kill).",
}
_UNREACHABLE_HINT = "Check the url setting (host, port, database), that the server runs, and the firewall."
_LOGIN_HINT = "Check the user in the url and the password setting of this profile."


def _driver(exc: BaseException) -> str | None:
    module = type(exc).__module__.split(".")[0]
    return module if module in _EXTRAS else None


def translate(exc: BaseException) -> OpsError | None:
    """Map a driver exception to an error result; None leaves it to the runtime."""
    if isinstance(exc, ImportError) and (exc.name or "").split(".")[0] in _EXTRAS:
        extra = _EXTRAS[(exc.name or "").split(".")[0]]
        return ConfigError(
            f"the database driver {exc.name} is not installed",
            f"pip install 'opspack-sql[{extra}]'",
        )
    driver = _driver(exc)
    if driver == "psycopg":
        return _postgres(exc)
    if driver == "pymysql":
        return _mysql(exc)
    if driver == "pymssql":
        return _mssql(exc)
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _postgres(exc: BaseException) -> OpsError:
    state = getattr(exc, "sqlstate", None) or ""
    message = _first_line(exc)
    name = type(exc).__name__
    if state == "57014":  # query_canceled: our statement_timeout
        return CommandTimeout(f"PostgreSQL stopped the query: {message}", _TIMEOUT_HINT)
    if state == "55P03":  # lock_not_available: our lock_timeout
        return CommandTimeout(f"PostgreSQL could not get a lock in time: {message}", _TIMEOUT_HINT)
    if state == "42501":
        return Denied(f"PostgreSQL refused: {message}", _PRIVILEGE_HINT["psycopg"])
    if state in ("28P01", "28000"):
        return Denied(f"PostgreSQL refused the login: {message}", _LOGIN_HINT)
    if state == "3D000":
        return ConfigError(f"PostgreSQL: {message}", "Check the database name at the end of the url.")
    if name in ("OperationalError", "InterfaceError") and not state:
        low = message.lower()
        if "password" in low or "authentication" in low:
            return Denied(f"PostgreSQL refused the login: {message}", _LOGIN_HINT)
        if "does not exist" in low:
            return ConfigError(f"PostgreSQL: {message}", "Check the user and the database name in the url.")
        if "timeout" in low:
            return CommandTimeout(f"PostgreSQL did not answer in time: {message}", _UNREACHABLE_HINT)
        return BackendError(f"cannot reach PostgreSQL: {message}", _UNREACHABLE_HINT)
    return BackendError(f"PostgreSQL error {state or name}: {message}")


def _mysql(exc: BaseException) -> OpsError:
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    text = str(exc.args[1]) if len(exc.args) > 1 else _first_line(exc)
    if code in (1969, 3024) or (code == 2013 and "timed out" in text):
        return CommandTimeout(f"the server stopped the query: {text}", _TIMEOUT_HINT)
    if code in (1205,):
        return CommandTimeout(f"lock wait timeout: {text}", _TIMEOUT_HINT)
    if code == 1045:
        return Denied(f"the server refused the login: {text}", _LOGIN_HINT)
    if code in (1044, 1142, 1227, 1095):
        return Denied(f"the server refused: {text}", _PRIVILEGE_HINT["pymysql"])
    if code == 1049:
        return ConfigError(f"{text}", "Check the database name at the end of the url.")
    if code in (2002, 2003, 2005, 2006, 2013):
        return BackendError(f"cannot reach the server: {text}", _UNREACHABLE_HINT)
    if code == 1094:
        return BackendError(f"no such session: {text}")
    return BackendError(f"MariaDB/MySQL error {code}: {text}")


def _mssql(exc: BaseException) -> OpsError:
    # pymssql puts (number, message bytes) in args[0] for server errors
    first = exc.args[0] if exc.args else None
    number = first[0] if isinstance(first, tuple) and first and isinstance(first[0], int) else None
    raw = first[1] if isinstance(first, tuple) and len(first) > 1 else _first_line(exc)
    lines = (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)).strip().splitlines()
    if lines and lines[0].startswith("DB-Lib error message"):
        lines = lines[1:] or lines  # the headline says nothing; the next lines say what happened
    text = " ".join(line.strip() for line in lines) or type(exc).__name__
    low = text.lower()
    if number in (20002, 20003, 20009) or "unable to connect" in low:
        return BackendError(f"cannot reach SQL Server: {text}", _UNREACHABLE_HINT)
    if number == 18456:
        return Denied(f"SQL Server refused the login: {text}", _LOGIN_HINT)
    if number in (297, 300, 6102, 229):
        return Denied(f"SQL Server refused: {text}", _PRIVILEGE_HINT["pymssql"])
    if number == 1222 or "timeout" in low or "timed out" in low:
        return CommandTimeout(f"SQL Server did not answer in time: {text}", _TIMEOUT_HINT)
    if number == 6106:
        return BackendError(f"no such session: {text}")
    if number is None and ("connect" in low or "unable" in low):
        return BackendError(f"cannot reach SQL Server: {text}", _UNREACHABLE_HINT)
    return BackendError(f"SQL Server error {number or type(exc).__name__}: {text}")
