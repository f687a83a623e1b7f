"""SQL Server (2016 and later): sys.dm_exec_requests / sessions / connections,
dm_exec_query_stats, dm_db_partition_stats, dm_hadr_database_replica_states.

Needs ``VIEW SERVER STATE`` (``VIEW SERVER PERFORMANCE STATE`` on 2022); ``sql kill``
needs ``ALTER ANY CONNECTION``. The statement limit is pymssql's query timeout
(client side) plus ``SET LOCK_TIMEOUT`` on the session. There is no SQL Server on
the project's test machines: these statements are checked for T-SQL syntax and
their mapping against result sets recorded in the layout Microsoft documents.
"""

from __future__ import annotations

from typing import Any

from opspack_sql.dialects import Dialect, Health, Runner, TopBy
from opspack_sql.model import Activity, activity_from_row, as_float, as_int, as_text

_REQUEST_COLUMNS = """
    s.session_id AS session_id, s.login_name AS user_name, DB_NAME(COALESCE(r.database_id, s.database_id)) AS db_name,
    s.program_name AS app_name, s.host_name AS client, COALESCE(r.status, s.status) AS state,
    r.wait_type AS wait_type, r.wait_resource AS wait_resource, CAST(r.wait_time AS float) / 1000 AS wait_seconds,
    CAST(DATEDIFF(MILLISECOND, COALESCE(r.start_time, s.last_request_start_time), SYSDATETIME()) AS float) / 1000
        AS state_seconds,
    CAST(DATEDIFF(MILLISECOND, x.began, SYSDATETIME()) AS float) / 1000 AS xact_seconds,
    NULLIF(r.blocking_session_id, 0) AS blocked_by,
    LEFT(COALESCE(t.text, lt.text), 2000) AS query_text"""

_REQUEST_JOINS = """
LEFT JOIN sys.dm_exec_requests r ON r.session_id = s.session_id
LEFT JOIN sys.dm_exec_connections c ON c.session_id = s.session_id AND c.parent_connection_id IS NULL
LEFT JOIN (SELECT st.session_id, MIN(at.transaction_begin_time) AS began
           FROM sys.dm_tran_session_transactions st
           JOIN sys.dm_tran_active_transactions at ON at.transaction_id = st.transaction_id
           GROUP BY st.session_id) x ON x.session_id = s.session_id
OUTER APPLY sys.dm_exec_sql_text(r.sql_handle) t
OUTER APPLY sys.dm_exec_sql_text(c.most_recent_sql_handle) lt"""

#: Requests that run or wait, and sleeping sessions holding a transaction open.
WAITS = f"""
SELECT {_REQUEST_COLUMNS}
FROM sys.dm_exec_sessions s
{_REQUEST_JOINS}
WHERE s.is_user_process = 1 AND s.session_id <> @@SPID
  AND (r.session_id IS NOT NULL OR s.open_transaction_count > 0)
"""

BLOCKING = f"""
WITH involved AS (
    SELECT session_id FROM sys.dm_exec_requests WHERE blocking_session_id > 0
    UNION
    SELECT blocking_session_id FROM sys.dm_exec_requests WHERE blocking_session_id > 0
)
SELECT {_REQUEST_COLUMNS}
FROM involved i
JOIN sys.dm_exec_sessions s ON s.session_id = i.session_id
{_REQUEST_JOINS}
WHERE s.session_id <> @@SPID
"""

RUNNING = f"""
SELECT TOP (%d) {_REQUEST_COLUMNS}
FROM sys.dm_exec_sessions s
{_REQUEST_JOINS}
WHERE s.is_user_process = 1 AND s.session_id <> @@SPID AND r.session_id IS NOT NULL
  AND r.total_elapsed_time >= %d
ORDER BY r.total_elapsed_time DESC
"""

_TOP_ORDER: dict[TopBy, str] = {"time": "qs.total_elapsed_time", "calls": "qs.execution_count", "io": "io_pages"}
TOP = """
SELECT TOP (%d)
    CONVERT(varchar(34), qs.query_hash, 1) AS query_id,
    LEFT(SUBSTRING(t.text, qs.statement_start_offset / 2 + 1,
        (CASE qs.statement_end_offset WHEN -1 THEN DATALENGTH(t.text) ELSE qs.statement_end_offset END
         - qs.statement_start_offset) / 2 + 1), 2000) AS query_text,
    DB_NAME(t.dbid) AS db_name,
    qs.execution_count AS calls,
    CAST(qs.total_elapsed_time AS float) / 1000 AS total_ms,
    CAST(qs.total_elapsed_time AS float) / 1000 / NULLIF(qs.execution_count, 0) AS mean_ms,
    qs.total_rows AS row_count,
    qs.total_logical_reads + qs.total_physical_reads + qs.total_logical_writes AS io_pages
FROM sys.dm_exec_query_stats qs
CROSS APPLY sys.dm_exec_sql_text(qs.sql_handle) t
ORDER BY {order} DESC
"""

