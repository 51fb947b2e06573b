"""Decode an upstream SSE body (Google's `data: <json>` lines) into JSON objects."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson

from poolgate.hub.types import JSON
from poolgate.upstream.base import UpstreamFailure


async def iter_sse_json(chunks: AsyncIterator[bytes]) -> AsyncIterator[JSON]:
    """Yield each `data:` payload as JSON; an in-stream `{"error": ...}` becomes an UpstreamFailure."""
    buffer = b""
    data_lines: list[bytes] = []
    async for piece in chunks:
        buffer += piece
        while True:
            nl = buffer.find(b"\n")
            if nl < 0:
                break
            line = buffer[:nl].rstrip(b"\r")
            buffer = buffer[nl + 1 :]
            if line:
                if line.startswith(b"data:"):
                    data_lines.append(line[5:].lstrip())
                continue
            if data_lines:
                payload = b"\n".join(data_lines)
                data_lines = []
                obj = _decode(payload)
                if obj is not None:
                    yield obj
    tail = buffer.strip()
    if tail.startswith(b"data:"):
        data_lines.append(tail[5:].lstrip())
    if data_lines:
        obj = _decode(b"\n".join(data_lines))
        if obj is not None:
            yield obj


def _decode(payload: bytes) -> JSON | None:
    if payload == b"[DONE]":
        return None
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise UpstreamFailure(status=502, text=f"unparseable stream chunk: {payload[:200]!r}") from exc
    if not isinstance(obj, dict):
        return None
    if "error" in obj and "candidates" not in obj:
        err = obj["error"] if isinstance(obj["error"], dict) else {}
        raise UpstreamFailure(status=int(err.get("code") or 500), body=obj, text=str(err.get("message") or ""))
    return obj
