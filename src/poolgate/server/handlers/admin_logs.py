"""Admin API for the request log and usage: filter and page, one entry in full, a live SSE feed, stats."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from poolgate.gateway import RequestContext
from poolgate.server.asgi import Request, Response, StreamResponse, json_response
from poolgate.server.handlers.admin_common import not_found, tail
from poolgate.server.query import bool_query, int_query
from poolgate.services import Services

MAX_PAGE = 500
FEED_KEEPALIVE = b": keep-alive\n\n"


def _filters(req: Request) -> dict[str, Any]:
    since = req.query.get("since", "")
    try:
        since_ts = float(since) if since else None
    except ValueError:
        from poolgate.errors import invalid

        raise invalid("Query parameter 'since' must be a Unix timestamp.", "since") from None
    return {
        "errors_only": bool_query(req, "errors"),
        "search": req.query.get("q", "").strip(),
        "account": req.query.get("account", "").strip(),
        "model": req.query.get("model", "").strip(),
        "status": req.query.get("status", "").strip(),
        "since_ts": since_ts,
    }


async def list_logs(req: Request, ctx: RequestContext, svc: Services) -> Response:
    limit = int_query(req, "limit", 50, 1, MAX_PAGE)
    offset = int_query(req, "offset", 0, 0, 10_000_000)
    filters = _filters(req)
    await svc.monitor.catch_up()  # what was answered a moment ago belongs on the page
    items, total = await asyncio.to_thread(
        lambda: (svc.store.query_logs(limit=limit, offset=offset, **filters), svc.store.count_logs(**filters))
    )
    return json_response({"items": items, "total": total, "limit": limit, "offset": offset})


async def get_log(req: Request, ctx: RequestContext, svc: Services) -> Response:
    parts = tail(req, "/api/logs/")
    if len(parts) != 1:
        raise not_found(f"Unknown route {req.method} {req.path}.")
    await svc.monitor.catch_up()
    row = await asyncio.to_thread(svc.store.get_log, parts[0])
    if row is None:
        raise not_found(f"No log entry {parts[0]!r} (it may have aged out of retention).")
    return json_response(row)


async def feed(req: Request, ctx: RequestContext, svc: Services) -> StreamResponse:
    """Server-sent events: one `data:` line per finished request, as the log row without bodies."""
    queue = svc.monitor.subscribe()
    gone = asyncio.Event()

    async def watch() -> None:
        # Nobody else reads this request's receive channel (the route is not logged), so a disconnect lands here.
        with contextlib.suppress(Exception):
            while True:
                message = await req.receive()
                if message["type"] == "http.disconnect":
                    break
        gone.set()

    watcher = asyncio.get_running_loop().create_task(watch())

    async def events() -> AsyncIterator[bytes]:
        try:
            yield b"retry: 2000\n: connected\n\n"
            while not gone.is_set():
                getter = asyncio.ensure_future(queue.get())
                stopper = asyncio.ensure_future(gone.wait())
                done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                stopper.cancel()
                if getter not in done:
                    getter.cancel()
                    break
                yield b"data: " + orjson.dumps(getter.result()) + b"\n\n"
        finally:
            svc.monitor.unsubscribe(queue)
            watcher.cancel()

    return StreamResponse(200, events(), [], keepalive=FEED_KEEPALIVE, keepalive_interval=15.0)


async def stats(req: Request, ctx: RequestContext, svc: Services) -> Response:
    hours = int_query(req, "hours", 24, 1, 24 * 400)
    await svc.monitor.catch_up()
    first_hour = int(time.time() // 3600) - hours + 1
    by_model, by_hour = await asyncio.to_thread(
        lambda: (svc.store.usage_since(first_hour), svc.store.usage_by_hour(first_hour))
    )
    totals = {
        name: sum(int(row[name] or 0) for row in by_model)
        for name in ("requests", "errors", "input_tokens", "output_tokens", "cached_tokens", "thought_tokens")
    }
    monitor = svc.monitor
    return json_response(
        {
            "hours": hours,
            "first_hour": first_hour,
            "totals": totals,
            "by_account_model": by_model,
            "by_hour": by_hour,
            "log": {
                "written": monitor.written,
                "queued": monitor.queued,
                "dropped_bodies": monitor.dropped_bodies,
                "dropped_rows": monitor.dropped_rows,
                "retention_days": svc.config.monitor.retention_days,
            },
        }
    )
