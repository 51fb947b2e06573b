"""create_app(services) -> ASGI app: the route table, auth, error rendering and per-request bookkeeping."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.exc import OperationalError

from poolgate import __version__
from poolgate.errors import ErrorKind, GatewayError
from poolgate.gateway import RequestContext
from poolgate.protocols.anthropic import errors as anthropic_errors
from poolgate.protocols.gemini import errors as gemini_errors
from poolgate.protocols.openai_chat import errors as openai_errors
from poolgate.server import auth
from poolgate.server.asgi import (
    SHUTTING_DOWN,
    ClientGone,
    ClientStalled,
    Receive,
    Request,
    Response,
    Scope,
    Send,
    ServerStopping,
    StreamResponse,
    json_response,
    send_response,
    send_stream,
)
from poolgate.server.handlers import (
    admin_accounts,
    admin_config,
    admin_logs,
    anthropic,
    audio,
    embeddings,
    gemini,
    images,
    observe,
    openai,
    responses,
    speech,
)
from poolgate.server.handlers import oauth as oauth_handlers
from poolgate.server.pipeline import routing_headers
from poolgate.server.request_ids import RequestIds
from poolgate.services import Services
from poolgate.timers import Sweeper

log = logging.getLogger("poolgate.server")

Handler = Callable[[Request, RequestContext, Services], Awaitable[Response | StreamResponse]]

OPENAI, ANTHROPIC, GEMINI, ADMIN, PLAIN = "openai", "anthropic", "gemini", "admin", "plain"
CLIENT, PUBLIC, ADMIN_AUTH = "client", "public", "admin"

RENDERERS: dict[str, Callable[[GatewayError], tuple[int, bytes]]] = {
    OPENAI: openai_errors.render,
    ANTHROPIC: anthropic_errors.render,
    GEMINI: gemini_errors.render,
    ADMIN: openai_errors.render,
    PLAIN: openai_errors.render,
}

CORS_ALLOW_ORIGIN = (b"access-control-allow-origin", b"*")
# The preflight answer; an actual response needs only the allow-origin line, and only browsers (which
# always send Origin on a cross-origin request) read it. Every header costs uvicorn two regex checks.
CORS_PREFLIGHT_HEADERS = [
    CORS_ALLOW_ORIGIN,
    (b"access-control-allow-methods", b"GET, POST, PUT, PATCH, DELETE, OPTIONS"),
    (b"access-control-allow-headers", b"*"),
    (b"access-control-max-age", b"3600"),
]


@dataclass(frozen=True, slots=True)
class Route:
    handler: Handler
    protocol: str
    auth: str = CLIENT
    logged: bool = True
    # For paths two protocols share (GET /v1/models): picks the protocol from the request.
    choose: Callable[[Request], str] | None = None

    def protocol_for(self, req: Request) -> str:
        return self.choose(req) if self.choose is not None else self.protocol


async def health(req: Request, ctx: RequestContext, svc: Services) -> Response:
    return json_response({"status": "ok", "version": __version__})


class Router:
    """Exact routes in a dict; prefix routes checked in order; a partial match on path gives 405."""

    def __init__(self) -> None:
        self.exact: dict[str, dict[str, Route]] = {}
        self.prefixes: list[tuple[str, dict[str, Route]]] = []

    def add(self, method: str, path: str, route: Route) -> None:
        self.exact.setdefault(path, {})[method] = route

    def add_prefix(self, method: str, prefix: str, route: Route) -> None:
        for existing, methods in self.prefixes:
            if existing == prefix:
                methods[method] = route
                return
        self.prefixes.append((prefix, {method: route}))
        self.prefixes.sort(key=lambda item: -len(item[0]))

    def match(self, method: str, path: str) -> tuple[Route | None, bool]:
        methods = self.exact.get(path)
        if methods is None:
            for prefix, candidate in self.prefixes:
                if path.startswith(prefix):
                    methods = candidate
                    break
        if methods is None:
            return None, False
        route = methods.get(method) or (methods.get("GET") if method == "HEAD" else None)
        return route, True

    def allowed(self, path: str) -> str:
        """The methods a known path takes, for a 405's `Allow` header (HEAD wherever GET is; OPTIONS for CORS)."""
        methods = self.exact.get(path)
        if methods is None:
            methods = next((candidate for prefix, candidate in self.prefixes if path.startswith(prefix)), {})
        names = set(methods) | ({"HEAD"} if "GET" in methods else set()) | {"OPTIONS"}
        return ", ".join(sorted(names))


