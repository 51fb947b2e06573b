"""Read-only surfaces: the readiness probe, Prometheus /metrics, the web UI's static files, the OpenAPI document."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from poolgate import __version__
from poolgate.errors import ErrorKind, GatewayError
from poolgate.gateway import RequestContext
from poolgate.monitor.metrics import CONTENT_TYPE
from poolgate.server.asgi import Request, Response, json_response
from poolgate.services import Services

UI_DIR = Path(__file__).resolve().parents[2] / "ui"
_TYPES = {
    ".html": b"text/html; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".svg": b"image/svg+xml",
    ".json": b"application/json",
    ".png": b"image/png",
    ".ico": b"image/x-icon",
}
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'"),
]


# How long each dependency may take to answer the readiness probe before it counts as away.
READY_TIMEOUT = 2.0


async def ready(req: Request, ctx: RequestContext, svc: Services) -> Response:
    """GET /readyz for load balancers: 503 while this instance cannot serve requests.

    Not ready: stopping (so a balancer drains it during the shutdown grace), or its database or shared
    state (Redis) cannot be reached. Accounts that are all cooling do not count: every instance shares
    them, and the gateway's own 429 with Retry-After tells clients more than a balancer with no backends.
    """
    problems: list[str] = []
    if svc.stopping():
        problems.append("shutting down")

    async def probe(name: str, check: Callable[[], Awaitable[None]]) -> None:
        try:
            await asyncio.wait_for(check(), READY_TIMEOUT)
        except Exception as exc:  # any failure to answer is "not ready", named in the body
            problems.append(f"{name} cannot be reached ({type(exc).__name__})")

    await probe("database", lambda: asyncio.to_thread(svc.store.ping))
    await probe("shared state", svc.scheduler.state.ping)
    body = {
        "status": "not ready" if problems else "ready",
        "version": __version__,
        "accounts_usable": svc.scheduler.usable_count(),
        "problems": problems,
    }
    return json_response(body, status=503 if problems else 200)


async def metrics(req: Request, ctx: RequestContext, svc: Services) -> Response:
    states = [(await svc.scheduler.status(acc)).state.split(" ")[0] for acc in svc.scheduler.accounts]
    m = svc.metrics
    m.set_account_states(states)
    m.log_queue = svc.monitor.queued
    m.log_dropped_bodies = svc.monitor.dropped_bodies
    m.log_dropped_rows = svc.monitor.dropped_rows
    return Response(200, m.render(), [], media_type=CONTENT_TYPE.encode())


def _static(relative: str) -> Response:
    root = UI_DIR.resolve()
    target = (root / (relative or "index.html")).resolve()
    if root not in target.parents or not target.is_file():
        raise GatewayError(ErrorKind.NOT_FOUND, f"No UI file {relative!r}.")
    media = _TYPES.get(target.suffix, b"application/octet-stream")
    # index.html must always be fresh so a new version's scripts load; assets are small, so revalidate too.
    headers = [(b"cache-control", b"no-cache"), *_SECURITY_HEADERS]
    return Response(200, target.read_bytes(), headers, media_type=media)


async def ui(req: Request, ctx: RequestContext, svc: Services) -> Response:
    if req.path in ("/", "/ui"):
        return Response(308 if req.path == "/ui" else 307, b"", [(b"location", b"/ui/")])
    return _static(req.path[len("/ui/") :])


async def openapi(req: Request, ctx: RequestContext, svc: Services) -> Response:
    return _static("openapi.json")
