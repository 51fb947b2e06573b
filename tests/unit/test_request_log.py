"""RequestLog over a real SQLite store: overflow keeps rows and sheds bodies, redaction, batching, retention."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from poolgate.config import MonitorConfig
from poolgate.gateway import RequestContext
from poolgate.monitor import records
from poolgate.monitor.logrows import write_rows
from poolgate.monitor.records import HARD_LIMIT_FACTOR, RequestLog
from poolgate.store.sql import SqlStore


def _ctx(i: int, *, body: bytes = b'{"model":"m"}', ts: float | None = None, status: int = 200) -> RequestContext:
    ctx = RequestContext(request_id=f"req-{i:04d}", route="/v1/chat/completions", protocol="openai")
    if ts is not None:
        ctx.started_wall = ts
    ctx.client_model = "gpt-4o"
    ctx.mapped_model = "gemini-2.5-flash"
    ctx.status = status
    ctx.request_body = body
    ctx.response_body = b'{"ok":true}'
    return ctx


async def test_overflow_keeps_every_row_but_drops_bodies_and_counts(tmp_path: Path) -> None:
    store = SqlStore.open(tmp_path)
    log = RequestLog(store, MonitorConfig(queue_size=3))
    for i in range(5):
        log.put(_ctx(i))
    assert log.dropped_bodies == 2
    await log.flush()
    rows = {r["id"]: r for r in store.query_logs(limit=100, with_bodies=True)}
    assert len(rows) == 5
    with_bodies = sorted(i for i, r in rows.items() if r["request_body"] is not None)
    assert with_bodies == ["req-0000", "req-0001", "req-0002"]
    assert rows["req-0004"]["response_body"] is None
    assert rows["req-0004"]["client_model"] == "gpt-4o"  # the row itself is complete
    store.close()


async def test_past_the_hard_limit_rows_are_shed_and_counted(tmp_path: Path) -> None:
    store = SqlStore.open(tmp_path)
    log = RequestLog(store, MonitorConfig(queue_size=1))
    total = HARD_LIMIT_FACTOR + 5
    for i in range(total):
        log.put(_ctx(i))
    assert log.queued == HARD_LIMIT_FACTOR
    assert log.dropped_rows == 5
    await log.flush()
    assert store.count_logs() == HARD_LIMIT_FACTOR
    assert log.queued == 0
    store.close()


async def test_bodies_are_capped_and_secrets_redacted(tmp_path: Path) -> None:
    store = SqlStore.open(tmp_path)
    log = RequestLog(store, MonitorConfig(body_cap_kb=1))
    secret_key = "AIzaSyA1234567890abcdefghijklmnopqrstu"
    body = (
        b'{"api_key":"hunter2-very-secret","note":"'
        + secret_key.encode()
        + b' and Bearer sk-abcdefghijklmnopqrstuvwxyz","pad":"'
        + b"x" * 5000
        + b'"}'
    )
    log.put(_ctx(1, body=body))
    await log.flush()
    row = store.get_log("req-0001")
    assert row is not None
    text = row["request_body"]
    assert "hunter2-very-secret" not in text
    assert secret_key not in text
    assert "abcdefghijklmnopqrstuvwxyz" not in text
    assert "more bytes]" in text  # capped, and says how much was cut
    assert len(text) < 1200
    store.close()


async def test_flush_writes_large_backlogs_and_aggregates_usage(tmp_path: Path) -> None:
    store = SqlStore.open(tmp_path)
    log = RequestLog(store, MonitorConfig(queue_size=5000, capture_bodies=False))
    for i in range(2500):
        log.put(_ctx(i, status=500 if i % 10 == 0 else 200))
    await log.flush()
    assert store.count_logs() == 2500
    usage = store.usage_since(int(time.time() // 3600) - 1)
    assert len(usage) == 1
    assert usage[0]["requests"] == 2500
    assert usage[0]["errors"] == 250
    assert usage[0]["model"] == "gemini-2.5-flash"
    store.close()


class _SlowSink:
    """Takes `delay` per batch, like a round trip to the writer process and its commit."""

    def __init__(self, store: SqlStore, delay: float = 0.005) -> None:
        self.store = store
        self.delay = delay
        self.batches: list[int] = []

    async def write(self, rows: list[list[Any]]) -> None:
        self.batches.append(len(rows))
        await asyncio.sleep(self.delay)
        write_rows(self.store, rows)

    async def close(self) -> None:
        return None


async def test_under_steady_load_the_log_is_written_in_few_large_batches(tmp_path: Path) -> None:
    store = SqlStore.open(tmp_path)
    sink = _SlowSink(store)
    log = RequestLog(store, MonitorConfig(capture_bodies=False), sink)
    log.start()
    started = time.monotonic()
    i = 0
    while time.monotonic() - started < 1.3:  # a request every ~millisecond, across two flush intervals
        log.put(_ctx(i))
        i += 1
        await asyncio.sleep(0.001)
    await log.stop()
    assert store.count_logs() == i  # nothing lost, the rows queued during the last flush included
    # One batch per flush interval (0.5 s), plus the final flush: not a batch per round trip to the sink.
    assert len(sink.batches) <= 4, sink.batches
    assert max(sink.batches) >= i // 4
    store.close()


async def test_stopping_while_a_batch_is_being_written_loses_no_row(tmp_path: Path) -> None:
    store = SqlStore.open(tmp_path)
    sink = _SlowSink(store, delay=0.3)
    log = RequestLog(store, MonitorConfig(capture_bodies=False), sink)
    for i in range(50):
        log.put(_ctx(i))
    log.start()
    await asyncio.sleep(0.6)  # the periodic flush has taken the 50 rows off the queue and is writing them
    assert sink.batches == [50] and log.queued == 0
    log.put(_ctx(50))
    await log.stop()
    assert store.count_logs() == 51
    store.close()


async def test_retention_deletes_rows_older_than_retention_days(tmp_path: Path) -> None:
    store = SqlStore.open(tmp_path)
    log = RequestLog(store, MonitorConfig(retention_days=30))
    now = time.time()
    log.put(_ctx(1, ts=now - 31 * 86400))
    log.put(_ctx(2, ts=now - 29 * 86400))
    log.put(_ctx(3, ts=now))
    await log.flush()
    assert await log.enforce_retention(now) == 1
    assert sorted(r["id"] for r in store.query_logs(limit=10)) == ["req-0002", "req-0003"]
    log.configure(MonitorConfig(retention_days=7))
    assert await log.enforce_retention(now) == 1
    assert [r["id"] for r in store.query_logs(limit=10)] == ["req-0003"]
    store.close()


async def test_past_the_size_cap_the_oldest_rows_go_and_the_usage_totals_stay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqlStore.open(tmp_path)
    log = RequestLog(store, MonitorConfig(max_log_mb=1))
    monkeypatch.setattr(records, "DELETE_CHUNK", 40)  # several transactions in one pass
    for i in range(300):
        log.put(_ctx(i, body=b'{"prompt":"' + os.urandom(4000).hex().encode() + b'"}', ts=time.time() - 300 + i))
    await log.flush()
    assert store.log_bytes() > 2 * 1024 * 1024
    usage_before = store.usage_since(0)
    assert usage_before and usage_before[0]["requests"] == 300
    deleted = await log.enforce_size()
    assert deleted > 100
    assert store.log_bytes() <= 1024 * 1024
    kept = [r["id"] for r in store.query_logs(limit=300, ascending=True)]
    assert kept == [f"req-{i:04d}" for i in range(deleted, 300)]  # the newest survive, in order
    assert store.usage_since(0) == usage_before  # `poolgate stats` still counts every request
    assert await log.enforce_size() == 0  # under the cap now: nothing more goes
    log.configure(MonitorConfig(max_log_mb=0))  # no cap
    assert await log.enforce_size() == 0
    store.close()


async def test_disabled_monitor_writes_nothing(tmp_path: Path) -> None:
    store = SqlStore.open(tmp_path)
    log = RequestLog(store, MonitorConfig(enabled=False))
    log.put(_ctx(1))
    await log.flush()
    assert store.count_logs() == 0
    store.close()


class _Outage:
    """A sink over the real store that refuses batches while `down` is set, as a database away would."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.down = True

    async def write(self, rows: list[list[Any]]) -> None:
        if self.down:
            raise ConnectionRefusedError("database away")
        write_rows(self.store, rows)

    async def close(self) -> None:
        return None


