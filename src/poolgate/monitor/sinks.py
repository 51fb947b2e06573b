"""Where request-log batches go: a worker thread of this process, or anything else with the same shape.

A writer process once stood here, chosen on a measurement taken while flushes degenerated into a
batch per request (fixed in records.py since). After that fix, ten fresh pairs of processes measured
a thread no slower (added latency 1.45× and 1.34× the floor's against 1.83× and 1.59×; c=16
throughput equal), so the simpler design stayed; see docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from poolgate.monitor.logrows import write_rows
from poolgate.store.sql import SqlStore


class Sink(Protocol):
    async def write(self, rows: list[list[Any]]) -> None:
        """Store the batch; returns once it is visible to readers of the store."""
        ...

    async def close(self) -> None: ...


class ThreadSink:
    """Redacts and stores each batch in one transaction, in a worker thread, off the event loop."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    async def write(self, rows: list[list[Any]]) -> None:
        await asyncio.to_thread(write_rows, self.store, rows)

    async def close(self) -> None:
        return None
