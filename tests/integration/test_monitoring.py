"""Monitoring over a real gateway: /metrics parsed with prometheus_client, retention, queue overflow, the CLI."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from poolgate.store.sql import SqlStore
from tests.conftest import Gateway, Simulator
from tests.integration.gateways import gateway_for_module
from tests.support import poll

ADMIN = "monitor-admin-pw"
KEY_M = "key-monitor-m-0000"
KEY_N = "key-monitor-n-0000"
DAY = 86400.0


def _old_row(row_id: str, ts: float) -> dict[str, Any]:
    return {
        "id": row_id,
        "ts": ts,
        "method": "POST",
        "route": "/v1/chat/completions",
        "protocol": "openai",
        "client_model": "gpt-4o",
        "mapped_model": "gemini-2.5-flash",
        "status": 200,
        "account": "old",
    }


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, simulator_process: Simulator) -> Iterator[Gateway]:
    data_dir = tmp_path_factory.mktemp("monitoring")
    # Rows written before the gateway starts: one past the 30-day retention, one inside it.
    store = SqlStore.open(data_dir)
    now = time.time()
    store.insert_logs([_old_row("ancient-row", now - 31 * DAY), _old_row("recent-row", now - 3 * DAY)])
    store.close()
    env = {"POOLGATE_PROXY__ADMIN_PASSWORD": ADMIN, "POOLGATE_MONITOR__RETENTION_DAYS": "30", "COLUMNS": "250"}
    gateway = gateway_for_module(data_dir, simulator_process, env, {"mon-m": KEY_M, "mon-n": KEY_N})
    yield gateway
    gateway.stop()


@pytest.fixture
def api(gw: Gateway, simulator: Simulator) -> httpx.Client:
    return httpx.Client(base_url=gw.base_url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=20)


def chat(gw: Gateway, model: str = "gemini-2.5-flash", **extra: Any) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hello"}], **extra}
    return httpx.post(f"{gw.v1}/chat/completions", json=body, timeout=30)


def samples(gw: Gateway) -> list[Sample]:
    r = httpx.get(f"{gw.base_url}/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    return [s for family in text_string_to_metric_families(r.text) for s in family.samples]


def value(all_samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in all_samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    return sum(found) if found else 0.0


def ids_in_log(api: httpx.Client) -> set[str]:
    return {row["id"] for row in api.get("/api/logs", params={"limit": 500}).json()["items"]}


def test_rows_older_than_retention_days_disappear(gw: Gateway, api: httpx.Client) -> None:
    poll(lambda: "ancient-row" not in ids_in_log(api), "the 31-day-old row to be deleted")
    assert "recent-row" in ids_in_log(api)
    # Shortening the retention live applies it without a restart.
    assert api.patch("/api/config", json={"monitor": {"retention_days": 2}}).status_code == 200
    try:
        poll(lambda: "recent-row" not in ids_in_log(api), "the 3-day-old row to go once retention is 2 days")
    finally:
        api.delete("/api/config/overrides")


def test_metrics_count_requests_by_route_status_and_models(gw: Gateway) -> None:
    before = samples(gw)
    labels = {"route": "/v1/chat/completions", "status": "200", "client_model": "gpt-4o"}
    base = value(before, "poolgate_requests_total", mapped_model="gemini-2.5-flash", **labels)
    for _ in range(3):
        assert chat(gw, model="gpt-4o").status_code == 200
    gemini = httpx.post(
        f"{gw.base_url}/v1/chat/completions",
        json={"model": "nope", "messages": "not a list"},
    )
    assert gemini.status_code == 400
    after = samples(gw)
    assert value(after, "poolgate_requests_total", mapped_model="gemini-2.5-flash", **labels) == base + 3
    assert value(after, "poolgate_requests_total", route="/v1/chat/completions", status="400") >= 1
    count = value(after, "poolgate_request_duration_seconds_count", route="/v1/chat/completions")
    assert count >= 4
    assert value(after, "poolgate_gateway_overhead_seconds_count", route="/v1/chat/completions") == count
    inf_bucket = value(after, "poolgate_gateway_overhead_seconds_bucket", route="/v1/chat/completions", le="+Inf")
    assert inf_bucket == count
    assert value(after, "poolgate_request_duration_seconds_sum", route="/v1/chat/completions") > 0


def test_metrics_show_upstream_failure_classes_and_account_states(gw: Gateway, simulator: Simulator) -> None:
    before = value(samples(gw), "poolgate_upstream_failures_total", kind="rate_limit")
    for key in (KEY_M, KEY_N):
        simulator.script(key, {"status": 429, "reason": "RATE_LIMIT_EXCEEDED", "retry_delay": "60s"})
    r = chat(gw, model="gemini-2.5-pro")
    assert r.status_code == 429
    after = samples(gw)
    assert value(after, "poolgate_upstream_failures_total", kind="rate_limit") == before + 2
    assert value(after, "poolgate_accounts", state="cooling") == 2
    assert value(after, "poolgate_accounts", state="active") == 0
    httpx.delete(f"{gw.base_url}/api/cooldowns", headers={"Authorization": f"Bearer {ADMIN}"}).raise_for_status()
    assert value(samples(gw), "poolgate_accounts", state="active") == 2


def test_metrics_count_streams_in_flight(gw: Gateway, simulator: Simulator) -> None:
    for key in (KEY_M, KEY_N):
        simulator.script(key, {"text": "one two three four five six", "chunks": 6, "chunk_delay": 0.4})
    body = {"model": "gemini-2.5-flash", "stream": True, "messages": [{"role": "user", "content": "x"}]}
    with httpx.stream("POST", f"{gw.v1}/chat/completions", json=body, timeout=30) as r:
        lines = r.iter_lines()
        assert next(lines).startswith("data: ")
        assert value(samples(gw), "poolgate_streams_in_flight") == 1
        assert [line for line in lines if line][-1] == "data: [DONE]"
    poll(lambda: value(samples(gw), "poolgate_streams_in_flight") == 0, "the stream gauge to drop")


def test_stats_and_logs_commands(gw: Gateway, api: httpx.Client, simulator: Simulator) -> None:
    assert chat(gw, model="gemini-2.5-flash-lite").status_code == 200
    simulator.script(KEY_M, {"status": 400, "message": "scripted client error"})
    simulator.script(KEY_N, {"status": 400, "message": "scripted client error"})
    assert chat(gw, model="gemini-2.0-flash").status_code == 400
    api.get("/api/logs")  # flushes the queue so the CLI (reading the database) sees both

    stats = gw.cli("stats", "--hours", "2").stdout
    assert "gemini-2.5-flash-lite" in stats and "gemini-2.0-flash" in stats
    assert "mon-m" in stats or "mon-n" in stats
    assert "total" in stats

    recent = gw.cli("logs", "--limit", "50").stdout
    assert "gemini-2.5-flash-lite" in recent and "scripted client error" in recent
    errors_only = gw.cli("logs", "--errors", "--limit", "50").stdout
    assert "scripted client error" in errors_only and "gemini-2.5-flash-lite" not in errors_only


def test_logs_follow_prints_new_requests(gw: Gateway, api: httpx.Client) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "poolgate", "logs", "--follow", "--limit", "1", "--data-dir", str(gw.data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=gw.env,
    )
    try:
        assert proc.stdout is not None
        poll(lambda: "time" in proc.stdout.readline(), "the table header")  # type: ignore[union-attr]
        r = chat(gw, model="gemini-3-pro-preview")
        assert r.status_code == 200
        api.get("/api/logs")
        poll(lambda: "gemini-3-pro-preview" in proc.stdout.readline(), "the followed request")  # type: ignore[union-attr]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_overflowing_log_queue_keeps_rows_drops_bodies_and_counts(make_gateway: Any) -> None:
    gw = make_gateway(env={"POOLGATE_MONITOR__QUEUE_SIZE": "0", "POOLGATE_PROXY__ADMIN_PASSWORD": ADMIN})
    gw.add_key("key-overflow-00000", "overflow")
    gw.start()
    ids = [chat(gw).headers["x-request-id"] for _ in range(3)]
    api = httpx.Client(base_url=gw.base_url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=20)
    for request_id in ids:
        row = api.get(f"/api/logs/{request_id}").json()
        assert row["status"] == 200 and row["account"] == "overflow" and row["output_tokens"] > 0
        assert row["request_body"] is None and row["response_body"] is None
    assert api.get("/api/stats").json()["log"]["dropped_bodies"] == 3
    assert value(samples(gw), "poolgate_log_dropped_bodies_total") == 3


def _writer_pids(parent: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if int(stat[1]) == parent and b"poolgate.monitor.writer" in cmdline:
            pids.append(int(entry.name))
    return pids


def test_the_log_is_written_by_its_own_process_which_ends_with_the_gateway(make_gateway: Any) -> None:
    gw = make_gateway(env={"POOLGATE_PROXY__ADMIN_PASSWORD": ADMIN})
    gw.add_key("key-writer-000000", "writer")
    gw.start()
    assert gw.process is not None
    request_id = chat(gw).headers["x-request-id"]
    api = httpx.Client(base_url=gw.base_url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=20)
    assert api.get(f"/api/logs/{request_id}").json()["status"] == 200
    writers = _writer_pids(gw.process.pid)
    assert len(writers) == 1
    gw.stop()
    # The gateway flushes, closes the writer's input and the writer exits: no process is left behind.
    poll(lambda: not Path(f"/proc/{writers[0]}").exists(), "the writer process to exit", timeout=10)


def test_requests_answered_just_before_a_stop_are_in_the_log_after_it(make_gateway: Any) -> None:
    gw = make_gateway()
    gw.add_key("key-stopping-0000", "stopping")
    gw.start()
    ids = [chat(gw).headers["x-request-id"] for _ in range(20)]
    gw.stop()  # SIGTERM within the half-second flush interval: the last rows are still queued
    store = SqlStore.open(gw.data_dir)
    try:
        logged = {row["id"] for row in store.query_logs(limit=100)}
    finally:
        store.close()
    assert [n for n, request_id in enumerate(ids) if request_id not in logged] == []


def test_the_admin_views_stay_up_while_the_log_cannot_be_written(make_gateway: Any) -> None:
    gw = make_gateway(env={"POOLGATE_PROXY__ADMIN_PASSWORD": ADMIN})
    gw.add_key("key-refusing-0000", "refusing")
    gw.start()
    api = httpx.Client(base_url=gw.base_url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=20)
    before = chat(gw).headers["x-request-id"]
    assert before in ids_in_log(api)
    # The database refuses every new log row, as a full disk does ("database or disk is full").
    with sqlite3.connect(gw.data_dir / "poolgate.db") as db:
        db.execute(
            "CREATE TRIGGER refuse_rows BEFORE INSERT ON request_logs BEGIN SELECT RAISE(ABORT, 'disk is full'); END"
        )
    during = chat(gw)
    assert during.status_code == 200
    # The pages that write the queue first still answer, with what is stored.
    logs = api.get("/api/logs")
    assert logs.status_code == 200, logs.text
    assert before in {row["id"] for row in logs.json()["items"]}
    assert during.headers["x-request-id"] not in {row["id"] for row in logs.json()["items"]}
    assert api.get(f"/api/logs/{before}").status_code == 200
    assert api.get("/api/stats").status_code == 200
    assert api.get("/api/accounts").status_code == 200
    with sqlite3.connect(gw.data_dir / "poolgate.db") as db:
        db.execute("DROP TRIGGER refuse_rows")
    # Nothing was lost: the row kept in the queue is written once the database takes rows again.
    poll(lambda: during.headers["x-request-id"] in ids_in_log(api), "the held row to be written", timeout=10)
    assert "request log cannot be written" in gw.output()
    assert "Traceback" not in gw.output()
