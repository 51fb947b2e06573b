"""The store contract: the same tests against SQLite and a real PostgreSQL server."""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from poolgate.store.models import API_KEY, OAUTH, Account, Cooldown
from poolgate.store.responses import BrokenChain, ResponseStore
from poolgate.store.sql import SqlStore
from tests.servers import Postgres

T0 = 1_750_000_000.0


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return ""
    server: Postgres = request.getfixturevalue("postgres_server")
    return server.new_database()


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[SqlStore]:
    s = SqlStore.open(tmp_path, database_url)
    yield s
    s.close()


def log_row(i: int, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": f"req-{i:04d}",
        "ts": T0 + i,
        "method": "POST",
        "route": "/v1/chat/completions",
        "protocol": "openai",
        "client_model": "gpt-4o",
        "mapped_model": "gemini-2.5-flash",
        "account_id": "a1",
        "account": "First Key",
        "status": 200,
        "stream": 0,
        "duration_ms": 12.5,
        "overhead_ms": 0.25,
        "input_tokens": 10,
        "output_tokens": 5,
        "cached_tokens": 0,
        "thought_tokens": 1,
        "attempts": 1,
        "error": "",
        "failed_attempts": "",
        "client_ip": "127.0.0.1",
        "user_agent": "pytest",
        "request_body": '{"model":"gpt-4o"}',
        "response_body": None,
    }
    row.update(over)
    return row


def test_accounts_round_trip_with_secrets_and_revision(store: SqlStore) -> None:
    r0 = store.revision()
    acc = store.add_account(Account(id="", kind=API_KEY, label="First Key", secret="AIzaSECRET-one", priority=2))
    oauth = store.add_account(
        Account(id="", kind=OAUTH, label="", email="me@example.com", secret="1//refresh", quota={"m": 0.5})
    )
    assert store.revision() > r0
    got = {a.id: a for a in store.list_accounts()}
    assert got[acc.id].secret == "AIzaSECRET-one" and got[acc.id].priority == 2 and got[acc.id].enabled
    assert got[oauth.id].email == "me@example.com" and got[oauth.id].quota == {"m": 0.5}
    r1 = store.revision()
    assert store.update_account(acc.id, enabled=False, access_token="ya29.token", access_expires_at=T0 + 3600.5)
    again = store.get_account(acc.id)
    assert again is not None and not again.enabled and again.access_token == "ya29.token"
    assert again.access_expires_at == T0 + 3600.5
    assert store.revision() > r1
    r2 = store.revision()
    store.update_account(acc.id, bump=False, last_used_at=T0)
    assert store.revision() == r2
    assert store.resolve_account_id("me@example.com") == oauth.id
    assert store.remove_account(acc.id) and not store.remove_account(acc.id)
    assert [a.id for a in store.list_accounts()] == [oauth.id]


def test_settings_and_mappings_overwrite(store: SqlStore) -> None:
    assert store.get_setting("x") is None
    store.set_setting("x", "1")
    store.set_setting("x", "two")
    assert store.get_setting("x") == "two"
    store.set_mapping("gpt-*", "gemini-2.5-flash")
    store.set_mapping("gpt-*", "gemini-2.5-pro")
    store.set_mapping("claude", "gemini-2.5-pro")
    assert store.list_mappings() == {"claude": "gemini-2.5-pro", "gpt-*": "gemini-2.5-pro"}
    assert store.remove_mapping("claude") and not store.remove_mapping("claude")


def test_cooldowns_upsert_delete_and_clear(store: SqlStore) -> None:
    a = Cooldown("a1", "", T0 + 60, "429", "rate_limit")
    b = Cooldown("a1", "gemini-2.5-pro", T0 + 600, "quota", "quota_exhausted")
    c = Cooldown("a2", "", T0 + 30, "503", "capacity")
    store.save_cooldowns([a, b, c], [])
    store.save_cooldowns([Cooldown("a1", "", T0 + 120, "again", "rate_limit")], [c.key])
    got = {x.key: x for x in store.list_cooldowns()}
    assert set(got) == {"a1", "a1:gemini-2.5-pro"}
    assert got["a1"].until == T0 + 120 and got["a1"].reason == "again"
    assert got["a1:gemini-2.5-pro"].model == "gemini-2.5-pro"
    assert store.clear_cooldowns("a1") == 2
    assert store.list_cooldowns() == []


def test_saving_cooldowns_drops_the_expired_ones(store: SqlStore) -> None:
    # A client spraying unknown model names leaves one cooldown per account and name behind.
    store.save_cooldowns([Cooldown("a1", f"nope-{i}", T0 + 600, "404", "model_not_found", T0) for i in range(50)], [])
    store.save_cooldowns([Cooldown("a1", "", T0 + 90, "429", "rate_limit", T0)], [])
    assert len(store.list_cooldowns()) == 51
    # Ten minutes on, the next cooldown set takes the expired ones with it; restored ones (since 0) don't.
    store.save_cooldowns([Cooldown("a2", "", T0 + 660, "503", "capacity", T0 + 601)], [])
    assert {c.key for c in store.list_cooldowns()} == {"a2"}
    store.save_cooldowns([Cooldown("a3", "", T0 + 30, "old", "rate_limit")], [])
    assert {c.key for c in store.list_cooldowns()} == {"a2", "a3"}


