"""MariaDB (10.5 and later) and MySQL (8.0 and later): processlist, InnoDB lock waits,
performance_schema statement digests.

Seeing every session and InnoDB's transactions needs the ``PROCESS`` privilege;
``sql kill`` on other users' sessions needs ``CONNECTION ADMIN`` (MySQL) or
``SUPER``/``CONNECTION ADMIN`` (MariaDB); replication lag needs ``REPLICATION CLIENT``
(``SLAVE MONITOR`` on MariaDB 10.5+). The session's statement limit is
``max_statement_time`` (MariaDB) or ``max_execution_time`` (MySQL, SELECT only); the
driver's read timeout backs both, so a stuck server cannot hold a command forever.
Lock waits come from information_schema.INNODB_LOCK_WAITS on MariaDB and
performance_schema.data_lock_waits on MySQL 8, which dropped the former.
"""

from __future__ import annotations

from typing import Any

from opspack_sql.dialects import Dialect, Health, Runner, TopBy, TopStatements
from opspack_sql.model import Activity, activity_from_row, as_float, as_int, as_text

_SESSION_COLUMNS = """
    p.ID AS session_id, p.USER AS user_name, p.DB AS db_name, p.HOST AS client,
    p.COMMAND AS command, p.STATE AS state, p.TIME AS state_seconds,
    t.trx_state, TIMESTAMPDIFF(SECOND, t.trx_wait_started, NOW()) AS wait_seconds,
    TIMESTAMPDIFF(SECOND, t.trx_started, NOW()) AS xact_seconds,
    LEFT(COALESCE(p.INFO, t.trx_query), 2000) AS query_text"""
_NOT_SERVER = "p.COMMAND NOT IN ('Daemon', 'Binlog Dump', 'Binlog Dump GTID') AND p.USER <> 'system user'"

WAITS = f"""
SELECT {_SESSION_COLUMNS}
FROM information_schema.PROCESSLIST p
LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID
WHERE p.ID <> CONNECTION_ID() AND {_NOT_SERVER}
  AND (p.COMMAND <> 'Sleep' OR t.trx_id IS NOT NULL)
"""

# Lock waits: which transaction waits for which. MariaDB keeps the InnoDB view;
# MySQL 8 moved it to performance_schema with other column names.
_LOCK_WAITS = {
    "mariadb": ("information_schema.INNODB_LOCK_WAITS", "requesting_trx_id", "blocking_trx_id"),
    "mysql": (
        "performance_schema.data_lock_waits",
        "REQUESTING_ENGINE_TRANSACTION_ID",
        "BLOCKING_ENGINE_TRANSACTION_ID",
    ),
}
BLOCKING = """
SELECT {columns},
  (SELECT GROUP_CONCAT(DISTINCT b.trx_mysql_thread_id)
     FROM {waits} w JOIN information_schema.INNODB_TRX b ON b.trx_id = w.{blocking}
    WHERE w.{requesting} = t.trx_id) AS blocked_by
FROM information_schema.INNODB_TRX t
LEFT JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
WHERE t.trx_id IN (SELECT {requesting} FROM {waits})
   OR t.trx_id IN (SELECT {blocking} FROM {waits})
"""

RUNNING = f"""
SELECT {_SESSION_COLUMNS}
FROM information_schema.PROCESSLIST p
LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID
WHERE p.ID <> CONNECTION_ID() AND {_NOT_SERVER} AND p.COMMAND = 'Query' AND p.TIME >= %s
ORDER BY p.TIME DESC
LIMIT %s
"""

_TOP_ORDER: dict[TopBy, str] = {"time": "SUM_TIMER_WAIT", "calls": "COUNT_STAR", "io": "SUM_ROWS_EXAMINED"}
TOP = """
SELECT DIGEST AS query_id, SCHEMA_NAME AS schema_name, LEFT(DIGEST_TEXT, 2000) AS query_text,
       COUNT_STAR AS calls, SUM_TIMER_WAIT / 1000000000 AS total_ms, AVG_TIMER_WAIT / 1000000000 AS mean_ms,
       SUM_ROWS_SENT AS row_count, SUM_ROWS_EXAMINED AS rows_examined
FROM performance_schema.events_statements_summary_by_digest
WHERE DIGEST_TEXT IS NOT NULL
ORDER BY {order} DESC
LIMIT %s
"""
PERFORMANCE_SCHEMA_ON = "SELECT @@performance_schema AS enabled"
TOP_HOWTO = (
    "performance_schema is off on this server, so there are no statement digests. Set "
    "performance_schema=ON in the [mysqld] section of the server's configuration and restart it "
    "(MariaDB has it off by default; MySQL on)."
)