SIZE_DATABASES = """
SELECT DB_NAME(database_id) AS db_name, SUM(CAST(size AS bigint)) * 8192 AS total_bytes
FROM sys.master_files
GROUP BY database_id
ORDER BY total_bytes DESC
"""
SIZE_TABLES = """
SELECT TOP (%d) SCHEMA_NAME(o.schema_id) AS schema_name, o.name AS table_name,
    SUM(ps.reserved_page_count) * 8192 AS total_bytes,
    SUM(CASE WHEN ps.index_id IN (0, 1)
             THEN ps.in_row_data_page_count + ps.lob_used_page_count + ps.row_overflow_used_page_count
             ELSE 0 END) * 8192 AS table_bytes,
    SUM(CASE WHEN ps.index_id IN (0, 1) THEN ps.row_count ELSE 0 END) AS rows_estimate
FROM sys.dm_db_partition_stats ps
JOIN sys.objects o ON o.object_id = ps.object_id
WHERE o.type = 'U'
GROUP BY o.schema_id, o.name
ORDER BY total_bytes DESC
"""

CONNECTIONS = """
SELECT login_name AS user_name, status AS state, COUNT(*) AS sessions, @@MAX_CONNECTIONS AS max_connections
FROM sys.dm_exec_sessions
WHERE is_user_process = 1
GROUP BY login_name, status
ORDER BY sessions DESC
"""

HEALTH = """
SELECT CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)) AS version,
    CAST(SERVERPROPERTY('Edition') AS nvarchar(128)) AS edition,
    @@MAX_CONNECTIONS AS max_connections,
    (SELECT COUNT(*) FROM sys.dm_exec_sessions WHERE is_user_process = 1) AS connections,
    (SELECT COUNT(*) FROM sys.dm_exec_requests WHERE blocking_session_id > 0) AS blocked,
    (SELECT CAST(MAX(wait_time) AS float) / 1000 FROM sys.dm_exec_requests WHERE blocking_session_id > 0)
        AS longest_blocked_seconds,
    x.session_id AS longest_xact_session,
    CAST(DATEDIFF(MILLISECOND, x.began, SYSDATETIME()) AS float) / 1000 AS longest_xact_seconds,
    (SELECT COUNT(*) FROM sys.dm_hadr_database_replica_states WHERE is_local = 1 AND is_primary_replica = 0)
        AS secondary_databases,
    (SELECT MAX(secondary_lag_seconds) FROM sys.dm_hadr_database_replica_states
        WHERE is_local = 1 AND is_primary_replica = 0) AS lag_seconds
FROM (SELECT 1 AS one) d
OUTER APPLY (SELECT TOP (1) st.session_id, at.transaction_begin_time AS began
             FROM sys.dm_tran_session_transactions st
             JOIN sys.dm_tran_active_transactions at ON at.transaction_id = st.transaction_id
             WHERE st.session_id <> @@SPID AND st.is_user_transaction = 1
             ORDER BY at.transaction_begin_time) x
"""

KILL_LOOKUP = f"""
SELECT {_REQUEST_COLUMNS}
FROM sys.dm_exec_sessions s
{_REQUEST_JOINS}
WHERE s.session_id = %d AND s.session_id <> @@SPID AND s.is_user_process = 1
"""
#: KILL takes no parameters: the session id is a validated int formatted in.
KILL = "KILL {session:d}"

