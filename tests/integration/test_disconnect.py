"""A client that leaves a streamed answer is noticed: the request is logged as 499.

The non-streamed case, with the upstream connection being closed, is covered by
`test_resilience.test_client_disconnect_cancels_the_upstream_call`.
"""

from __future__ import annotations

import sqlite3

import httpx
import pytest

from tests.conftest import Gateway, Simulator
from tests.support import poll

CHAT = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}


def logged_rows(gw: Gateway) -> list[tuple[int, str, float]]:
    with sqlite3.connect(gw.data_dir / "poolgate.db") as db:
        return db.execute("SELECT status, error, duration_ms FROM request_logs").fetchall()


def test_client_leaving_a_slow_stream_is_logged_as_499(gateway: Gateway, simulator: Simulator) -> None:
    simulator.script("key-a-0000000000", {"text": "too late", "delay": 8.0})
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{gateway.v1}/chat/completions", json={**CHAT, "stream": True}, timeout=0.6)
    rows = poll(lambda: logged_rows(gateway), "the abandoned request to be logged", 15)
    # Had the gateway not noticed, the 8 s answer would have completed and been logged as a 200.
    status, error, _ = rows[0]
    assert status == 499
    assert "disconnected" in error