SIZE_DATABASES = """
SELECT TABLE_SCHEMA AS db_name, COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) AS total_bytes
FROM information_schema.TABLES
WHERE TABLE_SCHEMA NOT IN ('information_schema', 'performance_schema')
GROUP BY TABLE_SCHEMA
ORDER BY 2 DESC
"""
SIZE_TABLES = """
SELECT TABLE_SCHEMA AS schema_name, TABLE_NAME AS table_name,
       DATA_LENGTH + INDEX_LENGTH AS total_bytes, DATA_LENGTH AS table_bytes, TABLE_ROWS AS rows_estimate
FROM information_schema.TABLES
WHERE TABLE_TYPE = 'BASE TABLE'
  AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')
ORDER BY 3 DESC
LIMIT %s
"""

CONNECTIONS = f"""
SELECT p.USER AS user_name, p.COMMAND AS state, COUNT(*) AS sessions, @@max_connections AS max_connections
FROM information_schema.PROCESSLIST p
WHERE {_NOT_SERVER}
GROUP BY p.USER, p.COMMAND
ORDER BY 3 DESC
"""

HEALTH = f"""
SELECT VERSION() AS version, @@max_connections AS max_connections,
  (SELECT COUNT(*) FROM information_schema.PROCESSLIST p WHERE {_NOT_SERVER}) AS connections,
  (SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT') AS blocked,
  (SELECT MAX(TIMESTAMPDIFF(SECOND, trx_wait_started, NOW())) FROM information_schema.INNODB_TRX
    WHERE trx_state = 'LOCK WAIT') AS longest_blocked_seconds,
  (SELECT trx_mysql_thread_id FROM information_schema.INNODB_TRX
    WHERE trx_mysql_thread_id <> CONNECTION_ID() ORDER BY trx_started, trx_id LIMIT 1) AS longest_xact_session,
  (SELECT MAX(TIMESTAMPDIFF(SECOND, trx_started, NOW())) FROM information_schema.INNODB_TRX
    WHERE trx_mysql_thread_id <> CONNECTION_ID()) AS longest_xact_seconds
"""
REPLICA = "SHOW REPLICA STATUS"

KILL_LOOKUP = f"""
SELECT {_SESSION_COLUMNS}
FROM information_schema.PROCESSLIST p
LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID
WHERE p.ID = %s AND p.ID <> CONNECTION_ID() AND {_NOT_SERVER}
"""
KILL = "KILL {what} %s"


def is_mariadb(version: str) -> bool:
    """Whether a server version string is MariaDB's (rather than MySQL's)."""
    return "mariadb" in version.lower()


