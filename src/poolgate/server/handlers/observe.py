"""Read-only surfaces: Prometheus /metrics, the web UI's static files, and the OpenAPI document."""

from __future__ import annotations

from pathlib import Path

from poolgate.errors import ErrorKind, GatewayError
from poolgate.gateway import RequestContext
from poolgate.monitor.metrics import CONTENT_TYPE
from poolgate.server.asgi import Request, Response
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
    if req.path == "/ui":
        return Response(308, b"", [(b"location", b"/ui/")])
    return _static(req.path[len("/ui/") :])


async def openapi(req: Request, ctx: RequestContext, svc: Services) -> Response:
    return _static("openapi.json")
