"""Schema migrations, applied in order; each runs once and is recorded in schema_migrations."""

from __future__ import annotations

from sqlalchemy import Connection, text

MIGRATION_LOCK = 0x706F6F6C  # "pool": the advisory lock id that serialises migrations on PostgreSQL

# Plain SQL that both SQLite and PostgreSQL accept. Never edit a released step: add a new one.
MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "accounts, settings, mappings, cooldowns",
        [
            """CREATE TABLE accounts (
                id TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                label TEXT NOT NULL DEFAULT '',
                email TEXT NOT NULL DEFAULT '',
                secret_enc TEXT NOT NULL,
                enabled INTEGER NOT NULL DEFAULT 1,
                state TEXT NOT NULL DEFAULT 'active',
                state_reason TEXT NOT NULL DEFAULT '',
                base_url TEXT NOT NULL DEFAULT '',
                project_id TEXT NOT NULL DEFAULT '',
                tier TEXT NOT NULL DEFAULT '',
                priority INTEGER NOT NULL DEFAULT 0,
                access_token_enc TEXT NOT NULL DEFAULT '',
                access_expires_at DOUBLE PRECISION NOT NULL DEFAULT 0,
                quota_json TEXT NOT NULL DEFAULT '{}',
                meta_json TEXT NOT NULL DEFAULT '{}',
                created_at DOUBLE PRECISION NOT NULL,
                last_used_at DOUBLE PRECISION NOT NULL DEFAULT 0
            )""",
            "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            "CREATE TABLE mappings (pattern TEXT PRIMARY KEY, model TEXT NOT NULL)",
            """CREATE TABLE cooldowns (
                key TEXT PRIMARY KEY,
                account_id TEXT NOT NULL,
                model TEXT NOT NULL DEFAULT '',
                until DOUBLE PRECISION NOT NULL,
                reason TEXT NOT NULL DEFAULT '',
                kind TEXT NOT NULL DEFAULT ''
            )""",
        ],
    ),
    (
        2,
        "request log and hourly usage",
        [
            """CREATE TABLE request_logs (
                id TEXT PRIMARY KEY,
                ts DOUBLE PRECISION NOT NULL,
                method TEXT NOT NULL DEFAULT '',
                route TEXT NOT NULL DEFAULT '',
                protocol TEXT NOT NULL DEFAULT '',
                client_model TEXT NOT NULL DEFAULT '',
                mapped_model TEXT NOT NULL DEFAULT '',
                account_id TEXT NOT NULL DEFAULT '',
                account TEXT NOT NULL DEFAULT '',
                status INTEGER NOT NULL DEFAULT 0,
                stream INTEGER NOT NULL DEFAULT 0,
                duration_ms DOUBLE PRECISION NOT NULL DEFAULT 0,
                overhead_ms DOUBLE PRECISION NOT NULL DEFAULT 0,
                input_tokens INTEGER NOT NULL DEFAULT 0,
                output_tokens INTEGER NOT NULL DEFAULT 0,
                cached_tokens INTEGER NOT NULL DEFAULT 0,
                thought_tokens INTEGER NOT NULL DEFAULT 0,
                attempts INTEGER NOT NULL DEFAULT 0,
                error TEXT NOT NULL DEFAULT '',
                client_ip TEXT NOT NULL DEFAULT '',
                user_agent TEXT NOT NULL DEFAULT '',
                request_body TEXT,
                response_body TEXT
            )""",
            "CREATE INDEX idx_request_logs_ts ON request_logs (ts)",
            "CREATE INDEX idx_request_logs_status ON request_logs (status)",
            """CREATE TABLE usage_hourly (
                hour BIGINT NOT NULL,
                account TEXT NOT NULL,
                model TEXT NOT NULL,
                requests INTEGER NOT NULL DEFAULT 0,
                errors INTEGER NOT NULL DEFAULT 0,
                input_tokens BIGINT NOT NULL DEFAULT 0,
                output_tokens BIGINT NOT NULL DEFAULT 0,
                cached_tokens BIGINT NOT NULL DEFAULT 0,
                thought_tokens BIGINT NOT NULL DEFAULT 0,
                PRIMARY KEY (hour, account, model)
            )""",
        ],
    ),
    (
        3,
        "stored responses",
        [
            """CREATE TABLE responses (
                id TEXT PRIMARY KEY,
                created_at DOUBLE PRECISION NOT NULL,
                model TEXT NOT NULL DEFAULT '',
                status TEXT NOT NULL DEFAULT '',
                previous_response_id TEXT NOT NULL DEFAULT '',
                history_json TEXT NOT NULL,
                response_json TEXT NOT NULL
            )""",
            "CREATE INDEX idx_responses_created_at ON responses (created_at)",
        ],
    ),
    (
        4,
        "failed attempts on the request log",
        # A request served on its second account still shows why the first failed (e.g. invalid_grant).
        ["ALTER TABLE request_logs ADD COLUMN failed_attempts TEXT NOT NULL DEFAULT ''"],
    ),
    (
        5,
        "per-account egress proxy",
        # Encrypted like the other secrets: a proxy URL may carry its own user and password.
        ["ALTER TABLE accounts ADD COLUMN proxy_enc TEXT NOT NULL DEFAULT ''"],
    ),
    (
        6,
        "stored responses chained to the one they continue",
        # A continuation stores only its own new input items (chained = 1) instead of the whole history;
        # rows stored before keep theirs whole (chained = 0). A deleted response later ones continue is
        # hidden (deleted = 1) and kept for them.
        [
            "ALTER TABLE responses ADD COLUMN chained INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE responses ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0",
            "CREATE INDEX idx_responses_previous ON responses (previous_response_id)",
        ],
    ),
]


def migrate(conn: Connection) -> list[int]:
    """Apply every migration not yet recorded; returns the versions applied."""
    if conn.dialect.name == "postgresql":
        # Several gateways may start at once on one database: the first migrates, the others wait for it.
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
    elif conn.dialect.name == "sqlite":
        # The sqlite3 driver opens no transaction before DDL; take the write lock first so a second
        # process starting at the same moment waits instead of creating the same tables again.
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    conn.execute(text("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)"))
    done = {row[0] for row in conn.execute(text("SELECT version FROM schema_migrations"))}
    applied: list[int] = []
    for version, name, statements in MIGRATIONS:
        if version in done:
            continue
        for statement in statements:
            conn.execute(text(statement))
        conn.execute(text("INSERT INTO schema_migrations (version, name) VALUES (:v, :n)"), {"v": version, "n": name})
        applied.append(version)
    return applied