def test_a_large_log_batch_keeps_every_row_and_field(store: SqlStore) -> None:
    # Big enough to be split over several INSERT statements (the writer batches up to 1,000 rows).
    rows = [log_row(i, input_tokens=i, response_body=None if i % 2 else f"answer {i}") for i in range(1000)]
    store.insert_logs(rows)
    assert store.count_logs() == 1000
    for i in (0, 36, 37, 38, 500, 999):
        got = store.get_log(f"req-{i:04d}")
        assert got is not None and got["ts"] == T0 + i
        assert got["response_body"] == (None if i % 2 else f"answer {i}")
    usage = {r["id"]: r["input_tokens"] for r in store.query_logs(limit=1000)}
    assert usage == {f"req-{i:04d}": i for i in range(1000)}


def test_request_log_filters_pages_and_prunes(store: SqlStore) -> None:
    rows = [log_row(i) for i in range(30)]
    rows[7] = log_row(7, status=429, error="RESOURCE_EXHAUSTED on key", account_id="a2", account="Second")
    rows[9] = log_row(9, status=500, error="upstream broke", stream=1)
    store.insert_logs(rows)
    assert store.count_logs() == 30
    assert store.count_logs(errors_only=True) == 2
    assert store.count_logs(status="4xx") == 1 and store.count_logs(status="500") == 1
    # Search ignores case on every database.
    assert [r["id"] for r in store.query_logs(search="resource_exhausted")] == ["req-0007"]
    assert store.count_logs(account="a2") == 1 and store.count_logs(account="Second") == 1
    assert store.count_logs(model="GEMINI-2.5-FLASH") == 0 and store.count_logs(model="gemini-2.5-flash") == 30
    page = store.query_logs(limit=10, offset=10)
    assert [r["id"] for r in page] == [f"req-{i:04d}" for i in range(19, 9, -1)]
    assert "request_body" not in page[0]
    oldest = store.query_logs(limit=2, ascending=True, since_ts=T0 + 4)
    assert [r["id"] for r in oldest] == ["req-0005", "req-0006"]
    full = store.get_log("req-0009")
    assert full is not None and full["request_body"] == '{"model":"gpt-4o"}' and full["stream"] == 1
    assert store.get_log("nope") is None
    errors = store.last_errors(within_seconds=time.time() - T0 + 60)
    assert errors["a2"]["status"] == 429 and errors["a1"]["error"] == "upstream broke"
    assert store.delete_logs_before(T0 + 20) == 20
    assert store.count_logs() == 10


def test_the_log_reports_its_size_and_drops_its_oldest_rows(store: SqlStore) -> None:
    # Random text, so neither database can compress the bodies away.
    rows = [log_row(i, request_body=base64.b64encode(os.urandom(7500)).decode()) for i in range(200)]
    store.insert_logs(rows)
    full = store.log_bytes()
    assert full >= 200 * 10_000
    assert store.delete_oldest_logs(0) == 0
    assert store.delete_oldest_logs(120) == 120
    assert [r["id"] for r in store.query_logs(limit=1, ascending=True)] == ["req-0120"]
    assert store.count_logs() == 80
    # The size follows at once (no VACUUM needed): about the 80 rows left.
    assert store.log_bytes() < full * 0.6


