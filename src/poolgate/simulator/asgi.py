"""The ASGI calling convention and a thin request/response wrapper the simulator's handlers share."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

Headers = list[tuple[bytes, bytes]]

JSON_HEADERS: Headers = [(b"content-type", b"application/json; charset=UTF-8")]
SSE_HEADERS: Headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]


class ConnectionCut(Exception):
    """Raised after a partial response on purpose: uvicorn then closes the socket mid-body.

    That is the only portable way an ASGI app can make a client see a broken transfer.
    """


class Request:
    """One HTTP exchange: the parsed bits of the scope, the matched path parameters and send helpers."""

    __slots__ = ("_query", "params", "path", "receive", "scope", "send")

    def __init__(self, scope: Scope, receive: Receive, send: Send, params: dict[str, str]) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.params = params
        self.path: str = scope["path"]
        self._query: dict[str, list[str]] | None = None

    @property
    def method(self) -> str:
        return str(self.scope["method"])

    def header(self, name: bytes) -> str | None:
        """The first value of a header; `name` must be lower-case, as ASGI delivers them."""
        for key, value in self.scope["headers"]:
            if key == name:
                return str(value.decode("latin-1"))
        return None

    def headers(self) -> dict[str, str]:
        return {k.decode("latin-1"): v.decode("latin-1") for k, v in self.scope["headers"]}

    def query(self, name: str) -> str | None:
        raw: bytes = self.scope.get("query_string", b"")
        if not raw:
            return None
        if self._query is None:
            self._query = parse_qs(raw.decode("latin-1"), keep_blank_values=True)
        values = self._query.get(name)
        return values[0] if values else None

    async def body(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def sleep_unless_disconnected(self, seconds: float) -> bool:
        """Sleep; True (early) when the client closed the connection meanwhile. Call after body()."""
        waiter = asyncio.ensure_future(self._disconnected())
        try:
            done, _ = await asyncio.wait({waiter}, timeout=seconds)
            return bool(done)
        finally:
            if not waiter.done():
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter

    async def _disconnected(self) -> None:
        while (await self.receive())["type"] != "http.disconnect":
            pass

    async def start(self, status: int, headers: Iterable[tuple[bytes, bytes]]) -> None:
        await self.send({"type": "http.response.start", "status": status, "headers": list(headers)})

    async def write(self, data: bytes, *, more: bool = True) -> None:
        await self.send({"type": "http.response.body", "body": data, "more_body": more})

    async def respond(self, status: int, body: bytes, headers: Headers = JSON_HEADERS) -> None:
        await self.start(status, [*headers, (b"content-length", str(len(body)).encode())])
        await self.write(body, more=False)

    async def respond_json(self, status: int, obj: Any, extra_headers: Headers | None = None) -> None:
        headers = JSON_HEADERS if not extra_headers else [*JSON_HEADERS, *extra_headers]
        await self.respond(status, orjson.dumps(obj), headers)
