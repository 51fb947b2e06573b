"""Gemini-native stream framing: whatever happens, the client can parse what it received."""

from __future__ import annotations

import orjson
import pytest

from poolgate.errors import ErrorKind, GatewayError
from poolgate.protocols.gemini.stream import ArrayEncoder, SseEncoder

CHUNK = {
    "candidates": [{"content": {"role": "model", "parts": [{"text": "hi"}]}}],
    "usageMetadata": {"totalTokenCount": 7},
}
ERROR = GatewayError(ErrorKind.UPSTREAM_ERROR, "upstream went away")


@pytest.mark.parametrize("chunks", [0, 1, 3])
@pytest.mark.parametrize("failed", [False, True])
def test_array_stream_is_always_one_json_array(chunks: int, failed: bool) -> None:
    seen: list[object] = []
    enc = ArrayEncoder(seen.append)
    out = enc.start()
    for _ in range(chunks):
        out += enc.feed(CHUNK)
    out += enc.fail(ERROR) if failed else enc.finish()
    parsed = orjson.loads(b"".join(out))
    assert parsed[:chunks] == [CHUNK] * chunks
    if failed:
        assert parsed[-1] == {"error": {"code": 502, "message": "upstream went away", "status": "INTERNAL"}}
    assert len(parsed) == chunks + failed
    assert len(seen) == chunks
    assert (enc.usage is not None) == (chunks > 0)


def test_sse_stream_frames_each_chunk_and_ends_with_the_error() -> None:
    enc = SseEncoder()
    out = enc.start() + enc.feed(CHUNK) + enc.feed(CHUNK) + enc.fail(ERROR)
    events = [e for e in b"".join(out).split(b"\r\n\r\n") if e]
    assert [orjson.loads(e.removeprefix(b"data: ")) for e in events[:2]] == [CHUNK, CHUNK]
    assert orjson.loads(events[2].removeprefix(b"data: "))["error"]["status"] == "INTERNAL"
    assert enc.usage is not None and enc.usage.total_tokens == 7
    assert enc.keepalive == b""
