"""Per-request cost of monitoring on the request path: Metrics.observe() and RequestLog.put().

Run: `PYTHONPATH=src python -m benchmarks.monitor_cost`. Prints microseconds per call; nothing is written
to a database (put() only appends to the queue; the writer task is not started).
"""

from __future__ import annotations

import time
from pathlib import Path
from tempfile import TemporaryDirectory

from poolgate.config import MonitorConfig
from poolgate.gateway import RequestContext
from poolgate.monitor.metrics import Metrics
from poolgate.monitor.records import RequestLog
from poolgate.store.sql import SqlStore

CALLS = 200_000


def _ctx() -> RequestContext:
    ctx = RequestContext(request_id="bench", route="/v1/chat/completions", protocol="openai")
    ctx.client_model = "gpt-4o"
    ctx.mapped_model = "gemini-2.5-flash"
    ctx.status = 200
    ctx.request_body = b"x" * 20_000
    ctx.response_body = b"y" * 20_000
    return ctx


def per_call_us(fn: object, calls: int = CALLS) -> float:
    call = fn  # type: ignore[assignment]
    start = time.perf_counter()
    for _ in range(calls):
        call()  # type: ignore[operator]
    return (time.perf_counter() - start) / calls * 1e6


def main() -> None:
    ctx = _ctx()
    metrics = Metrics()
    print(f"Metrics.observe   {per_call_us(lambda: metrics.observe(ctx, 0.12)):6.2f} us/request")
    with TemporaryDirectory() as tmp:
        store = SqlStore.open(Path(tmp))
        log = RequestLog(store, MonitorConfig(queue_size=CALLS * 2))
        print(f"RequestLog.put    {per_call_us(lambda: log.put(ctx)):6.2f} us/request")
        store.close()


if __name__ == "__main__":
    main()
