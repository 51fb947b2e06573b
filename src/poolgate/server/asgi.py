"""A thin ASGI layer: Request, the two response kinds, and writing them (with keep-alives and disconnects)."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson

from poolgate.errors import ErrorKind, GatewayError
from poolgate.server import content_coding
from poolgate.timers import Sweeper, Timeout

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ClientGone(Exception):
    """The client closed its connection before its request had been read."""


class Request:
    __slots__ = ("_body", "_idle", "_query", "headers", "method", "path", "query_string", "receive", "scope", "timers")

    def __init__(self, scope: Scope, receive: Receive, timers: Sweeper | None = None, body_idle: float = 0.0) -> None:
        """`body_idle`: a body that stops arriving this many seconds is a 408 (uvicorn never times one out,
        so a client that stalled mid-upload held its connection and handler for ever); 0 waits."""
        self.scope = scope
        self.receive = receive
        self.timers = timers
        self._idle = body_idle
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query_string: bytes = scope.get("query_string", b"")
        self.headers: dict[str, str] = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self._body: bytes | None = None
        self._query: dict[str, str] | None = None

    @property
    def query(self) -> dict[str, str]:
        if self._query is None:
            self._query = dict(parse_qsl(self.query_string.decode("latin-1"), keep_blank_values=True))
        return self._query

    @property
    def client_ip(self) -> str:
        client = self.scope.get("client")
        return str(client[0]) if client else ""

    async def body(self, limit: int) -> bytes:
        if self._body is not None:
            return self._body
        declared = self.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise GatewayError(ErrorKind.TOO_LARGE, f"Request body exceeds the {limit // (1024 * 1024)} MB limit.")
        if self.timers is None or not self._idle:
            body = await self._read(limit, None)
        else:
            idle = self.timers.timeout(self._idle)
            try:
                with idle:
                    body = await self._read(limit, idle)
            except TimeoutError:
                raise GatewayError(
                    ErrorKind.INVALID_REQUEST,
                    f"The request body stopped arriving: nothing came for {self._idle:g} s.",
                    status=408,
                    code="request_timeout",
                ) from None
        encoding = self.headers.get("content-encoding")
        if encoding:
            applied = content_coding.codings(encoding)
            if applied and len(body) > content_coding.THREAD_ABOVE:
                body = await asyncio.to_thread(content_coding.decode, body, applied, limit)
            elif applied:
                body = content_coding.decode(body, applied, limit)
        self._body = body
        return body

    async def _read(self, limit: int, idle: Timeout | None) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientGone("client disconnected before its request body was read")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise GatewayError(ErrorKind.TOO_LARGE, f"Request body exceeds the {limit // (1024 * 1024)} MB limit.")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
            if idle is not None:
                idle.reset()


Headers = list[tuple[bytes, bytes]]


@dataclass(slots=True)
class Response:
    status: int
    body: bytes
    headers: Headers = field(default_factory=list)
    media_type: bytes = b"application/json"


@dataclass(slots=True)
class StreamResponse:
    status: int
    chunks: AsyncIterator[bytes]
    headers: Headers = field(default_factory=list)
    media_type: bytes = b"text/event-stream"
    keepalive: bytes = b""
    keepalive_interval: float = 15.0
    # The protocol's in-stream error and end of stream, for a stream the gateway must cut (shutting down).
    abort: Callable[[GatewayError], list[bytes]] | None = None


class ServerStopping(Exception):
    """A stream was ended early, with the protocol's error, because the gateway is shutting down."""


SHUTTING_DOWN = GatewayError(
    ErrorKind.NO_ACCOUNT, "The gateway is shutting down; try again.", retry_after=5.0, code="shutting_down"
)


async def replay(chunks: list[bytes]) -> AsyncIterator[bytes]:
    """A stream whose chunks were all made before it starts (retries stayed invisible)."""
    for chunk in chunks:
        yield chunk


def json_response(obj: Any, status: int = 200, headers: Headers | None = None) -> Response:
    return Response(status, orjson.dumps(obj), headers or [])


class ClientStalled(Exception):
    """The client stopped reading an answer: one write waited longer than the stall limit."""

    def __init__(self, stall_after: float) -> None:
        super().__init__(f"the client read nothing for {stall_after:g} s")


# A body larger than this goes out in pieces of this size, so that a client that stops reading it can
# be told from a slow one: each piece must be taken within the stall limit, not the whole body.
WRITE_PIECE = 256 * 1024