async def test_batches_refused_during_an_outage_are_written_in_order_afterwards(tmp_path: Path) -> None:
    store = SqlStore.open(tmp_path)
    sink = _Outage(store)
    log = RequestLog(store, MonitorConfig(queue_size=100), sink=sink)
    for i in range(3):
        log.put(_ctx(i, ts=1000.0 + i))
    with pytest.raises(ConnectionRefusedError):
        await log.flush()
    log.put(_ctx(3, ts=1003.0))
    with pytest.raises(ConnectionRefusedError):
        await log.flush()
    assert log.queued == 4 and store.count_logs() == 0
    sink.down = False
    await log.flush()
    assert log.queued == 0
    assert [r["id"] for r in store.query_logs(limit=10)][::-1] == ["req-0000", "req-0001", "req-0002", "req-0003"]
    store.close()


async def test_an_outage_longer_than_the_hard_limit_sheds_new_rows_and_counts_them(tmp_path: Path) -> None:
    store = SqlStore.open(tmp_path)
    sink = _Outage(store)
    log = RequestLog(store, MonitorConfig(queue_size=1), sink=sink)
    for i in range(HARD_LIMIT_FACTOR + 3):
        log.put(_ctx(i, ts=1000.0 + i))
        with pytest.raises(ConnectionRefusedError):
            await log.flush()
    assert log.queued == HARD_LIMIT_FACTOR and log.dropped_rows == 3
    sink.down = False
    await log.flush()
    ids = sorted(r["id"] for r in store.query_logs(limit=100))
    assert ids == [f"req-{i:04d}" for i in range(HARD_LIMIT_FACTOR)]
    store.close()