def test_usage_accumulates_as_integers(store: SqlStore) -> None:
    hour = int(T0 // 3600)
    inc = {"hour": hour, "account": "k", "model": "m", "requests": 1, "errors": 0}
    inc.update(input_tokens=3_000_000_000, output_tokens=5, cached_tokens=1, thought_tokens=2)
    store.add_usage([inc])
    store.add_usage([{**inc, "errors": 1}, {**inc, "hour": hour + 1}])
    by_model = store.usage_since(hour)
    assert by_model == [
        {
            "account": "k",
            "model": "m",
            "requests": 3,
            "errors": 1,
            "input_tokens": 9_000_000_000,
            "output_tokens": 15,
            "cached_tokens": 3,
            "thought_tokens": 6,
        }
    ]
    assert all(type(v) is int for v in by_model[0].values() if not isinstance(v, str))
    hours = store.usage_by_hour(hour)
    assert [(h["hour"], h["requests"]) for h in hours] == [(hour, 2), (hour + 1, 1)]


def test_stored_responses(store: SqlStore) -> None:
    responses = ResponseStore(store.engine)
    responses.save({"id": "resp_1", "model": "m", "status": "completed", "output": [{"a": 1}]}, [{"q": 1}], T0)
    responses.save({"id": "resp_1", "model": "m", "status": "completed", "output": [{"a": 2}]}, [{"q": 1}], T0)
    responses.save({"id": "resp_2", "output": []}, [], T0 + 100)
    got = responses.get("resp_1")
    assert got is not None and got.conversation() == [{"q": 1}, {"a": 2}]
    assert responses.delete_before(T0 + 50) == 1
    assert responses.get("resp_1") is None
    assert responses.delete("resp_2") and not responses.delete("resp_2")


def _turn(n: int, previous: str | None) -> dict[str, Any]:
    return {"id": f"resp_{n}", "previous_response_id": previous, "output": [{"a": n}]}


def test_a_continued_conversation_stores_each_turn_once(store: SqlStore) -> None:
    responses = ResponseStore(store.engine)
    responses.save(_turn(1, None), [{"q": 1}], T0)
    for n in range(2, 41):
        responses.save(_turn(n, f"resp_{n - 1}"), [{"q": n}], T0 + n, chained=True)
    last = responses.get("resp_40")
    assert last is not None
    assert last.history == [item for n in range(1, 40) for item in ({"q": n}, {"a": n})] + [{"q": 40}]
    assert last.conversation()[-1] == {"a": 40}
    # Each row holds its own turn: the table grows with the conversation, not with its square.
    with store.engine.connect() as conn:
        sizes = [len(row[0]) for row in conn.execute(text("SELECT history_json FROM responses"))]
    assert max(sizes) == len('[{"q":40}]')


def test_a_deleted_turn_is_hidden_but_kept_for_the_turns_after_it(store: SqlStore) -> None:
    responses = ResponseStore(store.engine)
    responses.save(_turn(1, None), [{"q": 1}], T0)
    responses.save(_turn(2, "resp_1"), [{"q": 2}], T0 + 1, chained=True)
    responses.save(_turn(3, "resp_2"), [{"q": 3}], T0 + 2, chained=True)
    assert responses.delete("resp_2")
    assert responses.get("resp_2") is None and not responses.delete("resp_2")
    assert responses.get("resp_2", history=False) is None
    third = responses.get("resp_3")
    assert third is not None and third.history == [{"q": 1}, {"a": 1}, {"q": 2}, {"a": 2}, {"q": 3}]
    # Once nothing continues it, the hidden turn goes with the last one that did.
    assert responses.delete("resp_3")
    with store.engine.connect() as conn:
        left = sorted(row[0] for row in conn.execute(text("SELECT id FROM responses")))
    assert left == ["resp_1"]


def test_retention_keeps_old_turns_that_a_kept_turn_continues(store: SqlStore) -> None:
    responses = ResponseStore(store.engine)
    responses.save(_turn(1, None), [{"q": 1}], T0)
    responses.save(_turn(2, "resp_1"), [{"q": 2}], T0 + 10, chained=True)
    responses.save(_turn(3, "resp_2"), [{"q": 3}], T0 + 1000, chained=True)
    responses.save(_turn(4, None), [{"q": 4}], T0 + 20)  # old, and nothing continues it
    assert responses.delete_before(T0 + 500) == 1
    kept = responses.get("resp_3")
    assert kept is not None and kept.history[0] == {"q": 1}
    assert responses.get("resp_4") is None


def test_a_conversation_whose_start_is_gone_says_so(store: SqlStore) -> None:
    responses = ResponseStore(store.engine)
    responses.save(_turn(1, None), [{"q": 1}], T0)
    responses.save(_turn(2, "resp_1"), [{"q": 2}], T0 + 1, chained=True)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM responses WHERE id = 'resp_1'"))
    with pytest.raises(BrokenChain, match="resp_1"):
        responses.get("resp_2")
    # The response alone (what retrieve shows) is read without walking the conversation.
    alone = responses.get("resp_2", history=False)
    assert alone is not None and alone.response["output"] == [{"a": 2}] and alone.history == []


def open_at_once(data_dir: Path, database_url: str = "", instances: int = 3) -> list[BaseException]:
    """Open and close the store from several threads at the same moment; what they raised."""
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            SqlStore.open(data_dir, database_url).close()
        except BaseException as exc:  # collected for the caller to assert on
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(instances)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return errors


def test_migrations_run_once_even_when_instances_start_together(database_url: str, tmp_path: Path) -> None:
    assert open_at_once(tmp_path, database_url) == []
    store = SqlStore.open(tmp_path, database_url)
    try:
        with store.engine.connect() as conn:
            from sqlalchemy import text

            versions = [r[0] for r in conn.execute(text("SELECT version FROM schema_migrations ORDER BY version"))]
        assert versions == list(range(1, len(versions) + 1)) and len(versions) >= 4
    finally:
        store.close()


def test_processes_opening_a_new_sqlite_file_at_once_all_start(tmp_path: Path) -> None:
    # The gateway and the CLI (or two gateways) on a fresh data directory: each connection switches the
    # file to WAL, which SQLite refuses at once while another holds it. One in ~15 such starts failed.
    for round_ in range(40):
        errors = open_at_once(tmp_path / str(round_))
        assert errors == [], f"round {round_}: {errors[0]!r}"