class MySQL(Dialect):
    name = "mysql"
    title = "MariaDB/MySQL"
    default_port = 3306
    extra = "mysql"
    driver = "PyMySQL"
    double_quoted_strings = True
    waits_sql = WAITS
    running_sql = RUNNING
    top_sql = TOP
    top_order = _TOP_ORDER
    top_source = "performance_schema statement digests"
    top_io = "rows_examined"
    top_schema = "schema_name"
    size_databases_sql = SIZE_DATABASES
    size_tables_sql = SIZE_TABLES
    connections_sql = CONNECTIONS
    health_sql = HEALTH
    kill_lookup_sql = KILL_LOOKUP

    def connect(self, target: Any, password: str | None, statement_timeout: float, connect_timeout: float) -> Any:
        import pymysql

        options = dict(target.options)
        ssl: dict[str, Any] = {}
        for key in ("ssl_ca", "ssl_cert", "ssl_key"):
            if key in options:
                ssl[key] = options.pop(key)
        flags = {
            k: options.pop(k).lower() in ("1", "true", "yes")
            for k in ("ssl_verify_cert", "ssl_verify_identity", "ssl_disabled")
            if k in options
        }
        conn = pymysql.connect(
            host=target.host or "localhost",
            port=target.port or self.default_port,
            user=target.user or None,
            password=password or "",
            database=target.database or None,
            unix_socket=options.pop("unix_socket", None),
            connect_timeout=connect_timeout,
            read_timeout=statement_timeout + 2,
            write_timeout=statement_timeout + 2,
            autocommit=True,
            charset="utf8mb4",
            program_name="opspack-sql",
            **ssl,
            **flags,
        )
        version = conn.get_server_info()  # from the handshake: no round trip
        limit = (
            f"SET SESSION max_statement_time = {statement_timeout:g}"
            if is_mariadb(version)
            else f"SET SESSION max_execution_time = {max(int(statement_timeout * 1000), 1)}"
        )
        with conn.cursor() as cur:
            cur.execute(limit + ", SESSION innodb_lock_wait_timeout = %s", (max(int(statement_timeout), 1),))
        return conn

    def is_alive(self, conn: Any) -> bool:
        return bool(conn.open)

    def is_disconnect(self, exc: BaseException) -> bool:
        import pymysql

        if not isinstance(exc, pymysql.err.OperationalError | pymysql.err.InterfaceError):
            return False
        code = exc.args[0] if exc.args else None
        text = str(exc.args[1] if len(exc.args) > 1 else exc)
        return code in (2006, 0) or (code == 2013 and "timed out" not in text)

    def activity(self, row: dict[str, Any]) -> Activity:
        command = as_text(row.get("command")) or ""
        state = as_text(row.get("state")) or ""
        seconds = as_float(row.get("state_seconds"))
        if row.get("trx_state") == "LOCK WAIT":
            wait_type, wait_event = "Lock", "InnoDB row lock"
            seconds = as_float(row.get("wait_seconds"))
        elif state.lower().startswith("waiting for") and "lock" in state.lower():
            wait_type, wait_event = "Lock", state
        elif command == "Sleep":
            wait_type, wait_event = "Client", "Sleep (idle in transaction)"
        elif state.lower().startswith("waiting"):
            wait_type, wait_event = "Wait", state
        else:
            wait_type, wait_event = "CPU", state or "running"
        return activity_from_row(
            row,
            state=command if not state else f"{command}: {state}",
            wait_type=wait_type,
            wait_event=wait_event,
            seconds=seconds,
        )

    def blocking(self, run: Runner) -> list[Activity]:
        """Lock waits from the view this server has (see :data:`_LOCK_WAITS`)."""
        flavor = "mariadb" if is_mariadb(run.server_version) else "mysql"
        waits, requesting, blocking = _LOCK_WAITS[flavor]
        sql = BLOCKING.format(columns=_SESSION_COLUMNS, waits=waits, requesting=requesting, blocking=blocking)
        return self.activities(run, sql)

    def top(self, run: Runner, by: TopBy, limit: int) -> TopStatements:
        """No digests at all may mean performance_schema is off: then say how to turn it on."""
        top = super().top(run, by, limit)
        if not top.rows:
            (flag,) = run.query(PERFORMANCE_SCHEMA_ON)
            if not as_int(flag["enabled"]):
                return TopStatements(self.top_source, missing=TOP_HOWTO)
        return top

    def version(self, row: dict[str, Any]) -> str:
        return f"{'MariaDB' if is_mariadb(str(row['version'])) else 'MySQL'} {row['version']}"

    def replication(self, run: Runner, row: dict[str, Any], health: Health) -> None:
        """From SHOW REPLICA STATUS (a second round trip, which needs its own privilege)."""
        import pymysql

        try:
            replicas = run.query(REPLICA)
        except pymysql.err.OperationalError as exc:
            if exc.args and exc.args[0] in (1227, 1044, 1045):
                health.notes.append("replication status needs the REPLICATION CLIENT (SLAVE MONITOR) privilege")
                return
            raise
        health.replica = bool(replicas)
        if replicas:
            lags = [as_float(x.get("Seconds_Behind_Source", x.get("Seconds_Behind_Master"))) for x in replicas]
            known = [lag for lag in lags if lag is not None]
            health.lag_seconds = max(known) if known else None
            if not known:
                health.notes.append("replication is not running (Seconds_Behind_Master is NULL)")

    def kill_statement(self, session: int, *, cancel: bool) -> tuple[str, tuple[Any, ...] | None]:
        return KILL.format(what="QUERY" if cancel else "CONNECTION"), (session,)


DIALECT = MySQL()
