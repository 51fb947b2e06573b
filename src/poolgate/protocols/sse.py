"""Server-sent-event framing for what poolgate sends to clients."""

from __future__ import annotations

from typing import Any

import orjson

DONE = b"data: [DONE]\n\n"
COMMENT_KEEPALIVE = b": keep-alive\n\n"


def data(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def event(name: str, obj: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(obj) + b"\n\n"