def default_routes() -> Router:
    r = Router()
    r.add("GET", "/healthz", Route(health, PLAIN, CLIENT, logged=False))
    r.add("GET", "/health", Route(health, PLAIN, CLIENT, logged=False))
    # One model list for every family: Gemini's shape for Gemini credentials, Anthropic's when the
    # request carries `anthropic-version`, else OpenAI's.
    r.add("GET", "/v1/models", Route(gemini.list_models_any, OPENAI, logged=False, choose=_protocol_from_headers))
    r.add("POST", "/v1/chat/completions", Route(openai.chat_completions, OPENAI))
    r.add("POST", "/v1/completions", Route(openai.completions, OPENAI))
    r.add("POST", "/v1/messages", Route(anthropic.messages, ANTHROPIC))
    r.add("POST", "/v1/messages/count_tokens", Route(anthropic.count_tokens, ANTHROPIC))
    r.add("POST", "/v1/responses", Route(responses.create, OPENAI))
    r.add("POST", "/v1/responses/compact", Route(responses.compact, OPENAI))
    r.add("POST", "/v1/responses/input_tokens", Route(responses.input_tokens, OPENAI))
    r.add("POST", "/v1/images/generations", Route(images.generations, OPENAI))
    r.add("POST", "/v1/images/edits", Route(images.edits, OPENAI))
    r.add("POST", "/v1/embeddings", Route(embeddings.create, OPENAI))
    r.add("POST", "/v1/audio/transcriptions", Route(audio.transcriptions, OPENAI))
    r.add("POST", "/v1/audio/translations", Route(audio.translations, OPENAI))
    r.add("POST", "/v1/audio/speech", Route(speech.create, OPENAI))
    r.add("GET", "/v1/responses", Route(responses.refuse_websocket, OPENAI, logged=False))
    r.add_prefix("GET", responses.PREFIX, Route(responses.retrieve, OPENAI, logged=False))
    r.add_prefix("DELETE", responses.PREFIX, Route(responses.delete, OPENAI, logged=False))
    r.add_prefix("POST", responses.PREFIX, Route(responses.cancel, OPENAI, logged=False))
    add_gemini_routes(r)
    r.add("POST", "/api/accounts/oauth/start", Route(oauth_handlers.start, ADMIN, ADMIN_AUTH, logged=False))
    r.add("POST", "/api/accounts/oauth/complete", Route(oauth_handlers.complete, ADMIN, ADMIN_AUTH, logged=False))
    r.add("POST", "/api/accounts/oauth/import", Route(oauth_handlers.import_token, ADMIN, ADMIN_AUTH, logged=False))
    r.add("GET", oauth_handlers.CALLBACK_PATH, Route(oauth_handlers.callback, PLAIN, PUBLIC, logged=False))
    add_monitor_routes(r)
    return r


def _protocol_from_headers(req: Request) -> str:
    """Gemini for Gemini credentials, Anthropic for `anthropic-version`, else OpenAI (routes they share)."""
    if gemini.has_gemini_credentials(req):
        return GEMINI
    return ANTHROPIC if anthropic.wants_anthropic(req) else OPENAI


def add_gemini_routes(r: Router) -> None:
    r.add("GET", "/v1beta/models", Route(gemini.list_models, GEMINI, logged=False))
    r.add_prefix("GET", "/v1beta/models/", Route(gemini.get_model, GEMINI, logged=False))
    r.add_prefix("POST", "/v1beta/models/", Route(gemini.model_action, GEMINI))
    r.add_prefix("GET", "/v1/models/", Route(gemini.get_model_any, OPENAI, logged=False, choose=_protocol_from_headers))
    r.add_prefix("POST", "/v1/models/", Route(gemini.model_action, GEMINI))


