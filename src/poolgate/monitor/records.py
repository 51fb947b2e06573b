"""RequestLog: a bounded queue of request records and the background task that writes them in batches."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import time
from collections import deque
from typing import Any

from poolgate.config import MonitorConfig
from poolgate.gateway import RequestContext
from poolgate.monitor.logrows import as_dict, log_values
from poolgate.monitor.sinks import Sink, ThreadSink
from poolgate.outages import Outage
from poolgate.store.responses import ResponseStore
from poolgate.store.sql import SqlStore

log = logging.getLogger("poolgate.monitor")

BATCH_SIZE = 1000
FLUSH_INTERVAL = 0.5
RETENTION_INTERVAL = 3600.0
SIZE_INTERVAL = 60.0
# Past the size cap, rows are deleted until the log is this fraction of it, so it is not trimmed every minute.
SIZE_TARGET = 0.9
DELETE_CHUNK = 2000
# Past this many queued rows even body-less rows are shed (and counted): a stalled database must not eat memory.
HARD_LIMIT_FACTOR = 10
# While the store refuses writes (a database outage), one log line per this many seconds, not one per flush.
WARN_EVERY_SECONDS = 60.0

_BODY_COLUMNS = ("request_body", "response_body")

# A finished request as queued: its context, when it ended, gateway overhead (ms), and whether bodies are kept.
_Entry = tuple[RequestContext, float, float, bool]


class RequestLog:
    """Never blocks the request path: put() appends the finished context; a task flushes every half second.

    The flush builds plain rows (bodies capped, as text) and hands each batch to the sink, which
    redacts and stores it: the writer process in a server (see sinks.py), a thread otherwise. Building
    the row in put() instead cost ~4 µs of every request.
    """

    def __init__(self, store: SqlStore, config: MonitorConfig, sink: Sink | None = None) -> None:
        self.store = store
        self.config = config
        self.sink: Sink = sink or ThreadSink(store)
        self._queue: deque[_Entry] = deque()
        self._task: asyncio.Task[None] | None = None
        self.dropped_bodies = 0
        self.dropped_rows = 0
        self.written = 0
        self.failed_batches = 0
        # Rows of batches the store refused, oldest first: written before newer rows once it takes them again.
        self._retry: deque[list[Any]] = deque()
        self._outage = Outage(log, "request log cannot be written", "request log written again", WARN_EVERY_SECONDS)
        self._last_retention = 0.0
        self._last_size_check = 0.0
        self._warned_size = False
        # Readers (the admin API) flush before they query; the lock makes them wait for a batch the
        # writer task already took off the queue, so "answered" always means "visible in the log".
        self._flush_lock: asyncio.Lock | None = None
        self._listeners: list[asyncio.Queue[dict[str, Any]]] = []

    @property
    def queued(self) -> int:
        return len(self._queue) + len(self._retry)

    @property
    def _hard_limit(self) -> int:
        """Queued and refused rows together past which rows are dropped (and counted), not kept."""
        return max(self.config.queue_size, 1) * HARD_LIMIT_FACTOR

    def configure(self, config: MonitorConfig) -> None:
        """Apply new monitor settings live; a changed retention is enforced on the next flush."""
        if config.retention_days != self.config.retention_days:
            self._last_retention = 0.0
        if config.max_log_mb != self.config.max_log_mb:
            self._last_size_check = 0.0
        self.config = config

    def put(self, ctx: RequestContext) -> None:
        """Queue the finished request; its row is built when the queue is flushed (see `log_values`)."""
        if not self.config.enabled:
            return
        capture = self.config.capture_bodies
        size = len(self._queue) + len(self._retry)  # rows refused by an away database count too
        if size >= self.config.queue_size:
            if size >= self._hard_limit:
                self.dropped_rows += 1
                return
            # Overflow keeps the row and sheds the bodies: the log stays complete, memory stays bounded.
            capture = False
            if ctx.request_body is not None or ctx.response_body is not None:
                self.dropped_bodies += 1
        # Only what changes with time is read now; the context is not touched after the response.
        entry = (ctx, time.time(), ctx.overhead_ms(), capture)
        self._queue.append(entry)
        if self._listeners:
            public = as_dict(log_values(ctx, entry[1], entry[2], False, 0))  # no bodies on the live feed
            for name in _BODY_COLUMNS:
                del public[name]
            for listener in self._listeners:
                with contextlib.suppress(asyncio.QueueFull):
                    listener.put_nowait(public)

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)
        self._listeners.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(queue)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.flush()
        if self.queued:
            log.warning("%d request-log rows could not be written before the gateway stopped", self.queued)
        with contextlib.suppress(Exception):
            await self.sink.close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            # Shielded: stop() cancels this loop, and a batch already taken off the queue must still
            # reach the store (stop's own flush waits for it on the flush lock).
            await asyncio.shield(self._periodic())

    async def _periodic(self) -> None:
        try:
            await self.flush()
            now = time.time()
            if now - self._last_retention > RETENTION_INTERVAL:
                self._last_retention = now
                await self.enforce_retention(now)
            if now - self._last_size_check > SIZE_INTERVAL:
                self._last_size_check = now
                await self.enforce_size()
        except Exception as exc:  # the writer must outlive a bad batch or a database that is away
            self._refused(exc)
        else:
            self._outage.succeeded()

    def _refused(self, exc: Exception) -> None:
        self.failed_batches += 1
        self._outage.failed(exc, f"{self.queued} rows wait and are retried every {FLUSH_INTERVAL:g} s")

    async def flush(self) -> None:
        """Write everything queued, in batches; each batch is one transaction."""
        if self._flush_lock is None:
            self._flush_lock = asyncio.Lock()
        async with self._flush_lock:
            await self._drain()

    async def catch_up(self) -> None:
        """Before a read of the log, write what is queued so the last requests are on the page.

        A store that refuses writes (a full disk, a database away) keeps the rows queued, as `_drain` does,
        for the periodic flush to retry; the refusal is logged like the periodic flush's, and the read goes
        on with what is stored.
        """
        try:
            await self.flush()
        except Exception as exc:
            self._refused(exc)

    async def _drain(self) -> None:
        """Write the rows queued when the flush began, after any the store refused before.

        Not "until the queue is empty": requests keep queueing while a batch is in the writer, so under
        steady load that loop never ended and wrote a batch of a row or two per round trip to the
        writer (a pipe write, a wake-up and a commit per request). Later rows wait for the next flush.
        A batch the store refuses stays, in order, for the next flush: a database outage loses no
        rows unless it outlasts the queue's hard limit (then put() sheds new ones, counted as dropped).
        """
        while self._retry:
            batch = list(itertools.islice(self._retry, BATCH_SIZE))
            await self.sink.write(batch)
            for _ in batch:
                self._retry.popleft()
            self.written += len(batch)
        cap = self.config.body_cap_kb * 1024
        left = len(self._queue)
        while left > 0 and self._queue:
            take = min(left, len(self._queue), BATCH_SIZE)
            left -= take
            batch = [log_values(*self._queue.popleft(), cap) for _ in range(take)]
            try:
                await self.sink.write(batch)
            except Exception:
                self._keep_for_retry(batch)
                raise
            self.written += len(batch)

    def _keep_for_retry(self, batch: list[list[Any]]) -> None:
        self._retry.extend(batch)
        excess = len(self._retry) - self._hard_limit
        for _ in range(max(0, excess)):
            self._retry.popleft()
            self.dropped_rows += 1

    async def enforce_size(self) -> int:
        """Past `max_log_mb`, delete the oldest rows until the log is a tenth under the cap.

        How many go is worked out from the average row, so one pass usually does it; the hourly usage
        totals (`poolgate stats`) are kept.
        """
        cap = self.config.max_log_mb * 1024 * 1024
        if cap <= 0:
            return 0
        used = await asyncio.to_thread(self.store.log_bytes)
        if used <= cap:
            return 0
        rows = await asyncio.to_thread(self.store.count_logs)
        if rows == 0:
            if not self._warned_size:
                self._warned_size = True
                log.warning("the database holds %d MB with an empty request log: max_log_mb cannot help", used >> 20)
            return 0
        remaining = min(rows, math.ceil((used - cap * SIZE_TARGET) / (used / rows)))
        deleted = 0
        while remaining > 0:
            # Short transactions: the log writer's inserts wait for each one (busy_timeout) in between.
            done = await asyncio.to_thread(self.store.delete_oldest_logs, min(remaining, DELETE_CHUNK))
            if done == 0:
                break
            deleted += done
            remaining -= done
        log.info("request log over %d MB: deleted the %d oldest rows", self.config.max_log_mb, deleted)
        return deleted

    async def enforce_retention(self, now: float) -> int:
        cutoff = now - self.config.retention_days * 86400
        # Stored Responses API objects age out with the log that recorded them.
        await asyncio.to_thread(ResponseStore(self.store.engine).delete_before, cutoff)
        deleted = await asyncio.to_thread(self.store.delete_logs_before, cutoff)
        if deleted:
            log.info("request log retention: deleted %d rows older than %d days", deleted, self.config.retention_days)
        return deleted
