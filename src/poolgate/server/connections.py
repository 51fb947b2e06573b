"""uvicorn's httptools protocol with a deadline for request headers, and bodies kept past an `Upgrade: h2c`.

Headers: uvicorn arms no timer on a new connection, and cancels its keep-alive timer at the first byte of the
next request, so a client that connects and sends nothing, or sends its headers a byte at a time,
holds a connection (a file descriptor) for as long as it likes; a few hundred such clients exhaust
the process's descriptors and with them every other client and every upstream call.

GuardedProtocol is uvicorn's httptools protocol noting when a connection began to wait for a
request's headers; `guard_headers` closes, with a 408, the connections that have waited longer than
the limit. The sweep runs every quarter of the limit, so a request costs two attribute writes.

Upgrades: Java's HttpClient (and with it Spring's RestClient, LangChain4j, Spring AI) offers HTTP/2 on
every request to an http:// URL with `Upgrade: h2c`. httptools then stops parsing after the headers,
so uvicorn handed the application an empty body and every such client got a 400 (uvicorn issue
2722). A server may ignore an upgrade it does not take (RFC 9110 §7.8), so GuardedProtocol keeps the
request's bytes until its headers are parsed; on an upgrade other than WebSocket it parses them again
without the upgrade headers, and the request goes on as plain HTTP/1.1.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("poolgate.server")

TIMEOUT_ANSWER = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


# The headers the re-parse leaves out, and the same names as Connection tokens, so nothing asks for an upgrade.
_UPGRADE_NAMES = (b"upgrade", b"http2-settings")


class GuardedProtocol(HttpToolsProtocol):
    # When this connection began to wait for a request line and headers; 0 while it is not waiting
    # for them (a request being handled, or an idle keep-alive connection, which uvicorn times out).
    headers_since = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.headers_since = time.monotonic()
        self._head: list[bytes] = []  # this request's bytes while its headers are being read
        self._reading_head = True
        self._reparse = False
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            self._head.append(data)
        super().data_received(data)
        if self._reparse:
            self._reparse = False
            raw = b"".join(self._head)
            self._head = []
            self.parser = httptools.HttpRequestParser(self)
            super().data_received(without_upgrade(raw))

    def on_message_begin(self) -> None:
        self.headers_since = time.monotonic()
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        if self.parser.should_upgrade() and self._get_upgrade() not in (None, b"websocket"):
            self._reparse = True  # data_received parses the request again, without the upgrade
            return
        self.headers_since = 0.0
        self._reading_head = False
        self._head = []
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._reparse:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._reparse:
            return
        super().on_message_complete()
        self._reading_head = True

    def _unsupported_upgrade_warning(self) -> None:
        if not self._reparse:  # an h2c offer is simply declined: nothing worth a warning per request
            super()._unsupported_upgrade_warning()


def without_upgrade(raw: bytes) -> bytes:
    """A request's bytes with its upgrade headers removed (and their tokens from Connection)."""
    head, sep, rest = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    kept = [lines[0]]
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name in _UPGRADE_NAMES:
            continue
        if name == b"connection":
            tokens = [t.strip() for t in value.split(b",") if t.strip().lower() not in _UPGRADE_NAMES]
            if not tokens:
                continue
            line = b"Connection: " + b", ".join(tokens)
        kept.append(line)
    return b"\r\n".join(kept) + sep + rest


def close_late(connections: Iterable[object], limit: float, now: float) -> int:
    """Close the connections that have waited longer than `limit` for their headers; how many."""
    closed = 0
    for conn in list(connections):
        since = getattr(conn, "headers_since", 0.0)
        if since and now - since > limit and isinstance(conn, GuardedProtocol):
            conn.headers_since = 0.0
            transport = conn.transport
            if not transport.is_closing():
                transport.write(TIMEOUT_ANSWER)
                transport.close()
                closed += 1
    return closed


async def guard_headers(
    connections: Iterable[object], limit: float, on_closed: Callable[[int], None] | None = None
) -> None:
    """Run until cancelled: every limit / 4 seconds, close connections whose headers are late."""
    while True:
        await asyncio.sleep(limit / 4)
        closed = close_late(connections, limit, time.monotonic())
        if closed:
            if on_closed is not None:
                on_closed(closed)
            log.info("closed %d connection(s) that sent no complete request headers within %g s", closed, limit)