def add_monitor_routes(r: Router) -> None:
    """/metrics, the admin API under /api and the web UI under /ui (documented in docs/openapi.yaml)."""

    def admin(method: str, path: str, handler: Handler) -> None:
        route = Route(handler, ADMIN, ADMIN_AUTH, logged=False)
        if path.endswith("/"):
            r.add_prefix(method, path, route)
        else:
            r.add(method, path, route)

    r.add("GET", "/readyz", Route(observe.ready, PLAIN, CLIENT, logged=False))
    r.add("GET", "/metrics", Route(observe.metrics, PLAIN, CLIENT, logged=False))
    # Someone who opens the gateway's address in a browser is looking for its pages.
    r.add("GET", "/", Route(observe.ui, PLAIN, PUBLIC, logged=False))
    r.add("GET", "/ui", Route(observe.ui, PLAIN, PUBLIC, logged=False))
    r.add_prefix("GET", "/ui/", Route(observe.ui, PLAIN, PUBLIC, logged=False))
    r.add("GET", "/api/openapi.json", Route(observe.openapi, ADMIN, PUBLIC, logged=False))
    admin("GET", "/api/accounts", admin_accounts.list_accounts)
    admin("POST", "/api/accounts", admin_accounts.add_account)
    for method in ("GET", "POST", "DELETE"):
        admin(method, "/api/accounts/", admin_accounts.account_action)
    admin("GET", "/api/cooldowns", admin_accounts.list_cooldowns)
    admin("DELETE", "/api/cooldowns", admin_accounts.clear_cooldowns)
    admin("GET", "/api/mapping", admin_config.get_mapping)
    admin("PUT", "/api/mapping", admin_config.set_mapping)
    admin("POST", "/api/mapping", admin_config.set_mapping)
    admin("DELETE", "/api/mapping", admin_config.delete_mapping)
    admin("GET", "/api/config", admin_config.get_config)
    admin("PATCH", "/api/config", admin_config.patch_config)
    admin("DELETE", "/api/config/overrides", admin_config.reset_config)
    admin("POST", "/api/config/reload", admin_config.reload_config)
    admin("GET", "/api/logs", admin_logs.list_logs)
    admin("GET", "/api/logs/stream", admin_logs.feed)
    admin("GET", "/api/logs/", admin_logs.get_log)
    admin("GET", "/api/stats", admin_logs.stats)


_HINTS = (
    ("chat/completions", "/v1/chat/completions"),
    ("/responses", "/v1/responses"),
    ("/completions", "/v1/completions"),
    ("/messages", "/v1/messages"),
    ("/models", "/v1/models"),
)


# Resources the upstream keeps per account (files, context caches): a pool cannot serve them, since the next
# request may go to another account. The 404 says so and what to send instead.
_PER_ACCOUNT = (
    (
        "/files",
        " Uploaded files are not served: each belongs to one upstream account and poolgate spreads requests"
        " over several. Send the content inline (base64 data) or as a URL in the request instead.",
    ),
    (
        "/batches",
        " Batch jobs are not served: each belongs to one upstream account and poolgate spreads requests over"
        " several. Send the requests one by one (concurrently if you like) instead.",
    ),
    (
        "/operations",
        " Long-running operations are not served: each belongs to one upstream account and poolgate spreads"
        " requests over several.",
    ),
    (
        "/cachedContents",
        " Explicit context caches are not served: each belongs to one upstream account and poolgate spreads"
        " requests over several. Gemini caches repeated prompt prefixes by itself (usage reports them as"
        " cached tokens).",
    ),
)


def not_found_hint(path: str, router: Router) -> str:
    for needle, why in _PER_ACCOUNT:
        if needle in path:
            return why
    if path.startswith("/v1/") is False and f"/v1{path}" in router.exact:
        return f" Did you mean /v1{path}? Set the client's base URL to end with /v1."
    for needle, target in _HINTS:
        if needle in path and target in router.exact and path != target:
            return (
                f" Did you mean {target}? Check that the client's base URL is http://HOST:PORT/v1 and not a full path."
            )
    return ""


