"""Stopping the gateway (SIGTERM) while requests run: bounded by `proxy.shutdown_grace_seconds`.

Before, a stop waited for every open stream to finish, however long (a long generation held a deploy
for minutes, until the process manager killed it and the last request-log rows with it). Now requests
get the grace period (1 s here) to finish; then a stream ends with the protocol's in-stream error and
its end marker, a request still waiting for the upstream gets a 503 saying why, both are logged, and
the process exits with no traceback.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

import httpx

from tests.conftest import Gateway, Simulator

KEY = "key-shutdown-000001"


def test_a_stop_cuts_long_requests_after_the_grace_period_cleanly(make_gateway: Any, simulator: Simulator) -> None:
    gw: Gateway = make_gateway(
        env={"POOLGATE_PROXY__SHUTDOWN_GRACE_SECONDS": "1", "POOLGATE_PROXY__ADMIN_PASSWORD": "admin-pw"}
    )
    gw.add_key(KEY, "s")
    gw.start()
    simulator.script(KEY, {"text": "one two three four five six", "chunks": 6, "chunk_delay": 4}, {"delay": 30})
    streamed: list[str] = []
    waited: list[httpx.Response] = []

    def stream() -> None:
        chat = {"model": "gemini-2.5-flash", "stream": True, "messages": [{"role": "user", "content": "long stream"}]}
        with httpx.stream("POST", f"{gw.v1}/chat/completions", json=chat, timeout=60) as r:
            streamed.extend(r.iter_lines())

    def wait() -> None:
        chat = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "long wait"}]}
        waited.append(httpx.post(f"{gw.v1}/chat/completions", json=chat, timeout=60))

    fed: list[str] = []

    def feed() -> None:
        # The admin UI's live log: a stream that only ends when its reader leaves.
        headers = {"authorization": "Bearer admin-pw"}
        with httpx.stream("GET", f"{gw.base_url}/api/logs/stream", headers=headers, timeout=60) as r:
            fed.extend(r.iter_lines())

    threads = [threading.Thread(target=stream), threading.Thread(target=wait), threading.Thread(target=feed)]
    threads[2].start()
    threads[0].start()
    time.sleep(1.0)  # the stream has begun
    threads[1].start()
    time.sleep(1.0)  # the second request waits for its upstream answer
    assert gw.process is not None
    started = time.monotonic()
    gw.process.terminate()
    gw.process.wait(timeout=20)
    assert time.monotonic() - started < 10, "the stop waited for the requests instead of the grace period"
    for t in threads:
        t.join(timeout=20)

    data = [line for line in streamed if line.startswith("data: ")]
    assert data[-1] == "data: [DONE]"
    assert "shutting down" in data[-2] and '"code":"shutting_down"' in data[-2].replace(" ", "")
    [answer] = waited
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    assert answer.json()["error"]["code"] == "shutting_down"
    with sqlite3.connect(gw.data_dir / "poolgate.db") as db:
        rows = dict(db.execute("SELECT status, error FROM request_logs").fetchall())
    assert set(rows) == {200, 503} and "shutting down" in rows[200] and "shutting down" in rows[503]
    assert fed[0] == "retry: 2000"  # it was open, and it was ended rather than cut
    assert "Traceback" not in gw.output()
