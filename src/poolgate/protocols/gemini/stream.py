"""Gemini-native stream encoders: upstream chunks are already Gemini shape, so they are only framed.

`alt=sse` gives Google's SSE framing; without it Google streams one JSON array. Neither gets
keep-alives: the JS SDK (Gemini CLI) stalls on anything that is not a `data:` line, and filler
inside an array would break incremental array parsers.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from poolgate.errors import GatewayError
from poolgate.hub.events import Usage, usage_from
from poolgate.hub.types import JSON
from poolgate.protocols.gemini.errors import error_object

# Called with every chunk, e.g. to keep thought signatures; must be cheap and must not raise.
Observer = Callable[[JSON], None]


class _Base:
    keepalive = b""
    media_type = "application/json"

    def __init__(self, observe: Observer | None = None) -> None:
        self.usage: Usage | None = None
        self._observe = observe

    def _note(self, chunk: JSON) -> None:
        meta = chunk.get("usageMetadata")
        if isinstance(meta, dict):
            self.usage = usage_from(meta)
        if self._observe is not None:
            self._observe(chunk)

    def start(self) -> list[bytes]:
        return []


class SseEncoder(_Base):
    """`data: <chunk>` items separated by a CRLF blank line, as Google sends them; no `[DONE]`."""

    media_type = "text/event-stream"

    def feed(self, chunk: JSON) -> list[bytes]:
        self._note(chunk)
        return [b"data: " + orjson.dumps(chunk) + b"\r\n\r\n"]

    def finish(self) -> list[bytes]:
        return []

    def fail(self, err: GatewayError) -> list[bytes]:
        return [b"data: " + orjson.dumps(error_object(err)) + b"\r\n\r\n"]


class ArrayEncoder(_Base):
    """One JSON array streamed element by element; a mid-stream failure is its last element."""

    def __init__(self, observe: Observer | None = None) -> None:
        super().__init__(observe)
        self._opened = False

    def _element(self, data: bytes) -> bytes:
        if self._opened:
            return b",\r\n" + data
        self._opened = True
        return b"[" + data

    def feed(self, chunk: JSON) -> list[bytes]:
        self._note(chunk)
        return [self._element(orjson.dumps(chunk))]

    def finish(self) -> list[bytes]:
        return [b"]" if self._opened else b"[]"]

    def fail(self, err: GatewayError) -> list[bytes]:
        return [self._element(orjson.dumps(error_object(err))), b"]"]
