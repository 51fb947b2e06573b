"""Decode an upstream SSE body (Google's `data: <json>` lines) into JSON objects."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson

from poolgate.hub.types import JSON
from poolgate.upstream.base import UpstreamFailure


async def iter_sse_json(chunks: AsyncIterator[bytes]) -> AsyncIterator[JSON]:
    """Yield each `data:` payload as JSON; an in-stream `{"error": ...}` becomes an UpstreamFailure.

    Linear in the stream's size however it is cut: a picture arrives as one multi-megabyte event in
    hundreds of pieces, and re-joining and re-scanning the whole buffer for each piece (as this once
    did) cost ~200 ms of event loop for a 4 MB image. A piece that starts on a line boundary, the
    usual case, is read in place.
    """
    carry = bytearray()  # the unfinished last line of earlier pieces (it holds no newline)
    data_lines: list[bytes] = []
    async for piece in chunks:
        scanned = len(carry)
        if scanned:
            carry += piece
        text: bytes | bytearray = carry if scanned else piece
        start = 0
        while True:
            nl = text.find(b"\n", start if start > scanned else scanned)
            if nl < 0:
                break
            line = bytes(carry[start:nl]) if scanned else piece[start:nl]
            start = nl + 1
            if line.endswith(b"\r"):
                line = line[:-1]
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
        if scanned:
            del carry[:start]
        elif start < len(piece):
            carry += piece[start:]
    tail = bytes(carry).strip()
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
