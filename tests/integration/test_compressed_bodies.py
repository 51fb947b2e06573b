"""Request bodies as clients encode them, over the real server: Codex's zstd `/v1/responses`, gzip,
their limits, and JSON saved with a byte-order mark.

The limit (`proxy.max_body_mb`, 1 MB here) applies to the decoded body, so a few kilobytes of zstd
that expand past it are a 413 in the client's protocol, and nothing reaches the upstream.
"""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import httpx
import orjson
import pytest
import zstandard

from tests.conftest import Gateway, Simulator
from tests.integration.gateways import keyed_gateway

KEY = "key-compressed-bodies-01"
gw = keyed_gateway("compressed", KEY, {"POOLGATE_PROXY__MAX_BODY_MB": "1"})


def generate_calls(sim: Simulator) -> list[dict[str, Any]]:
    return [c for c in sim.calls(KEY) if c["method"] in ("generateContent", "streamGenerateContent")]


def post(gw: Gateway, path: str, body: bytes, encoding: str, **headers: str) -> httpx.Response:
    headers = {"content-type": "application/json", "content-encoding": encoding, **headers}
    return httpx.post(f"{gw.base_url}{path}", content=body, headers=headers, timeout=30)


def test_a_zstd_responses_body_as_codex_sends_it(gw: Gateway, simulator_process: Simulator) -> None:
    simulator_process.reset()
    # A long conversation is what makes Codex compress: ~600 KB of JSON in a few kilobytes of zstd.
    history = [{"role": "user", "content": f"earlier turn {i} " + "x" * 600} for i in range(1000)]
    body = {"model": "gemini-2.5-flash", "input": [*history, {"role": "user", "content": "REPLY_WITH zstd ok"}]}
    raw = orjson.dumps(body)
    packed = zstandard.ZstdCompressor(level=3).compress(raw)
    assert len(packed) < len(raw) // 20
    r = post(gw, "/v1/responses", packed, "zstd")
    assert r.status_code == 200, r.text
    assert r.json()["output"][-1]["content"][0]["text"] == "zstd ok"
    [call] = generate_calls(simulator_process)
    [turn] = call["body"]["contents"]  # consecutive user turns are one Gemini turn
    assert len(turn["parts"]) == 1001  # every one of them arrived


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "gzip, zstd"])
def test_gzip_deflate_and_stacked_codings(gw: Gateway, encoding: str) -> None:
    raw = orjson.dumps({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "REPLY_WITH packed"}]})
    for name in [c.strip() for c in encoding.split(",")]:
        raw = {"gzip": gzip.compress, "deflate": zlib.compress, "zstd": zstandard.ZstdCompressor().compress}[name](raw)
    r = post(gw, "/v1/chat/completions", raw, encoding)
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "packed"


def test_a_body_that_decompresses_past_the_limit_is_a_413(gw: Gateway, simulator_process: Simulator) -> None:
    simulator_process.reset()
    text = "y" * (3 * 1024 * 1024)
    bomb = zstandard.ZstdCompressor(level=19).compress(
        orjson.dumps({"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": [{"role": "user", "content": text}]})
    )
    assert len(bomb) < 64 * 1024
    r = post(gw, "/v1/messages", bomb, "zstd", **{"anthropic-version": "2023-06-01"})
    assert r.status_code == 413 and r.json()["error"]["type"] == "request_too_large", r.text
    assert "once decompressed" in r.json()["error"]["message"]
    assert generate_calls(simulator_process) == []


def test_corrupt_and_unknown_codings_are_refused(gw: Gateway) -> None:
    body = orjson.dumps({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}]})
    cut = zstandard.ZstdCompressor().compress(body)[:-6]
    r = post(gw, "/v1/chat/completions", cut, "zstd")
    assert r.status_code == 400 and "not valid zstd" in r.json()["error"]["message"]
    r = post(gw, "/v1/chat/completions", body, "br")
    assert r.status_code == 415 and "Unsupported Content-Encoding 'br'" in r.json()["error"]["message"]
    gemini = f"/v1beta/models/gemini-2.5-flash:generateContent?key={KEY}"
    r = post(gw, gemini, b"not gzip at all", "gzip")
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_json_saved_with_a_byte_order_mark(gw: Gateway, encoding: str) -> None:
    # Windows editors save JSON with a BOM, and Windows PowerShell writes files as UTF-16 by default:
    # `curl --data-binary @request.json` then sent bytes that were refused as "not valid JSON".
    text = '{"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "REPLY_WITH BOM é ok"}]}'
    r = httpx.post(
        f"{gw.v1}/chat/completions",
        content=text.encode(encoding),
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "BOM é ok"