async def send_response(send: Send, response: Response, stall_after: float = 0.0) -> None:
    """Write a whole response; ClientStalled when a large body's piece waits `stall_after` s (0: never)."""
    body = response.body
    headers = [
        (b"content-type", response.media_type),
        (b"content-length", str(len(body)).encode()),
        *response.headers,
    ]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    if not stall_after or len(body) <= WRITE_PIECE:
        await send({"type": "http.response.body", "body": body})
        return
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(stall_after) as limit:
            for start in range(0, len(body), WRITE_PIECE):
                end = start + WRITE_PIECE
                await send({"type": "http.response.body", "body": body[start:end], "more_body": end < len(body)})
                limit.reschedule(loop.time() + stall_after)
    except TimeoutError:
        raise ClientStalled(stall_after) from None


class _StreamClock:
    """What the watchdog needs to know about the writer: when it last wrote, since when its current write
    has waited (0: not writing), and whether it is done or was stopped for stalling."""

    __slots__ = ("done", "last", "sending", "stalled")

    def __init__(self, now: float) -> None:
        self.last = now
        self.sending = 0.0
        self.done = False
        self.stalled = False


async def send_stream(
    send: Send, response: StreamResponse, stall_after: float = 0.0, stopping: Callable[[], bool] | None = None
) -> None:
    """Write a stream; during silences longer than the interval, write the protocol's keep-alive.

    Chunks are awaited and written directly; one watchdog task per stream handles the silences.
    (A task plus asyncio.wait per chunk cost several event-loop turns for every chunk and made
    poolgate's streams about five times slower per chunk than a plain relay.) The same watchdog
    raises ClientStalled in the writer when one write waits `stall_after` seconds (0: never) for a
    client that stopped reading but keeps its connection, which would otherwise hold the upstream
    call and its account for as long as the client stays. When the server cancels the writer while
    `stopping()` (the shutdown's grace period is over), the stream ends properly, after
    `response.abort`'s error if it has one, and ServerStopping is raised once that has been written.
    """
    headers = [
        (b"content-type", response.media_type),
        (b"cache-control", b"no-cache"),
        (b"x-accel-buffering", b"no"),
        *response.headers,
    ]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    loop = asyncio.get_running_loop()
    iterator = response.chunks.__aiter__()
    clock = _StreamClock(loop.time())
    watchdog: asyncio.Task[None] | None = None
    writer = asyncio.current_task()
    aborted = False
    if response.keepalive or stall_after:
        watchdog = loop.create_task(_watch(send, response, clock, writer, stall_after))
    try:
        async for chunk in iterator:
            clock.sending = clock.last = loop.time()
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            clock.sending = 0.0
    except asyncio.CancelledError:
        if writer is None:
            raise
        if clock.stalled:
            writer.uncancel()
            raise ClientStalled(stall_after) from None
        if stopping is None or not stopping():
            raise
        writer.uncancel()
        aborted = True
    finally:
        clock.done = True
        if watchdog is not None:
            watchdog.cancel()
            with contextlib.suppress(BaseException):
                await watchdog
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
    if aborted and response.abort is not None:
        for chunk in response.abort(SHUTTING_DOWN):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    if aborted:
        raise ServerStopping(SHUTTING_DOWN.message)


async def _watch(
    send: Send, response: StreamResponse, clock: _StreamClock, writer: asyncio.Task[Any] | None, stall_after: float
) -> None:
    loop = asyncio.get_running_loop()
    interval = response.keepalive_interval if response.keepalive else 0.0
    try:
        while not clock.done:
            now = loop.time()
            if clock.sending:
                # A keep-alive behind a write that cannot go out is pointless: only watch it for a stall.
                if stall_after and now - clock.sending >= stall_after:
                    clock.stalled = True
                    if writer is not None:
                        writer.cancel()
                    return
                wake = clock.sending + stall_after if stall_after else now + interval
            elif interval and now - clock.last >= interval:
                # No await between the checks and this write: a keep-alive can never follow the final
                # body message, nor land inside a chunk.
                clock.last = now
                await send({"type": "http.response.body", "body": response.keepalive, "more_body": True})
                continue
            else:
                wake = min(
                    clock.last + interval if interval else math.inf, now + stall_after if stall_after else math.inf
                )
            await asyncio.sleep(max(0.01, wake - now))
    except Exception:
        # The client is gone: stop the writer too, so the upstream call and its account are freed.
        if writer is not None and not clock.done:
            writer.cancel()
