"""RequestLog: a bounded queue of request records and the background task that writes them in batches."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import deque
from typing import Any

from poolgate.config import MonitorConfig
from poolgate.gateway import RequestContext
from poolgate.store.responses import ResponseStore
from poolgate.store.sql import SqlStore

log = logging.getLogger("poolgate.monitor")

_SECRET_PATTERNS = (
    re.compile(rb"(AIza[0-9A-Za-z_\-]{10})[0-9A-Za-z_\-]+"),
    re.compile(rb"(ya29\.[0-9A-Za-z_\-]{4})[0-9A-Za-z_\-.]+"),
    re.compile(rb"(1//[0-9A-Za-z_\-]{4})[0-9A-Za-z_\-]+"),
    re.compile(rb"(sk-[0-9A-Za-z]{2})[0-9A-Za-z_\-]{8,}"),
    re.compile(rb'("(?:api_key|apiKey|access_token|refresh_token|authorization|password)"\s*:\s*")[^"]+'),
)


def redact(body: bytes | None, cap: int) -> str | None:
    if body is None:
        return None
    clipped = body[:cap]
    for pattern in _SECRET_PATTERNS:
        clipped = pattern.sub(rb"\1***", clipped)
    text = clipped.decode("utf-8", "replace")
    if len(body) > cap:
        text += f"… [{len(body) - cap} more bytes]"
    return text


class RequestLog:
    """Never blocks the request path: put() is a deque append; a task flushes every half second."""

    def __init__(self, store: SqlStore, config: MonitorConfig) -> None:
        self.store = store
        self.config = config
        self._queue: deque[dict[str, Any]] = deque()
        self._task: asyncio.Task[None] | None = None
        self.dropped_bodies = 0
        self.written = 0
        self._listeners: list[asyncio.Queue[dict[str, Any]]] = []

    def put(self, ctx: RequestContext) -> None:
        if not self.config.enabled:
            return
        capture = self.config.capture_bodies
        if len(self._queue) >= self.config.queue_size:
            # Overflow keeps the row and sheds the bodies: the log stays complete, memory stays bounded.
            capture = False
            self.dropped_bodies += 1
        cap = self.config.body_cap_kb * 1024
        usage = ctx.usage
        account = ctx.account
        row: dict[str, Any] = {
            "id": ctx.request_id,
            "ts": ctx.started_wall,
            "method": ctx.method,
            "route": ctx.route,
            "protocol": ctx.protocol,
            "client_model": ctx.client_model,
            "mapped_model": ctx.mapped_model,
            "account_id": account.id if account else "",
            "account": account.display_name if account else "",
            "status": ctx.status,
            "stream": int(ctx.stream),
            "duration_ms": round((time.time() - ctx.started_wall) * 1000.0, 2),
            "overhead_ms": round(ctx.overhead_ms(), 3),
            "input_tokens": usage.prompt_tokens if usage else 0,
            "output_tokens": usage.completion_tokens if usage else 0,
            "cached_tokens": usage.cached_tokens if usage else 0,
            "thought_tokens": usage.thought_tokens if usage else 0,
            "attempts": ctx.attempts,
            "error": ctx.error[:2000],
            "client_ip": ctx.client_ip,
            "user_agent": ctx.user_agent[:300],
            "request_body": redact(ctx.request_body, cap) if capture else None,
            "response_body": redact(ctx.response_body, cap) if capture else None,
        }
        self._queue.append(row)
        for listener in self._listeners:
            with contextlib.suppress(asyncio.QueueFull):
                listener.put_nowait({k: v for k, v in row.items() if not k.endswith("_body")})

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
        await self.flush()

    async def _run(self) -> None:
        last_retention = 0.0
        while True:
            await asyncio.sleep(0.5)
            try:
                await self.flush()
                now = time.time()
                if now - last_retention > 3600:
                    last_retention = now
                    await self.enforce_retention(now)
            except Exception:  # the writer must outlive a bad batch or a locked database
                log.exception("request log flush failed")

    async def flush(self) -> None:
        if not self._queue:
            return
        batch = [self._queue.popleft() for _ in range(min(len(self._queue), 1000))]
        usage: dict[tuple[int, str, str], dict[str, Any]] = {}
        for row in batch:
            key = (int(row["ts"] // 3600), row["account"], row["mapped_model"] or row["client_model"])
            agg = usage.setdefault(
                key,
                {
                    "hour": key[0],
                    "account": key[1],
                    "model": key[2],
                    "requests": 0,
                    "errors": 0,
                    "input_tokens": 0,
                    "output_tokens": 0,
                    "cached_tokens": 0,
                    "thought_tokens": 0,
                },
            )
            agg["requests"] += 1
            agg["errors"] += int(row["status"] >= 400 or bool(row["error"]))
            for name in ("input_tokens", "output_tokens", "cached_tokens", "thought_tokens"):
                agg[name] += row[name]

        def write() -> None:
            self.store.insert_logs(batch)
            self.store.add_usage(list(usage.values()))

        await asyncio.to_thread(write)
        self.written += len(batch)

    async def enforce_retention(self, now: float) -> int:
        cutoff = now - self.config.retention_days * 86400
        await asyncio.to_thread(ResponseStore(self.store.engine).delete_before, cutoff)
        return await asyncio.to_thread(self.store.delete_logs_before, cutoff)
