"""A client that gives up is noticed: the upstream call is abandoned and the request is logged as 499."""

from __future__ import annotations

import sqlite3
import time

import httpx
import pytest

from tests.conftest import Gateway, Simulator

CHAT = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}


def logged_rows(gw: Gateway) -> list[tuple[int, str, float]]:
    with sqlite3.connect(gw.data_dir / "poolgate.db") as db:
        return db.execute("SELECT status, error, duration_ms FROM request_logs").fetchall()


@pytest.mark.parametrize("stream", [False, True])
def test_client_leaving_a_slow_answer_is_logged_as_499(gateway: Gateway, simulator: Simulator, stream: bool) -> None:
    simulator.script("key-a-0000000000", {"text": "too late", "delay": 8.0})
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{gateway.v1}/chat/completions", json={**CHAT, "stream": stream}, timeout=0.6)
    deadline = time.time() + 15
    rows: list[tuple[int, str, float]] = []
    while time.time() < deadline:
        rows = logged_rows(gateway)
        if rows:
            break
        time.sleep(0.1)
    assert rows, "the abandoned request was never logged"
    # Had the gateway not noticed, the 8 s answer would have completed and been logged as a 200.
    status, error, _ = rows[0]
    assert status == 499
    assert "disconnected" in error