def create_app(svc: Services, router: Router | None = None) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    routes = router or default_routes()
    mode = svc.config.effective_auth_mode
    body_limit = svc.config.proxy.max_body_mb * 1024 * 1024
    client_idle = svc.config.proxy.client_idle_seconds
    request_ids = RequestIds()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                # Codex probes a WebSocket first; refusing at once lets it fall back to HTTP without a stall.
                await send({"type": "websocket.close", "code": 1008})
            return
        req = Request(scope, receive, svc.gateway.timers, client_idle)
        request_id = request_ids.next()
        ctx = RequestContext(request_id=request_id, route=req.path, protocol=PLAIN, method=req.method)
        ctx.client_ip = req.client_ip
        ctx.user_agent = req.headers.get("user-agent", "")
        base_headers = [(b"x-request-id", request_id.encode())]
        if req.method == "OPTIONS":
            await send_response(send, Response(204, b"", base_headers + CORS_PREFLIGHT_HEADERS))
            return
        if "origin" in req.headers:
            base_headers.append(CORS_ALLOW_ORIGIN)
        route, path_known = routes.match(req.method, req.path)
        protocol = route.protocol_for(req) if route else _protocol_for_unknown(req)
        ctx.protocol = protocol
        watcher: DisconnectWatch | None = None
        try:
            if route is None:
                if path_known:
                    raise GatewayError(
                        ErrorKind.METHOD_NOT_ALLOWED,
                        f"Method {req.method} is not allowed on {req.path}.",
                        allow=routes.allowed(req.path),
                    )
                raise GatewayError(
                    ErrorKind.NOT_FOUND,
                    f"Unknown route {req.method} {req.path}.{not_found_hint(req.path, routes)}",
                )
            if route.auth == ADMIN_AUTH:
                await _authenticate_admin(req, svc)
            else:
                _authenticate(route, req, svc, mode, protocol)
            if route.logged:
                # The body is read before the watcher starts so the two never compete for receive().
                await req.body(body_limit)
                watcher = DisconnectWatch(receive, svc.gateway.timers)
                ctx.after_send = []
            response = await route.handler(req, ctx, svc)
        except GatewayError as err:
            if err.code == "request_timeout":
                svc.metrics.client_dropped("body_timeout")
            response = _error_response(err, protocol, ctx, svc)
        except ClientGone as exc:
            svc.metrics.client_dropped("left_mid_body")
            _record_gone(ctx, route, svc, str(exc))
            return
        except asyncio.CancelledError:
            if watcher is not None and watcher.done():
                _record_gone(ctx, route, svc, "client disconnected")
                if ctx.after_send:
                    # The upstream answered before the client left (the handler was still storing or
                    # converting it): the scheduler still learns of that success. The cancel was ours.
                    task = asyncio.current_task()
                    if task is not None:
                        task.uncancel()
                    await _after_send(ctx.after_send, request_id)
                return
            task = asyncio.current_task()
            if not svc.stopping() or task is None:
                raise
            # The shutdown's grace period is over: answer in the client's protocol instead of a cut.
            task.uncancel()
            svc.metrics.client_dropped("shutdown")
            response = _error_response(SHUTTING_DOWN, protocol, ctx, svc)
        except OperationalError as exc:
            # The database is away or locked (admin changes, stored responses): say so, without a traceback.
            log.warning("%s %s: the database cannot be reached: %s", req.method, req.path, str(exc).splitlines()[0])
            response = _error_response(
                GatewayError(
                    ErrorKind.NO_ACCOUNT,
                    "The gateway's database cannot be reached; try again shortly.",
                    retry_after=5.0,
                    code="store_unavailable",
                ),
                protocol,
                ctx,
                svc,
            )
        except Exception:
            log.exception("unhandled error on %s %s", req.method, req.path)
            response = _error_response(
                GatewayError(ErrorKind.INTERNAL, f"Internal error (request id {request_id})."),
                protocol,
                ctx,
                svc,
            )
        response.headers[:0] = base_headers
        ctx.status = response.status
        try:
            if isinstance(response, StreamResponse) and route is not None and route.logged:
                svc.metrics.stream_started()
                try:
                    await send_stream(send, response, client_idle, svc.stopping)
                finally:
                    svc.metrics.stream_ended()
            elif isinstance(response, StreamResponse):
                await send_stream(send, response, client_idle, svc.stopping)
            else:
                if response.status >= 400 and not ctx.error:
                    ctx.error = response.body[:2000].decode("utf-8", "replace")
                await send_response(send, response, client_idle)
        except ServerStopping as exc:
            svc.metrics.client_dropped("shutdown")
            ctx.error = f"cut short: {exc}"
        except ClientStalled as exc:
            svc.metrics.client_dropped("stopped_reading")
            # Returning leaves the response incomplete, so uvicorn closes the connection (with a log line).
            log.warning("%s %s (request %s): dropped, %s", req.method, req.path, request_id, exc)
            ctx.status = 499
            ctx.error = f"client stopped reading: {exc}"
        except (OSError, asyncio.CancelledError):
            # A client that leaves mid-stream cancels us through the watcher; the record still gets written.
            ctx.error = ctx.error or "client disconnected"
            if watcher is None or not watcher.done():
                raise
        finally:
            if watcher is not None:
                watcher.cancel()
            if route is not None and route.logged:
                svc.monitor.put(ctx)
                svc.metrics.observe(ctx, time.perf_counter() - ctx.started)
        if ctx.after_send:
            await _after_send(ctx.after_send, request_id)

    async def lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    return app


