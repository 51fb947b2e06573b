"""The upstream SSE decoder yields the same events however the network cuts the stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poolgate.upstream.base import UpstreamFailure
from poolgate.upstream.sse import iter_sse_json

EVENTS: list[dict[str, Any]] = [
    {"candidates": [{"content": {"parts": [{"text": f"piece {i} " * (i % 7)}]}}]} for i in range(12)
]


def stream_bytes(eol: bytes) -> bytes:
    body = b""
    for i, event in enumerate(EVENTS):
        if i % 4 == 0:
            body += b": keep-alive" + eol + eol
        body += b"data: " + orjson.dumps(event) + eol + eol
    return body + b"data: [DONE]" + eol + eol


def decode(pieces: list[bytes]) -> list[dict[str, Any]]:
    async def feed() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    async def collect() -> list[dict[str, Any]]:
        return [event async for event in iter_sse_json(feed())]

    return asyncio.run(collect())


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([b"\n", b"\r\n"]), st.lists(st.integers(min_value=1, max_value=5000), max_size=40))
def test_any_cut_of_the_stream_gives_the_same_events(eol: bytes, cuts: list[int]) -> None:
    raw = stream_bytes(eol)
    points = sorted({c % len(raw) for c in cuts} - {0})
    pieces = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    assert decode(pieces) == EVENTS


def test_one_large_event_in_many_pieces() -> None:
    # A picture: megabytes of base64 in one event, arriving in network-sized pieces.
    event = {
        "candidates": [{"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": "A" * 3_000_000}}]}}]
    }
    raw = b"data: " + orjson.dumps(event) + b"\r\n\r\n"
    assert decode([raw[i : i + 16384] for i in range(0, len(raw), 16384)]) == [event]


def test_multi_line_data_and_an_unterminated_last_event() -> None:
    assert decode([b'data: {"a":\n', b"data: 1}\n\n", b'data: {"b": 2}']) == [{"a": 1}, {"b": 2}]


def test_an_error_event_and_a_broken_one_are_upstream_failures() -> None:
    with pytest.raises(UpstreamFailure) as err:
        decode([b'data: {"error": {"code": 503, "message": "overloaded"}}\n\n'])
    assert err.value.status == 503
    with pytest.raises(UpstreamFailure) as broken:
        decode([b"data: {not json\n\n"])
    assert broken.value.status == 502
