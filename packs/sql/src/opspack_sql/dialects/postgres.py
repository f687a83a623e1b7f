"""PostgreSQL (10 and later): pg_stat_activity, pg_blocking_pids, pg_stat_statements.

Reading other users' statements needs ``pg_read_all_stats`` (or ``pg_monitor``);
``sql kill`` on their sessions needs ``pg_signal_backend``. The session's
``statement_timeout`` and ``lock_timeout`` are set in the startup packet, so
they cost no round trip.
"""

from __future__ import annotations

import math
from typing import Any

from opspack_sql.dialects import Dialect, Runner, TopBy, TopStatements
from opspack_sql.model import Activity, activity_from_row, as_float, as_text

_NOW = "clock_timestamp()"
_COLUMNS = f"""
    a.pid AS session_id, a.usename AS user_name, a.datname AS db_name,
    a.application_name AS app_name, host(a.client_addr) AS client, a.state,
    a.wait_event_type AS wait_type, a.wait_event,
    EXTRACT(EPOCH FROM {_NOW} - coalesce(a.state_change, a.query_start))::float8 AS state_seconds,
    EXTRACT(EPOCH FROM {_NOW} - a.xact_start)::float8 AS xact_seconds,
    left(a.query, 2000) AS query_text"""

#: Client sessions doing something (or holding a transaction open), without ours.
WAITS = f"""
SELECT {_COLUMNS}
FROM pg_stat_activity a
WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()
  AND a.state IS DISTINCT FROM 'idle'
"""

#: Every session that blocks or is blocked, with whom it waits for: one round trip.
BLOCKING = f"""
WITH s AS (
  SELECT {_COLUMNS}, pg_blocking_pids(a.pid) AS blocked_by
  FROM pg_stat_activity a
  WHERE a.pid <> pg_backend_pid()
)
SELECT * FROM s
WHERE cardinality(s.blocked_by) > 0
   OR s.session_id IN (SELECT unnest(blocked_by) FROM s)
"""

RUNNING = f"""
SELECT {_COLUMNS}
FROM pg_stat_activity a
WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid() AND a.state = 'active'
  AND a.query_start <= {_NOW} - make_interval(secs => %s)
ORDER BY a.query_start
LIMIT %s
"""

_TOP_ORDER: dict[TopBy, str] = {"time": "total_exec_time", "calls": "calls", "io": "io_blocks"}
TOP = """
SELECT queryid::text AS query_id, left(query, 2000) AS query_text, calls,
       total_exec_time AS total_ms, mean_exec_time AS mean_ms, rows AS row_count,
       shared_blks_read + local_blks_read + temp_blks_read + temp_blks_written AS io_blocks
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY {order} DESC NULLS LAST
LIMIT %s
"""
TOP_HOWTO = (
    "pg_stat_statements is not enabled in this database. Add it to shared_preload_libraries in "
    "postgresql.conf (shared_preload_libraries = 'pg_stat_statements'), restart PostgreSQL, then run "
    "CREATE EXTENSION pg_stat_statements; in this database."
)

SIZE_DATABASES = """
SELECT datname AS db_name, pg_database_size(datname) AS total_bytes
FROM pg_database
WHERE datallowconn AND has_database_privilege(datname, 'CONNECT')
ORDER BY 2 DESC
"""
SIZE_TABLES = """
SELECT n.nspname AS schema_name, c.relname AS table_name,
       pg_total_relation_size(c.oid) AS total_bytes, pg_relation_size(c.oid) AS table_bytes,
       greatest(c.reltuples, 0)::bigint AS rows_estimate
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'm', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%%'
ORDER BY 3 DESC
LIMIT %s
"""

CONNECTIONS = """
SELECT coalesce(usename, '') AS user_name, coalesce(state, '') AS state, count(*) AS sessions,
       current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int AS reserved
FROM pg_stat_activity
WHERE backend_type = 'client backend'
GROUP BY 1, 2
ORDER BY 3 DESC
"""

