"""SqlStore: the Store on SQLAlchemy Core; SQLite in the data directory by default, PostgreSQL by URL."""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Row

from poolgate.store.crypto import SecretBox
from poolgate.store.migrations import migrate
from poolgate.store.models import Account, Cooldown

DB_FILE = "poolgate.db"

_ACCOUNT_COLUMNS = (
    "id, kind, label, email, secret_enc, enabled, state, state_reason, base_url, project_id, tier, "
    "priority, access_token_enc, access_expires_at, quota_json, meta_json, created_at, last_used_at, proxy_enc"
)
_UPDATABLE = {
    "label",
    "email",
    "enabled",
    "state",
    "state_reason",
    "base_url",
    "project_id",
    "tier",
    "priority",
    "access_expires_at",
    "last_used_at",
}


# Bound parameters per INSERT: under the 999 every SQLite build accepts.
MAX_STATEMENT_PARAMS = 900


# How long a connection keeps trying to switch a new database file to WAL while another one holds it.
WAL_SWITCH_SECONDS = 10.0


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # busy_timeout rides out short write locks; WAL lets the CLI write while the gateway reads.
    cur.execute("PRAGMA busy_timeout=5000")
    _use_wal(cur)
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _use_wal(cur: Any) -> None:
    """Switch the file to WAL (it stays so); retried, as SQLite refuses the switch without waiting.

    Two processes opening a new file at once (the gateway and the CLI, two gateways) race for it: the
    loser got "database is locked" at once and failed to start (13 times in 200 starts of three).
    """
    deadline = time.monotonic() + WAL_SWITCH_SECONDS
    while True:
        try:
            if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def make_engine(database_url: str, data_dir: Path) -> Engine:
    if not database_url:
        data_dir.mkdir(parents=True, exist_ok=True)
        database_url = f"sqlite:///{data_dir / DB_FILE}"
    for scheme in ("postgresql://", "postgres://"):
        if database_url.startswith(scheme):
            # SQLAlchemy would pick psycopg2 for a bare postgresql:// URL; poolgate ships psycopg 3.
            database_url = "postgresql+psycopg://" + database_url[len(scheme) :]
    if database_url.startswith("sqlite"):
        engine = create_engine(database_url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(database_url, pool_pre_ping=True)


def new_id() -> str:
    return secrets.token_hex(4)


ROW_OVERHEAD = 300


class SqlStore:
    """Synchronous store; the gateway calls it from a worker thread, the CLI directly."""

    def __init__(self, engine: Engine, box: SecretBox) -> None:
        self.engine = engine
        self.box = box
        with engine.begin() as conn:
            migrate(conn)

    @classmethod
    def open(cls, data_dir: Path, database_url: str = "") -> SqlStore:
        return cls(make_engine(database_url, data_dir), SecretBox.for_data_dir(data_dir))

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        """One trivial query: raises if the database cannot be reached (the readiness probe)."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    # -- revision: a counter every change bumps, so running gateways notice CLI edits cheaply.
    def revision(self) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(text("SELECT value FROM settings WHERE key = 'revision'")).scalar()
        return int(value) if value is not None else 0

    def _bump(self, conn: Any) -> None:
        updated = conn.execute(
            text("UPDATE settings SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'revision'")
        )
        if updated.rowcount == 0:
            conn.execute(text("INSERT INTO settings (key, value) VALUES ('revision', '1')"))

    # -- settings
    def get_setting(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            value = conn.execute(text("SELECT value FROM settings WHERE key = :k"), {"k": key}).scalar()
        return None if value is None else str(value)

    def set_setting(self, key: str, value: str) -> None:
        with self.engine.begin() as conn:
            updated = conn.execute(text("UPDATE settings SET value = :v WHERE key = :k"), {"k": key, "v": value})
            if updated.rowcount == 0:
                conn.execute(text("INSERT INTO settings (key, value) VALUES (:k, :v)"), {"k": key, "v": value})
            self._bump(conn)

    # -- accounts
    def _row_to_account(self, row: Row[Any]) -> Account:
        m = row._mapping
        return Account(
            id=m["id"],
            kind=m["kind"],
            label=m["label"],
            secret=self.box.decrypt(m["secret_enc"]),
            email=m["email"],
            enabled=bool(m["enabled"]),
            state=m["state"],
            state_reason=m["state_reason"],
            base_url=m["base_url"],
            project_id=m["project_id"],
            tier=m["tier"],
            priority=int(m["priority"]),
            access_token=self.box.decrypt(m["access_token_enc"]),
            access_expires_at=float(m["access_expires_at"]),
            quota=orjson.loads(m["quota_json"] or "{}"),
            meta=orjson.loads(m["meta_json"] or "{}"),
            created_at=float(m["created_at"]),
            last_used_at=float(m["last_used_at"]),
            proxy_url=self.box.decrypt(m["proxy_enc"]),
        )

    def list_accounts(self) -> list[Account]:
        with self.engine.connect() as conn:
            rows = conn.execute(text(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts ORDER BY created_at, id")).fetchall()
        return [self._row_to_account(r) for r in rows]

    def get_account(self, account_id: str) -> Account | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                text(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE id = :id"), {"id": account_id}
            ).fetchone()
        return self._row_to_account(row) if row is not None else None

    def resolve_account_id(self, ref: str) -> str | None:
        """Accept an id, a unique id prefix, a label or an email."""
        accounts = self.list_accounts()
        for acc in accounts:
            if ref in (acc.id, acc.label, acc.email) and ref:
                return acc.id
        matches = [a.id for a in accounts if a.id.startswith(ref)]
        return matches[0] if len(matches) == 1 else None

    def add_account(self, account: Account) -> Account:
        if not account.id:
            account.id = new_id()
        if not account.created_at:
            account.created_at = time.time()
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    f"INSERT INTO accounts ({_ACCOUNT_COLUMNS}) VALUES (:id, :kind, :label, :email, :secret_enc, "
                    ":enabled, :state, :state_reason, :base_url, :project_id, :tier, :priority, "
                    ":access_token_enc, :access_expires_at, :quota_json, :meta_json, :created_at, :last_used_at, :proxy_enc)"
                ),
                {
                    "id": account.id,
                    "kind": account.kind,
                    "label": account.label,
                    "email": account.email,
                    "secret_enc": self.box.encrypt(account.secret),
                    "enabled": int(account.enabled),
                    "state": account.state,
                    "state_reason": account.state_reason,
                    "base_url": account.base_url,
                    "project_id": account.project_id,
                    "tier": account.tier,
                    "priority": account.priority,
                    "access_token_enc": self.box.encrypt(account.access_token),
                    "access_expires_at": account.access_expires_at,
                    "quota_json": orjson.dumps(account.quota).decode(),
                    "meta_json": orjson.dumps(account.meta).decode(),
                    "created_at": account.created_at,
                    "last_used_at": account.last_used_at,
                    "proxy_enc": self.box.encrypt(account.proxy_url),
                },
            )
            self._bump(conn)
        return account

    def update_account(self, account_id: str, *, bump: bool = True, **fields: Any) -> bool:
        sets: list[str] = []
        params: dict[str, Any] = {"id": account_id}
        for key, value in fields.items():
            if key in _UPDATABLE:
                sets.append(f"{key} = :{key}")
                params[key] = int(value) if isinstance(value, bool) else value
            elif key == "secret":
                sets.append("secret_enc = :secret_enc")
                params["secret_enc"] = self.box.encrypt(value)
            elif key == "access_token":
                sets.append("access_token_enc = :access_token_enc")
                params["access_token_enc"] = self.box.encrypt(value)
            elif key == "proxy_url":
                sets.append("proxy_enc = :proxy_enc")
                params["proxy_enc"] = self.box.encrypt(value)
            elif key in ("quota", "meta"):
                sets.append(f"{key}_json = :{key}_json")
                params[f"{key}_json"] = orjson.dumps(value).decode()
            else:
                raise ValueError(f"unknown account field {key}")
        if not sets:
            return False
        with self.engine.begin() as conn:
            result = conn.execute(text(f"UPDATE accounts SET {', '.join(sets)} WHERE id = :id"), params)
            if bump:
                self._bump(conn)
        return bool(result.rowcount)

    def remove_account(self, account_id: str) -> bool:
        with self.engine.begin() as conn:
            result = conn.execute(text("DELETE FROM accounts WHERE id = :id"), {"id": account_id})
            conn.execute(text("DELETE FROM cooldowns WHERE account_id = :id"), {"id": account_id})
            self._bump(conn)
        return bool(result.rowcount)

    # -- model mapping
    def list_mappings(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT pattern, model FROM mappings ORDER BY pattern")).fetchall()
        return {r[0]: r[1] for r in rows}

    def set_mapping(self, pattern: str, model: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(text("DELETE FROM mappings WHERE pattern = :p"), {"p": pattern})
            conn.execute(text("INSERT INTO mappings (pattern, model) VALUES (:p, :m)"), {"p": pattern, "m": model})
            self._bump(conn)

    def remove_mapping(self, pattern: str) -> bool:
        with self.engine.begin() as conn:
            result = conn.execute(text("DELETE FROM mappings WHERE pattern = :p"), {"p": pattern})
            self._bump(conn)
        return bool(result.rowcount)

    # -- cooldowns (persisted so they survive a restart)
    def list_cooldowns(self) -> list[Cooldown]:
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT account_id, model, until, reason, kind FROM cooldowns")).fetchall()
        return [Cooldown(r[0], r[1], float(r[2]), r[3], r[4]) for r in rows]

    def save_cooldowns(self, upserts: Iterable[Cooldown], deletes: Iterable[str]) -> None:
        upserts = list(upserts)
        with self.engine.begin() as conn:
            # Expired rows go as new ones come, by the setter's clock: a restart restores none of them, and
            # a client spraying unknown model names would otherwise leave a row per account and name.
            now = max((c.since for c in upserts), default=0.0)
            if now > 0:
                conn.execute(text("DELETE FROM cooldowns WHERE until <= :now"), {"now": now})
            for key in deletes:
                conn.execute(text("DELETE FROM cooldowns WHERE key = :k"), {"k": key})
            for c in upserts:
                conn.execute(text("DELETE FROM cooldowns WHERE key = :k"), {"k": c.key})
                conn.execute(
                    text(
                        "INSERT INTO cooldowns (key, account_id, model, until, reason, kind) "
                        "VALUES (:k, :a, :m, :u, :r, :kind)"
                    ),
                    {
                        "k": c.key,
                        "a": c.account_id,
                        "m": c.model,
                        "u": c.until,
                        "r": c.reason,
                        "kind": c.kind,
                    },
                )

    def clear_cooldowns(self, account_id: str | None = None) -> int:
        with self.engine.begin() as conn:
            if account_id is None:
                result = conn.execute(text("DELETE FROM cooldowns"))
            else:
                result = conn.execute(text("DELETE FROM cooldowns WHERE account_id = :a"), {"a": account_id})
            self._bump(conn)
        return int(result.rowcount or 0)

    # -- request log and usage
    def insert_logs(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            columns = tuple(rows[0].keys())
            self.insert_log_values(columns, [[row[c] for c in columns] for row in rows])

    def insert_log_values(self, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Rows as value lists in `columns` order, many per INSERT statement, straight to the driver.

        SQLAlchemy's per-row parameter processing cost ~70 µs per logged request, and sqlite3's
        executemany releases and retakes the GIL for every row.
        """
        if not rows:
            return
        names = ", ".join(columns)
        style = self.engine.dialect.paramstyle
        mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(style)
        if mark is None:
            statement = text(f"INSERT INTO request_logs ({names}) VALUES ({', '.join(':' + c for c in columns)})")
            with self.engine.begin() as conn:
                conn.execute(statement, [dict(zip(columns, row, strict=True)) for row in rows])
            return
        row_marks = "(" + ", ".join([mark] * len(columns)) + ")"
        per_statement = max(1, MAX_STATEMENT_PARAMS // len(columns))
        with self.engine.begin() as conn:
            for start in range(0, len(rows), per_statement):
                chunk = rows[start : start + per_statement]
                sql = f"INSERT INTO request_logs ({names}) VALUES " + ", ".join([row_marks] * len(chunk))
                conn.exec_driver_sql(sql, tuple([value for row in chunk for value in row]))

    def add_usage(self, rows: Sequence[dict[str, Any]]) -> None:
        with self.engine.begin() as conn:
            for r in rows:
                updated = conn.execute(
                    text(
                        "UPDATE usage_hourly SET requests = requests + :requests, errors = errors + :errors, "
                        "input_tokens = input_tokens + :input_tokens, output_tokens = output_tokens + :output_tokens, "
                        "cached_tokens = cached_tokens + :cached_tokens, "
                        "thought_tokens = thought_tokens + :thought_tokens "
                        "WHERE hour = :hour AND account = :account AND model = :model"
                    ),
                    r,
                )
                if updated.rowcount == 0:
                    conn.execute(
                        text(
                            "INSERT INTO usage_hourly (hour, account, model, requests, errors, input_tokens, "
                            "output_tokens, cached_tokens, thought_tokens) VALUES (:hour, :account, :model, "
                            ":requests, :errors, :input_tokens, :output_tokens, :cached_tokens, :thought_tokens)"
                        ),
                        r,
                    )

    @staticmethod
    def _log_filters(
        errors_only: bool, search: str, account: str, model: str, since_ts: float | None, status: str = ""
    ) -> tuple[str, dict[str, Any]]:
        where: list[str] = []
        params: dict[str, Any] = {}
        if errors_only:
            where.append("(status >= 400 OR error != '')")
        if search:
            # LOWER on both sides: SQLite's LIKE ignores ASCII case, PostgreSQL's does not.
            where.append(
                "(LOWER(route) LIKE :q OR LOWER(client_model) LIKE :q OR LOWER(mapped_model) LIKE :q "
                "OR LOWER(account) LIKE :q OR LOWER(error) LIKE :q)"
            )
            params["q"] = f"%{search.lower()}%"
        if account:
            where.append("(account = :account OR account_id = :account)")
            params["account"] = account
        if model:
            where.append("(client_model = :model OR mapped_model = :model)")
            params["model"] = model
        if since_ts is not None:
            where.append("ts > :since")
            params["since"] = since_ts
        if status.isdigit():
            where.append("status = :status")
            params["status"] = int(status)
        elif status in ("2xx", "3xx", "4xx", "5xx"):
            where.append("status >= :lo AND status < :hi")
            params["lo"], params["hi"] = int(status[0]) * 100, int(status[0]) * 100 + 100
        return (f"WHERE {' AND '.join(where)}" if where else ""), params

    def count_logs(
        self,
        *,
        errors_only: bool = False,
        search: str = "",
        account: str = "",
        model: str = "",
        since_ts: float | None = None,
        status: str = "",
    ) -> int:
        clause, params = self._log_filters(errors_only, search, account, model, since_ts, status)
        with self.engine.connect() as conn:
            value = conn.execute(text(f"SELECT COUNT(*) FROM request_logs {clause}"), params).scalar()
        return int(value or 0)

    def last_errors(self, within_seconds: float = 7 * 86400) -> dict[str, dict[str, Any]]:
        """The most recent failed request per account id (within a window, so the scan stays short)."""
        since = time.time() - within_seconds
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT account_id, ts, status, error FROM request_logs "
                    "WHERE ts > :since AND account_id != '' AND (status >= 400 OR error != '') ORDER BY ts"
                ),
                {"since": since},
            ).fetchall()
        return {r[0]: {"ts": float(r[1]), "status": int(r[2]), "error": str(r[3])[:500]} for r in rows}

    def query_logs(
        self,
        *,
        limit: int = 50,
        offset: int = 0,
        errors_only: bool = False,
        search: str = "",
        account: str = "",
        model: str = "",
        since_ts: float | None = None,
        with_bodies: bool = False,
        status: str = "",
        ascending: bool = False,
    ) -> list[dict[str, Any]]:
        clause, params = self._log_filters(errors_only, search, account, model, since_ts, status)
        params.update(limit=limit, offset=offset)
        cols = (
            "*"
            if with_bodies
            else (
                "id, ts, method, route, protocol, client_model, mapped_model, account_id, account, status, stream, "
                "duration_ms, overhead_ms, input_tokens, output_tokens, cached_tokens, thought_tokens, attempts, "
                "error, failed_attempts, client_ip, user_agent"
            )
        )
        order = "ASC" if ascending else "DESC"
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(f"SELECT {cols} FROM request_logs {clause} ORDER BY ts {order}, id LIMIT :limit OFFSET :offset"),
                params,
            ).fetchall()
        return [dict(r._mapping) for r in rows]

    def get_log(self, log_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(text("SELECT * FROM request_logs WHERE id = :id"), {"id": log_id}).fetchone()
        return dict(row._mapping) if row is not None else None

    def delete_logs_before(self, ts: float) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(text("DELETE FROM request_logs WHERE ts < :ts"), {"ts": ts})
            conn.execute(text("DELETE FROM usage_hourly WHERE hour < :h"), {"h": int(ts // 3600)})
        return int(result.rowcount or 0)

    def log_bytes(self) -> int:
        """Disk the request log holds. Both queries are cheap enough to run every minute.

        SQLite: the database's pages in use (free pages excluded, so deleting rows lowers it at once);
        the log is nearly all of it. PostgreSQL: the stored size of the log's rows and bodies (a TOASTed
        body's size is read from its pointer, not fetched); dead rows are not counted.
        """
        with self.engine.connect() as conn:
            if self.engine.dialect.name == "sqlite":
                page = int(conn.exec_driver_sql("PRAGMA page_size").scalar() or 0)
                pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar() or 0)
                free = int(conn.exec_driver_sql("PRAGMA freelist_count").scalar() or 0)
                return (pages - free) * page
            # Each row's other columns and tuple header take about ROW_OVERHEAD bytes beside the bodies.
            size = conn.execute(
                text(
                    "SELECT COALESCE(SUM(COALESCE(pg_column_size(request_body), 0)"
                    " + COALESCE(pg_column_size(response_body), 0) + :overhead), 0) FROM request_logs"
                ),
                {"overhead": ROW_OVERHEAD},
            ).scalar()
            return int(size or 0)

    def delete_oldest_logs(self, count: int) -> int:
        """Delete the `count` oldest request-log rows (the hourly usage totals stay)."""
        if count <= 0:
            return 0
        with self.engine.begin() as conn:
            result = conn.execute(
                text("DELETE FROM request_logs WHERE id IN (SELECT id FROM request_logs ORDER BY ts, id LIMIT :n)"),
                {"n": count},
            )
        return int(result.rowcount or 0)

    def usage_since(self, hour: int) -> list[dict[str, Any]]:
        sums = _sums("requests", "errors", "input_tokens", "output_tokens", "cached_tokens", "thought_tokens")
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    f"SELECT account, model, {sums} FROM usage_hourly WHERE hour >= :h "
                    "GROUP BY account, model ORDER BY account, model"
                ),
                {"h": hour},
            ).fetchall()
        return [dict(r._mapping) for r in rows]

    def usage_by_hour(self, hour: int) -> list[dict[str, Any]]:
        sums = _sums("requests", "errors", "input_tokens", "output_tokens")
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(f"SELECT hour, {sums} FROM usage_hourly WHERE hour >= :h GROUP BY hour ORDER BY hour"),
                {"h": hour},
            ).fetchall()
        return [dict(r._mapping) for r in rows]


def _sums(*columns: str) -> str:
    # PostgreSQL sums BIGINT columns into NUMERIC, which arrives as Decimal; the cast keeps them ints everywhere.
    return ", ".join(f"CAST(SUM({c}) AS BIGINT) AS {c}" for c in columns)
