"""Resilience over the real `poolgate serve` process and the simulator process: load with half the pool
throttled, client disconnects, keep-alives, mid-stream failures, final answers, and state across restarts."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from poolgate.store.models import API_KEY, Account
from poolgate.store.sql import SqlStore
from tests.conftest import Gateway, Simulator, _clean_env
from tests.support import poll

KEYS = {
    "pool-a": "key-pool-a-0000",
    "pool-b": "key-pool-b-0000",
    "pool-c": "key-pool-c-0000",
    "pool-d": "key-pool-d-0000",
}


def add_accounts(data_dir: Path, keys: dict[str, str]) -> None:
    store = SqlStore.open(data_dir)
    try:
        for label, key in keys.items():
            store.add_account(Account("", API_KEY, label, key))
    finally:
        store.close()


@pytest.fixture(scope="module")
def pool_gateway(tmp_path_factory: pytest.TempPathFactory, simulator_process: Simulator) -> Iterator[Gateway]:
    data_dir = tmp_path_factory.mktemp("resilience")
    env = _clean_env()
    env["POOLGATE_UPSTREAM__GEMINI_API_BASE"] = simulator_process.url
    env["POOLGATE_PROXY__KEEPALIVE_SECONDS"] = "0.3"
    add_accounts(data_dir, KEYS)
    gw = Gateway(data_dir=data_dir, env=env).start()
    yield gw
    gw.stop()


def chat(model: str, text: str, stream: bool = False) -> dict[str, Any]:
    return {"model": model, "stream": stream, "messages": [{"role": "user", "content": text}]}


def generate_calls(sim: Simulator) -> Counter[str]:
    return Counter(c["key"] for c in sim.calls() if c["method"] in ("generateContent", "streamGenerateContent"))


async def burst(url: str, model: str, n: int, tag: str) -> list[int]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(timeout=60, limits=limits, trust_env=False) as client:
        responses = await asyncio.gather(
            *(client.post(url, json=chat(model, f"{tag} request number {i}")) for i in range(n))
        )
    return [r.status_code for r in responses]


def test_load_with_half_the_pool_throttled(pool_gateway: Gateway, simulator: Simulator) -> None:
    model = "gemini-load-test"
    throttled = [KEYS["pool-a"], KEYS["pool-b"]]
    for key in throttled:
        simulator.script(key, *[{"status": 429, "retry_delay": "60s"}] * 400)
    url = f"{pool_gateway.v1}/chat/completions"
    statuses = asyncio.run(burst(url, model, 200, "first"))
    assert Counter(statuses) == {200: 200}
    first = generate_calls(simulator)
    healthy = first[KEYS["pool-c"]] + first[KEYS["pool-d"]]
    assert healthy == 200 and first[KEYS["pool-c"]] > 0 and first[KEYS["pool-d"]] > 0
    # All 200 arrive at once, so a throttled key gets its share of first attempts before its first 429 is
    # back; after that no request is sent to it again, and no request ever tries it twice.
    per_request = Counter(
        (c["key"], c["body"]["contents"][0]["parts"][0]["text"]) for c in simulator.calls() if c["key"] in throttled
    )
    assert max(per_request.values()) == 1
    for key in throttled:
        assert 1 <= first[key] <= 100, first
    statuses = asyncio.run(burst(url, model, 200, "second"))
    assert Counter(statuses) == {200: 200}
    second = generate_calls(simulator)
    for key in throttled:
        assert second[key] == first[key], "a cooling key was called again"


def test_client_disconnect_cancels_the_upstream_call(pool_gateway: Gateway, simulator: Simulator) -> None:
    settle(pool_gateway)
    headers = {"X-Claude-Code-Session-Id": "disconnect-test"}
    for key in KEYS.values():
        simulator.script(key, {"delay": 20})
    url = f"{pool_gateway.v1}/chat/completions"
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url, json=chat("gemini-2.5-flash", "hang up on me"), headers=headers, timeout=0.5)
    gone = poll(
        lambda: httpx.get(f"{simulator.url}/_sim/disconnects").json()["disconnects"], "the upstream disconnect", 10
    )
    assert len(gone) == 1  # the gateway closed its upstream connection, long before the 20 s delay ended
    label = next(label for label, key in KEYS.items() if key == gone[0]["key"])
    simulator.reset()
    again = httpx.post(url, json=chat("gemini-2.5-flash", "hang up on me"), headers=headers, timeout=10)
    assert again.status_code == 200
    assert again.headers["x-account-email"] == label  # same conversation, same account: nothing was charged

    def logged() -> list[dict[str, Any]]:
        store = SqlStore.open(pool_gateway.data_dir)
        try:
            return [r for r in store.query_logs(limit=50) if r["status"] == 499]
        finally:
            store.close()

    rows = poll(logged, "the 499 log row", 10)
    assert rows[0]["error"] == "client disconnected"


def settle(gw: Gateway) -> None:
    """Wait out short account-wide cooldowns an earlier test in this module left (say, a cut stream's)."""

    def clear() -> bool:
        store = SqlStore.open(gw.data_dir)
        try:
            return not [c for c in store.list_cooldowns() if not c.model and c.until > time.time()]
        finally:
            store.close()

    poll(clear, "cooldowns to clear", 40)


def stream_lines(url: str, body: dict[str, Any]) -> tuple[int, list[str]]:
    with httpx.stream("POST", url, json=body, timeout=30) as r:
        return r.status_code, [line for line in r.iter_lines() if line]


def test_keepalives_during_silence_after_the_first_byte(pool_gateway: Gateway, simulator: Simulator) -> None:
    simulator.script("*", {"chunks": 3, "chunk_delay": 1.0})
    status, lines = stream_lines(f"{pool_gateway.v1}/chat/completions", chat("gemini-2.5-flash", "think slowly", True))
    assert status == 200
    first_data = next(i for i, line in enumerate(lines) if line.startswith("data: "))
    assert ": keep-alive" in lines[first_data:]
    assert lines[-1] == "data: [DONE]"


def test_keepalives_while_waiting_for_the_first_content(pool_gateway: Gateway, simulator: Simulator) -> None:
    simulator.script("*", {"delay": 1.2})
    status, lines = stream_lines(f"{pool_gateway.v1}/chat/completions", chat("gemini-2.5-flash", "think first", True))
    assert status == 200
    assert lines[0] == ": keep-alive"  # committed early so proxies see bytes while the model thinks
    assert any("You said: think first" in line or "think" in line for line in lines if line.startswith("data: "))
    assert lines[-1] == "data: [DONE]"


def test_failure_after_the_first_byte_is_an_in_stream_error(pool_gateway: Gateway, simulator: Simulator) -> None:
    simulator.script("*", {"error_after": 2, "status": 429, "retry_delay": "30s"})
    status, lines = stream_lines(f"{pool_gateway.v1}/chat/completions", chat("gemini-midstream", "break later", True))
    assert status == 200
    data = [orjson.loads(line[6:]) for line in lines if line.startswith("data: {")]
    assert data[0]["choices"][0]["delta"].get("content") is not None or data[1]["choices"]
    assert "Upstream failed mid-stream" in data[-1]["error"]["message"]
    assert lines[-1] == "data: [DONE]"  # closed cleanly

    def cooled() -> list[Any]:
        store = SqlStore.open(pool_gateway.data_dir)
        try:
            return [c for c in store.list_cooldowns() if c.model == "gemini-midstream"]
        finally:
            store.close()

    assert poll(cooled, "the cooldown", 10)[0].kind == "rate_limit"  # the scheduler learned from it too


def test_cut_stream_before_content_is_retried_invisibly(pool_gateway: Gateway, simulator: Simulator) -> None:
    simulator.script("*", {"cut_after": 0})
    status, lines = stream_lines(f"{pool_gateway.v1}/chat/completions", chat("gemini-cut-test", "cut me", True))
    assert status == 200 and lines[-1] == "data: [DONE]"
    assert not any('"error"' in line for line in lines)
    assert sum(generate_calls(simulator).values()) == 2


# Text first (so the stream commits), then a part that is no object: a shape Google never documents.
MALFORMED = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hello"}, 5]}, "finishReason": "STOP"}]}


def test_an_answer_of_an_unexpected_shape_is_a_502_or_an_in_stream_error(
    pool_gateway: Gateway, simulator: Simulator
) -> None:
    simulator.script("*", {"raw": MALFORMED})
    r = httpx.post(f"{pool_gateway.v1}/chat/completions", json=chat("gemini-shape-test", "x"), timeout=30)
    assert r.status_code == 502 and "could not be converted" in r.json()["error"]["message"], r.text

    simulator.script("*", {"raw": MALFORMED})
    status, lines = stream_lines(f"{pool_gateway.v1}/chat/completions", chat("gemini-shape-test", "x", True))
    assert status == 200 and lines[-1] == "data: [DONE]"  # ended by the gateway, not cut
    assert "could not be converted" in orjson.loads(lines[-2][6:])["error"]["message"]

    simulator.script("*", {"raw": MALFORMED})
    body = {
        "model": "gemini-shape-test",
        "max_tokens": 20,
        "stream": True,
        "messages": [{"role": "user", "content": "x"}],
    }
    status, lines = stream_lines(f"{pool_gateway.base_url}/v1/messages", body)
    assert status == 200
    assert lines[-2] == "event: error" and orjson.loads(lines[-1][6:])["error"]["type"] == "api_error"


def test_everything_cooling_answers_429_with_retry_after(pool_gateway: Gateway, simulator: Simulator) -> None:
    settle(pool_gateway)
    for key, delay in zip(KEYS.values(), ("45s", "30s", "80s", "50s"), strict=True):
        simulator.script(key, {"status": 429, "retry_delay": delay})
    url = f"{pool_gateway.v1}/chat/completions"
    r = httpx.post(url, json=chat("gemini-cool-test", "anyone there?"), timeout=30)
    assert r.status_code == 429, r.text
    assert 25 <= int(r.headers["retry-after"]) <= 30, (r.text, generate_calls(simulator))
    error = r.json()["error"]
    assert error["type"] == "rate_limit_error" and "frees up at" in error["message"]
    calls = sum(generate_calls(simulator).values())
    again = httpx.post(url, json=chat("gemini-cool-test", "still?"), timeout=30)
    assert again.status_code == 429 and sum(generate_calls(simulator).values()) == calls
    bad = httpx.post(url, json={"model": "gemini-2.5-flash", "messages": "nope"}, timeout=30)
    assert bad.status_code == 400  # a client error keeps its meaning


def test_cooldowns_and_parked_accounts_survive_a_restart(make_gateway: Any, simulator: Simulator) -> None:
    url = "https://accounts.google.com/signin/continue?sarp=1&scc=1"
    gw: Gateway = make_gateway(env={"COLUMNS": "400"})
    add_accounts(gw.data_dir, {"parked": "key-parked-000", "daily": "key-daily-0000", "fine": "key-fine-00000"})
    simulator.script("key-parked-000", {"status": 403, "validation_url": url, "message": "Verify your account."})
    simulator.script("key-daily-0000", {"status": 429, "reason": "QUOTA_EXHAUSTED", "quota_reset_delay": "2h"})
    gw.start()
    r = httpx.post(f"{gw.v1}/chat/completions", json=chat("gemini-2.5-flash", "hello"), timeout=30)
    assert r.status_code == 200 and r.headers["x-account-email"] == "fine"

    def listed() -> str:
        out = gw.cli("accounts", "list").stdout
        return out if "parked" in out and "quota_exhausted" in out else ""

    table = poll(listed, "the account table", 10)
    assert url in table and "validation_required" in table and "parked until" in table
    assert "cooling (gemini-2.5-flash) until" in table and "quota_exhausted" in table
    gw.stop()
    simulator.reset()
    gw.start()
    for i in range(4):
        ok = httpx.post(f"{gw.v1}/chat/completions", json=chat("gemini-2.5-flash", f"again {i}"), timeout=30)
        assert ok.status_code == 200 and ok.headers["x-account-email"] == "fine"
    assert set(generate_calls(simulator)) == {"key-fine-00000"}
    other = httpx.post(f"{gw.v1}/chat/completions", json=chat("gemini-2.5-pro", "other model"), timeout=30)
    assert other.status_code == 200  # the daily quota was for one model only; the parked account stays out
    assert "key-parked-000" not in generate_calls(simulator)
    # `accounts enable` clears the parking in the running gateway too.
    gw.cli("accounts", "enable", "parked")

    seen: list[str] = []

    def parked_serves() -> bool:
        # A new conversation each time, so no session binding keeps it on another account.
        r = httpx.post(f"{gw.v1}/chat/completions", json=chat("gemini-2.5-pro", f"back? {len(seen)}"), timeout=30)
        seen.append(f"{r.status_code} {r.headers.get('x-account-email')}")
        return r.status_code == 200 and r.headers["x-account-email"] == "parked"

    try:
        poll(parked_serves, "the parked account to serve", 10)
    except AssertionError:
        raise AssertionError(f"{seen[-5:]}\n{gw.output()[-3000:]}\n{gw.cli('accounts', 'list').stdout}") from None