#: Everything `sql health` needs, in one round trip.
HEALTH = f"""
SELECT current_setting('server_version') AS version,
       pg_is_in_recovery() AS replica,
       CASE WHEN NOT pg_is_in_recovery() THEN NULL
            WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE EXTRACT(EPOCH FROM {_NOW} - pg_last_xact_replay_timestamp())::float8 END AS lag_seconds,
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') AS connections,
       current_setting('max_connections')::int AS max_connections,
       b.blocked, b.longest_blocked_seconds,
       x.pid AS longest_xact_session, x.secs AS longest_xact_seconds
FROM (SELECT count(*) AS blocked,
             max(EXTRACT(EPOCH FROM {_NOW} - state_change))::float8 AS longest_blocked_seconds
      FROM pg_stat_activity WHERE cardinality(pg_blocking_pids(pid)) > 0) b
LEFT JOIN LATERAL (
      SELECT pid, EXTRACT(EPOCH FROM {_NOW} - xact_start)::float8 AS secs
      FROM pg_stat_activity
      WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid() AND backend_type = 'client backend'
      ORDER BY xact_start LIMIT 1) x ON true
"""

#: Ends the session and says who it was, in one round trip; never our own session.
KILL = f"""
SELECT {_COLUMNS}, {{fn}}(a.pid) AS done
FROM pg_stat_activity a
WHERE a.pid = %s AND a.pid <> pg_backend_pid()
"""


class Postgres(Dialect):
    name = "postgres"
    title = "PostgreSQL"
    default_port = 5432
    extra = "postgres"
    driver = "psycopg"
    waits_sql = WAITS
    blocking_sql = BLOCKING
    running_sql = RUNNING
    top_sql = TOP
    top_order = _TOP_ORDER
    top_source = "pg_stat_statements"
    top_io = "io_blocks"
    size_databases_sql = SIZE_DATABASES
    size_tables_sql = SIZE_TABLES
    connections_sql = CONNECTIONS
    health_sql = HEALTH

    def connect(self, target: Any, password: str | None, statement_timeout: float, connect_timeout: float) -> Any:
        import psycopg

        ms = max(int(statement_timeout * 1000), 1)
        params: dict[str, Any] = {
            "host": target.host or None,
            "port": target.port or self.default_port,
            "user": target.user or None,
            "dbname": target.database or None,
            "password": password or None,
            "connect_timeout": max(math.ceil(connect_timeout), 1),
            "application_name": "opspack-sql",
            "options": (
                f"-c statement_timeout={ms} -c lock_timeout={ms} -c idle_in_transaction_session_timeout={ms * 2}"
            ),
            "keepalives": 1,
            "keepalives_idle": 30,
            **target.options,
        }
        return psycopg.connect(autocommit=True, **{k: v for k, v in params.items() if v is not None})

    def is_alive(self, conn: Any) -> bool:
        return not (conn.closed or conn.broken)

    def is_disconnect(self, exc: BaseException) -> bool:
        import psycopg

        return isinstance(exc, psycopg.OperationalError) and getattr(exc, "sqlstate", None) in (None, "57P01", "08006")

    def activity(self, row: dict[str, Any]) -> Activity:
        state = as_text(row.get("state"))
        wait_type = as_text(row.get("wait_type"))
        wait_event = as_text(row.get("wait_event"))
        if state and state.startswith("idle in transaction"):
            wait_type, wait_event = "Client", f"ClientRead ({state})"
        return activity_from_row(
            row, state=state, wait_type=wait_type, wait_event=wait_event, seconds=as_float(row.get("state_seconds"))
        )

    def top(self, run: Runner, by: TopBy, limit: int) -> TopStatements:
        import psycopg

        try:
            return super().top(run, by, limit)
        except (psycopg.errors.UndefinedTable, psycopg.errors.ObjectNotInPrerequisiteState):
            return TopStatements(self.top_source, missing=TOP_HOWTO)

    def version(self, row: dict[str, Any]) -> str:
        return f"PostgreSQL {row['version']}"

    def kill(self, run: Runner, session: int, *, cancel: bool) -> Activity | None:
        """Ends the session and says who it was in one round trip (see :data:`KILL`)."""
        fn = "pg_cancel_backend" if cancel else "pg_terminate_backend"
        rows = run.query(KILL.format(fn=fn), (int(session),))
        return self.activity(rows[0]) if rows else None


DIALECT = Postgres()
