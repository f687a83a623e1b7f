"""opspack-sql: what a database waits on, who blocks whom, and its health, from chat.

PostgreSQL (psycopg), MariaDB/MySQL (PyMySQL) and SQL Server (pymssql), each driver an
optional extra. The commands run fixed diagnostic statements only; nothing typed in chat
is ever sent to a database as SQL.
"""

from opspack.pack import Pack, Setting

from opspack_sql.errors import translate

pack = Pack(
    name="sql",
    summary="Database waits, blocking, long statements, sizes and health for PostgreSQL, MariaDB/MySQL and SQL Server",
    modules=["opspack_sql.activity", "opspack_sql.stats", "opspack_sql.server"],
    settings=[
        Setting(
            "url",
            "the database: postgresql://user@host:5432/db, mysql://user@host/db (also mariadb://) or "
            "mssql://user@host/db; per database in [sql.profiles.<name>]",
            default="",
        ),
        Setting("password", "the login's password (an env:, file: or vault: reference)", secret=True, default=""),
        Setting(
            "statement_timeout",
            "seconds after which the server stops the pack's own statements",
            type="float",
            default=5.0,
        ),
        Setting("connect_timeout", "seconds to wait for a connection", type="float", default=5.0),
        Setting(
            "blocking_warning_seconds", "a blocking chain this old (seconds) is a warning", type="float", default=10.0
        ),
        Setting(
            "blocking_critical_seconds", "a blocking chain this old (seconds) is critical", type="float", default=60.0
        ),
        Setting("running_min_seconds", "`sql running` lists statements running this long", type="float", default=5.0),
        Setting(
            "connections_warning_percent",
            "connection use (% of the maximum) that is a warning",
            type="float",
            default=80.0,
        ),
        Setting(
            "connections_critical_percent",
            "connection use (% of the maximum) that is critical",
            type="float",
            default=95.0,
        ),
        Setting("lag_warning_seconds", "replication lag that is a warning", type="float", default=30.0),
        Setting("lag_critical_seconds", "replication lag that is critical", type="float", default=300.0),
        Setting(
            "transaction_warning_seconds", "an open transaction this old is a warning", type="float", default=300.0
        ),
        Setting(
            "transaction_critical_seconds", "an open transaction this old is critical", type="float", default=3600.0
        ),
        Setting("statement_chars", "statements are cut to this many characters", type="int", default=200),
    ],
    translate=translate,
)