#: Wait type prefixes and the class each belongs to (after Microsoft's
#: sys.dm_os_wait_stats documentation and Query Store's wait categories).
WAIT_CLASSES = (
    ("LCK_M_", "Lock"),
    ("PAGEIOLATCH_", "Buffer IO"),
    ("PAGELATCH_", "Buffer Latch"),
    ("LATCH_", "Latch"),
    ("WRITELOG", "Tran Log IO"),
    ("LOGBUFFER", "Tran Log IO"),
    ("IO_COMPLETION", "Other Disk IO"),
    ("ASYNC_IO_COMPLETION", "Other Disk IO"),
    ("ASYNC_NETWORK_IO", "Network IO"),
    ("CXPACKET", "Parallelism"),
    ("CXCONSUMER", "Parallelism"),
    ("RESOURCE_SEMAPHORE", "Memory"),
    ("SOS_SCHEDULER_YIELD", "CPU"),
    ("THREADPOOL", "Worker Thread"),
    ("HADR_SYNC_COMMIT", "Replication"),
    ("WAITFOR", "User Wait"),
)


def wait_class(wait_type: str | None) -> str:
    """The class of a wait type (see :data:`WAIT_CLASSES`); no wait means CPU."""
    if not wait_type:
        return "CPU"
    for prefix, name in WAIT_CLASSES:
        if wait_type.startswith(prefix):
            return name
    return "Other"


class SQLServer(Dialect):
    name = "mssql"
    title = "SQL Server"
    default_port = 1433
    extra = "mssql"
    driver = "pymssql"
    waits_sql = WAITS
    blocking_sql = BLOCKING
    running_sql = RUNNING
    top_sql = TOP
    top_order = _TOP_ORDER
    top_source = "sys.dm_exec_query_stats (plan cache)"
    top_io = "io_pages"
    top_schema = "db_name"
    size_databases_sql = SIZE_DATABASES
    size_tables_sql = SIZE_TABLES
    connections_sql = CONNECTIONS
    health_sql = HEALTH
    kill_lookup_sql = KILL_LOOKUP

    def connect(self, target: Any, password: str | None, statement_timeout: float, connect_timeout: float) -> Any:
        import pymssql

        conn = pymssql.connect(
            server=target.host or "localhost",
            port=str(target.port or self.default_port),
            user=target.user or None,
            password=password or None,
            database=target.database or "",
            login_timeout=max(int(connect_timeout), 1),
            timeout=max(int(statement_timeout), 1),
            appname="opspack-sql",
            autocommit=True,
            **target.options,
        )
        with conn.cursor() as cur:
            cur.execute(f"SET LOCK_TIMEOUT {max(int(statement_timeout * 1000), 1)}")
        return conn

    def is_alive(self, conn: Any) -> bool:
        return True  # pymssql has no cheap check; a dead one fails and is retried once

    def is_disconnect(self, exc: BaseException) -> bool:
        import pymssql

        text = str(exc).lower()
        return isinstance(exc, pymssql.OperationalError) and ("connection" in text and "timed out" not in text)

    def activity(self, row: dict[str, Any]) -> Activity:
        wait_type = as_text(row.get("wait_type"))
        state = as_text(row.get("state"))
        seconds = as_float(row.get("wait_seconds")) if wait_type else as_float(row.get("state_seconds"))
        if wait_type:
            kind, event = wait_class(wait_type), wait_type
        elif state == "sleeping":
            kind, event = "Client", "sleeping (open transaction)"
        else:
            kind, event = "CPU", state or "running"
        return activity_from_row(row, state=state, wait_type=kind, wait_event=event, seconds=seconds)

    def running(self, run: Runner, min_seconds: float, limit: int) -> list[Activity]:
        """TOP (n) comes first in T-SQL, and the elapsed time is in milliseconds."""
        return self.activities(run, self.running_sql, (int(limit), int(min_seconds * 1000)))

    def version(self, row: dict[str, Any]) -> str:
        return f"SQL Server {row['version']} {row.get('edition') or ''}".strip()

    def replication(self, run: Runner, row: dict[str, Any], health: Health) -> None:
        """A replica has local secondary databases (Always On availability groups)."""
        health.replica = (as_int(row.get("secondary_databases")) or 0) > 0
        health.lag_seconds = as_float(row.get("lag_seconds"))

    def kill(self, run: Runner, session: int, *, cancel: bool) -> Activity | None:
        if cancel:
            from opspack.errors import UsageError

            raise UsageError(
                "SQL Server cannot cancel only the statement of another session",
                "Run it without --cancel to end the session (its transaction rolls back).",
            )
        return super().kill(run, session, cancel=False)

    def kill_statement(self, session: int, *, cancel: bool) -> tuple[str, tuple[Any, ...] | None]:
        return KILL.format(session=session), None


DIALECT = SQLServer()
