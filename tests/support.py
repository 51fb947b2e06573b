"""Small helpers several test modules share."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx


def poll(check: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    """Call check() until it returns something truthy and return that; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# A Google Search grounded answer as Gemini sends it: segment offsets count UTF-8 bytes ("é" is two),
# and a segment that starts at 0 has no startIndex.
GROUNDED_TEXT = "Café prices rose. Rents fell."
GROUNDED_ANSWER: dict[str, Any] = {
    "candidates": [
        {
            "content": {"role": "model", "parts": [{"text": GROUNDED_TEXT}]},
            "finishReason": "STOP",
            "index": 0,
            "groundingMetadata": {
                "webSearchQueries": ["cafe prices 2026"],
                "groundingChunks": [
                    {"web": {"uri": "https://example.com/prices", "title": "example.com"}},
                    {"web": {"uri": "https://news.example/rents", "title": "news.example"}},
                ],
                "groundingSupports": [
                    {"segment": {"endIndex": 18, "text": "Café prices rose."}, "groundingChunkIndices": [0]},
                    {
                        "segment": {"startIndex": 19, "endIndex": 30, "text": "Rents fell."},
                        "groundingChunkIndices": [0, 1],
                    },
                ],
            },
        }
    ],
    "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 7, "totalTokenCount": 12},
}
# (start, end, url) in characters, as OpenAI clients index the text.
GROUNDED_CITATIONS = [
    (0, 17, "https://example.com/prices"),
    (18, 29, "https://example.com/prices"),
    (18, 29, "https://news.example/rents"),
]


class ForwardProxy:
    """An HTTP forward proxy on 127.0.0.1 for the egress tests: records each request, then relays it.

    It asks the origin to close after each answer, so every proxied request is one connection and one
    record (method, absolute URL, headers as sent to the proxy).
    """

    def __init__(self) -> None:
        self.records: list[tuple[str, str, dict[str, str]]] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def __enter__(self) -> ForwardProxy:
        self._thread.start()
        assert self._ready.wait(10), "proxy did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            line, *lines = head.decode("latin-1").split("\r\n")
            method, target, version = line.split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines if h)}
            self.records.append((method, target, headers))
            parts = urlsplit(target)
            upstream_reader, upstream_writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            kept = [h for h in lines if h and h.split(":", 1)[0].strip().lower() not in _HOP_BY_HOP]
            request_head = "".join(f"{h}\r\n" for h in [f"{method} {path} {version}", *kept, "Connection: close"])
            upstream_writer.write(f"{request_head}\r\n".encode("latin-1"))
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        except (OSError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authorization", "proxy-connection"})


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


def refused_field(r: httpx.Response) -> dict[str, Any]:
    """The OpenAI error of a 400 (failing the test on any other status): its `param` names the field."""
    assert r.status_code == 400, r.text
    error: dict[str, Any] = r.json()["error"]
    return error
