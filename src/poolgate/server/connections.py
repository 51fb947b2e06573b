"""A deadline for a request's line and headers, which uvicorn does not have.

uvicorn arms no timer on a new connection, and cancels its keep-alive timer at the first byte of the
next request, so a client that connects and sends nothing, or sends its headers a byte at a time,
holds a connection (a file descriptor) for as long as it likes; a few hundred such clients exhaust
the process's descriptors and with them every other client and every upstream call.

GuardedProtocol is uvicorn's httptools protocol noting when a connection began to wait for a
request's headers; `guard_headers` closes, with a 408, the connections that have waited longer than
the limit. The sweep runs every quarter of the limit, so a request costs two attribute writes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("poolgate.server")

TIMEOUT_ANSWER = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class GuardedProtocol(HttpToolsProtocol):
    # When this connection began to wait for a request line and headers; 0 while it is not waiting
    # for them (a request being handled, or an idle keep-alive connection, which uvicorn times out).
    headers_since = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.headers_since = time.monotonic()
        super().connection_made(transport)

    def on_message_begin(self) -> None:
        self.headers_since = time.monotonic()
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self.headers_since = 0.0
        super().on_headers_complete()


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


async def guard_headers(connections: Iterable[object], limit: float) -> None:
    """Run until cancelled: every limit / 4 seconds, close connections whose headers are late."""
    while True:
        await asyncio.sleep(limit / 4)
        closed = close_late(connections, limit, time.monotonic())
        if closed:
            log.info("closed %d connection(s) that sent no complete request headers within %g s", closed, limit)