def _record_gone(ctx: RequestContext, route: Route | None, svc: Services, reason: str) -> None:
    """Log a request whose client left before it could be answered."""
    ctx.status = 499
    ctx.error = reason
    if route is not None and route.logged:
        svc.monitor.put(ctx)
        svc.metrics.observe(ctx, time.perf_counter() - ctx.started)


async def _after_send(jobs: list[Callable[[], Awaitable[None]]], request_id: str) -> None:
    for job in jobs:
        try:
            await job()
        except GatewayError:
            pass  # shared state unreachable: its own outage log says so, once per interval
        except Exception:
            log.exception("request %s: bookkeeping after the answer failed", request_id)


def _protocol_for_unknown(req: Request) -> str:
    """The error shape for a route the gateway does not serve: the client's, as far as the request tells."""
    path = req.path
    if path.startswith("/api/"):
        return ADMIN
    if path.startswith("/v1beta/"):
        return GEMINI
    # google-genai also calls /v1/... and /upload/v1/..., always with x-goog-api-key.
    chosen = _protocol_from_headers(req)
    return ANTHROPIC if chosen == OPENAI and path.startswith("/v1/messages") else chosen


def _authenticate(route: Route, req: Request, svc: Services, mode: str, protocol: str) -> None:
    if route.auth == PUBLIC or not auth.needs_client_auth(mode, req.path):
        return  # client auth is off here: no key to look for
    query = req.query if protocol == GEMINI else None
    auth.check_client(mode, req.path, auth.extract_key(req.headers, query), svc.api_key)


async def _authenticate_admin(req: Request, svc: Services) -> None:
    key = auth.extract_key(req.headers)
    await svc.admin_lockout.check(req.client_ip)
    try:
        auth.check_admin(key, svc.admin_secret)
    except GatewayError:
        if key:
            await svc.admin_lockout.failed(req.client_ip)
        raise
    await svc.admin_lockout.succeeded(req.client_ip)


def _error_response(err: GatewayError, protocol: str, ctx: RequestContext, svc: Services) -> Response:
    status, body = RENDERERS.get(protocol, openai_errors.render)(err)
    headers = routing_headers(ctx, svc) if ctx.mapped_model else []
    if err.retry_after is not None:
        headers.append((b"retry-after", str(max(1, math.ceil(err.retry_after))).encode()))
    if err.allow:
        headers.append((b"allow", err.allow.encode()))
    if status == 401 and protocol != GEMINI:
        headers.append((b"www-authenticate", b"Bearer"))
    ctx.error = err.message
    return Response(status, body, headers)


# A request answered sooner than this never starts a watcher task: creating it, running its first
# step and cancelling it cost about 60 µs per request on the 2-core bench machine, a quarter of a
# whole minimal proxy request. A client that leaves earlier is noticed at this point instead.
# The delay runs on the shared coarse timers (poolgate.timers), not on a loop timer of its own.
WATCH_DELAY = 0.02


class DisconnectWatch:
    """Cancel the handler when the client goes away, so the upstream call and its account are freed."""

    __slots__ = ("_handler", "_key", "_receive", "_task", "_timers")

    def __init__(self, receive: Receive, timers: Sweeper, delay: float = WATCH_DELAY) -> None:
        self._receive = receive
        self._handler = asyncio.current_task()
        self._task: asyncio.Task[None] | None = None
        self._timers = timers
        self._key: int | None = timers.call_later(delay, self._start)

    def _start(self) -> None:
        self._key = None
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        with contextlib.suppress(Exception):
            while True:
                message = await self._receive()
                if message["type"] == "http.disconnect":
                    if self._handler is not None:
                        self._handler.cancel()
                    return

    def done(self) -> bool:
        """True once the watcher has seen the client leave (and cancelled the handler)."""
        return self._task is not None and self._task.done()

    def cancel(self) -> None:
        if self._key is not None:
            self._timers.cancel(self._key)
            self._key = None
        if self._task is not None:
            self._task.cancel()
