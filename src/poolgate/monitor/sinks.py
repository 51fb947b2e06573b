"""Where request-log batches go: a writer process (the server's default) or a thread in this process.

A separate process has its own GIL: the writing's Python work (redaction, usage folding, the INSERTs;
~18 µs per row) never holds the event loop's, which only encodes each batch and writes it to a pipe.
Measured after the batching fix in records.py, eight fresh pairs of gateways, thread against process:
at c=16 the process served more requests in six pairs (median 0.53 of the floor's throughput against
0.49) for less CPU in five; sequential latency did not tell them apart (thread ahead in three of
eight). See docs/benchmarks.md."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from pathlib import Path
from typing import Any, Protocol

import orjson

from poolgate.monitor.logrows import write_rows
from poolgate.store.sql import SqlStore

log = logging.getLogger("poolgate.monitor")

HEADER = 4  # bytes of big-endian frame length before each JSON frame, both ways
STOP_TIMEOUT = 10.0


class Sink(Protocol):
    async def write(self, rows: list[list[Any]]) -> None:
        """Store the batch; returns once it is visible to readers of the store."""
        ...

    async def close(self) -> None: ...


class ThreadSink:
    """Writes in a worker thread of this process (tests, tools, and the fallback)."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    async def write(self, rows: list[list[Any]]) -> None:
        await asyncio.to_thread(write_rows, self.store, rows)

    async def close(self) -> None:
        return None


class WriterFailed(Exception):
    """The writer process refused a batch or went away."""


class ProcessSink:
    """Runs `python -m poolgate.monitor.writer` on the same store and sends it each batch over a pipe.

    One batch is in flight at a time (RequestLog's flush lock); each is acknowledged after its
    commit. A writer that dies is started again for the next batch, and the batch it could not take is
    written by a thread instead; a batch the store itself refuses goes back to the request log.
    """

    def __init__(self, store: SqlStore, data_dir: Path, database_url: str = "") -> None:
        self.fallback = ThreadSink(store)
        self.data_dir = data_dir
        self.database_url = database_url
        self._proc: asyncio.subprocess.Process | None = None
        self.restarts = 0

    async def _start(self) -> asyncio.subprocess.Process:
        args = [sys.executable, "-m", "poolgate.monitor.writer", str(self.data_dir)]
        if self.database_url:
            args.append(self.database_url)
        # Same process group as the gateway; the writer flushes each answer itself.
        proc = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        self._proc = proc
        return proc

    async def _send(self, rows: list[list[Any]]) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            if proc is not None:
                self.restarts += 1
                log.warning("request-log writer exited (%s); starting it again", proc.returncode)
            proc = await self._start()
        assert proc.stdin is not None and proc.stdout is not None
        payload = orjson.dumps(rows)
        proc.stdin.write(len(payload).to_bytes(HEADER, "big") + payload)
        await proc.stdin.drain()
        size = int.from_bytes(await proc.stdout.readexactly(HEADER), "big")
        answer = orjson.loads(await proc.stdout.readexactly(size))
        if not answer.get("ok"):
            raise WriterFailed(str(answer.get("error") or "unknown error"))

    async def write(self, rows: list[list[Any]]) -> None:
        try:
            await self._send(rows)
        except WriterFailed:
            # The writer is alive and the store refused the batch (a database away, a lock): a thread would
            # be refused the same, and restarting the writer costs a process start per flush. The request
            # log keeps the batch for its next flush.
            raise
        except (OSError, EOFError, asyncio.IncompleteReadError, orjson.JSONDecodeError) as exc:
            log.warning("request-log writer failed a batch of %d rows (%s); writing it here", len(rows), exc)
            await self._stop_process()
            await self.fallback.write(rows)

    async def _stop_process(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
        except TimeoutError:
            proc.kill()
            await proc.wait()

    async def close(self) -> None:
        await self._stop_process()
