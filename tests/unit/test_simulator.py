"""The upstream simulator, driven over real loopback HTTP as the gateway and its tests will drive it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

import poolgate
from poolgate.simulator import ScriptError, SimulatorState, parse_step, start_simulator
from poolgate.simulator.behaviour import sample_for_schema
from poolgate.simulator.wire import split_text
from tests.unit.sim_client import client

MODEL = "gemini-2.5-flash"
GEN = f"/v1beta/models/{MODEL}:generateContent"
STREAM = f"/v1beta/models/{MODEL}:streamGenerateContent"


__all__ = ["client"]  # the fixture is used by name


def user(text: str) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


def sse_events(raw: bytes) -> list[Any]:
    assert raw.endswith(b"\r\n\r\n")
    frames = raw.split(b"\r\n\r\n")[:-1]
    assert all(f.startswith(b"data: ") for f in frames)
    return [orjson.loads(f[len(b"data: ") :]) for f in frames]


async def script(http: httpx.AsyncClient, key: str, *steps: dict[str, Any]) -> None:
    resp = await http.post("/_sim/script", json={"key": key, "steps": list(steps)})
    assert resp.status_code == 200, resp.text


def answer_text(body: dict[str, Any]) -> str:
    parts = body["candidates"][0]["content"]["parts"]
    return "".join(p.get("text", "") for p in parts if not p.get("thought"))


async def test_default_answer(client: httpx.AsyncClient) -> None:
    resp = await client.post(GEN, json=user("hello there"), headers={"x-goog-api-key": "K1"})
    assert resp.status_code == 200
    body = resp.json()
    assert answer_text(body) == f"Hello from the simulator (model {MODEL}). You said: hello there"
    cand = body["candidates"][0]
    assert cand["content"]["role"] == "model" and cand["index"] == 0 and cand["finishReason"] == "STOP"
    usage = body["usageMetadata"]
    assert usage["promptTokenCount"] == max(1, len("hello there") // 4)
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
    assert body["modelVersion"] == MODEL and body["responseId"]


async def test_key_from_query_and_v1_prefix(client: httpx.AsyncClient) -> None:
    resp = await client.post(f"/v1/models/{MODEL}:generateContent", params={"key": "Q"}, json=user("x"))
    assert resp.status_code == 200
    calls = (await client.get("/_sim/calls")).json()["calls"]
    assert calls[-1]["key"] == "Q"


async def test_missing_key_and_unknown_model(client: httpx.AsyncClient) -> None:
    resp = await client.post(GEN, json=user("x"))
    assert resp.status_code == 403
    assert resp.json()["error"]["status"] == "PERMISSION_DENIED"
    resp = await client.post("/v1beta/models/gpt-4o:generateContent?key=K", json=user("x"))
    assert resp.status_code == 404
    assert resp.json()["error"] == {
        "code": 404,
        "message": resp.json()["error"]["message"],
        "status": "NOT_FOUND",
    }


async def test_thoughts_and_candidate_count(client: httpx.AsyncClient) -> None:
    req = user("hi") | {"generationConfig": {"thinkingConfig": {"includeThoughts": True}, "candidateCount": 2}}
    body = (await client.post(GEN, json=req, headers={"x-goog-api-key": "K"})).json()
    assert [c["index"] for c in body["candidates"]] == [0, 1]
    thought, answer = body["candidates"][0]["content"]["parts"]
    assert thought == {"text": "Let me think about that.", "thought": True}
    assert answer["thoughtSignature"].startswith("sig-")
    assert body["usageMetadata"]["thoughtsTokenCount"] >= 1


async def test_sse_framing_and_final_usage(client: httpx.AsyncClient) -> None:
    resp = await client.post(f"{STREAM}?alt=sse", json=user("one two three four"), headers={"x-goog-api-key": "K"})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    chunks = sse_events(resp.content)
    assert len(chunks) == 3
    for chunk in chunks:
        cand = chunk["candidates"][0]
        assert cand["content"]["role"] == "model" and cand["index"] == 0
    assert all("finishReason" not in c["candidates"][0] and "usageMetadata" not in c for c in chunks[:-1])
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"]["candidatesTokenCount"] >= 1
    text = "".join(answer_text(c) for c in chunks)
    assert text == f"Hello from the simulator (model {MODEL}). You said: one two three four"


async def test_stream_without_sse_is_a_json_array(client: httpx.AsyncClient) -> None:
    await script(client, "K", {"text": "a b c d", "chunks": 2})
    resp = await client.post(STREAM, json=user("x"), headers={"x-goog-api-key": "K"})
    chunks = orjson.loads(resp.content)
    assert isinstance(chunks, list) and [answer_text(c) for c in chunks] == ["a b ", "c d"]
    assert b",\r\n" in resp.content


async def test_scripted_429_body_shape(client: httpx.AsyncClient) -> None:
    step = {
        "status": 429,
        "reason": "RATE_LIMIT_EXCEEDED",
        "retry_delay": "5s",
        "quota_reset_delay": "3h2m1s",
        "message": "slow down",
        "retry_after_header": "7",
    }
    await script(client, "K", step)
    resp = await client.post(GEN, json=user("x"), headers={"x-goog-api-key": "K"})
    assert resp.status_code == 429
    assert resp.headers["retry-after"] == "7"
    assert resp.json() == {
        "error": {
            "code": 429,
            "message": "slow down",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "RATE_LIMIT_EXCEEDED",
                    "domain": "googleapis.com",
                    "metadata": {"quotaResetDelay": "3h2m1s"},
                },
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "5s"},
            ],
        }
    }


async def test_error_statuses_and_validation_url(client: httpx.AsyncClient) -> None:
    await script(client, "K", {"status": 503}, {"status": 403, "validation_url": "https://v.example/x"})
    first = await client.post(f"{STREAM}?alt=sse", json=user("x"), headers={"x-goog-api-key": "K"})
    assert first.status_code == 503 and first.json()["error"]["status"] == "UNAVAILABLE"
    assert "details" not in first.json()["error"]
    second = (await client.post(GEN, json=user("x"), headers={"x-goog-api-key": "K"})).json()["error"]
    assert second["status"] == "PERMISSION_DENIED"
    assert second["details"][0]["reason"] == "VALIDATION_REQUIRED"
    assert second["details"][0]["metadata"] == {"validation_url": "https://v.example/x"}


async def test_queue_order_and_key_isolation(client: httpx.AsyncClient) -> None:
    await script(client, "A", {"text": "a1"}, {"text": "a2"})
    await script(client, "*", {"text": "shared"})
    await script(client, "B", {"text": "b1"})

    async def ask(key: str) -> str:
        return answer_text((await client.post(GEN, json=user("x"), headers={"x-goog-api-key": key})).json())

    assert await ask("B") == "b1"
    assert await ask("A") == "a1"
    assert await ask("B") == "shared"  # B's own queue is empty, so the shared one answers
    assert await ask("A") == "a2"
    assert (await ask("A")).startswith("Hello from the simulator")
    assert (await client.get("/_sim/script")).json() == {"pending": {}}


async def test_call_tool(client: httpx.AsyncClient) -> None:
    req = user('please CALL_TOOL get_weather {"city": "Paris", "days": 2}\nthanks') | {
        "tools": [{"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "object"}}]}]
    }
    body = (await client.post(GEN, json=req, headers={"x-goog-api-key": "K"})).json()
    (part,) = body["candidates"][0]["content"]["parts"]
    assert part["functionCall"] == {"name": "get_weather", "args": {"city": "Paris", "days": 2}}
    assert part["thoughtSignature"].startswith("sig-")
    assert body["candidates"][0]["finishReason"] == "STOP"

    undeclared = user('CALL_TOOL get_weather {"city": "Paris"}')
    body = (await client.post(GEN, json=undeclared, headers={"x-goog-api-key": "K"})).json()
    assert answer_text(body).startswith("Hello from the simulator")


async def test_function_response_echo(client: httpx.AsyncClient) -> None:
    req = {
        "contents": [
            {"role": "user", "parts": [{"text": "weather?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "w", "args": {}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "w", "response": {"temp": 21}}}]},
        ]
    }
    body = (await client.post(GEN, json=req, headers={"x-goog-api-key": "K"})).json()
    assert answer_text(body) == 'Tool result: {"temp":21}'


async def test_json_mode_fills_schema(client: httpx.AsyncClient) -> None:
    schema = {
        "type": "OBJECT",
        "properties": {
            "name": {"type": "STRING"},
            "age": {"type": "INTEGER"},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}},
            "extra": {"type": "STRING"},
        },
        "required": ["name", "age", "tags"],
    }
    config = {"responseMimeType": "application/json", "responseSchema": schema}
    body = (await client.post(GEN, json=user("x") | {"generationConfig": config}, params={"key": "K"})).json()
    assert orjson.loads(answer_text(body)) == {"name": "x", "age": 1, "tags": []}
    plain = {"responseMimeType": "application/json"}
    body = (await client.post(GEN, json=user("hi") | {"generationConfig": plain}, params={"key": "K"})).json()
    assert orjson.loads(answer_text(body)) == {"answer": "hi"}


def test_sample_for_json_schema_nested() -> None:
    schema = {
        "type": "object",
        "properties": {
            "ok": {"type": "boolean"},
            "inner": {"type": "object", "properties": {"n": {"type": ["number", "null"]}}, "required": ["n"]},
            "kind": {"enum": ["a", "b"]},
        },
        "required": ["ok", "inner", "kind"],
    }
    assert sample_for_schema(schema) == {"ok": True, "inner": {"n": 1}, "kind": "a"}


async def test_cut_after_gives_broken_read(client: httpx.AsyncClient) -> None:
    await script(client, "K", {"cut_after": 2})
    received: list[bytes] = []
    with pytest.raises(httpx.RemoteProtocolError):
        async with client.stream("POST", f"{STREAM}?alt=sse", json=user("x"), headers={"x-goog-api-key": "K"}) as r:
            assert r.status_code == 200
            async for data in r.aiter_bytes():
                received.append(data)
    chunks = sse_events(b"".join(received))
    assert len(chunks) == 2
    assert all("finishReason" not in c["candidates"][0] for c in chunks)
    # The server survives a cut: the next call is answered normally.
    assert (await client.post(GEN, json=user("x"), headers={"x-goog-api-key": "K"})).status_code == 200


async def test_error_after_sends_in_stream_error(client: httpx.AsyncClient) -> None:
    await script(client, "K", {"error_after": 1, "status": 503, "message": "overloaded"})
    resp = await client.post(f"{STREAM}?alt=sse", json=user("x"), headers={"x-goog-api-key": "K"})
    assert resp.status_code == 200
    first, last = sse_events(resp.content)
    assert "candidates" in first
    assert last == {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}


async def test_scripted_thoughts_calls_and_finish(client: httpx.AsyncClient) -> None:
    calls = [{"name": "f", "args": {"a": 1}, "id": "c1"}, {"name": "g", "args": {}}]
    await script(client, "K", {"thoughts": "hmm", "function_calls": calls, "finish_reason": "MAX_TOKENS"})
    resp = await client.post(f"{STREAM}?alt=sse", json=user("x"), headers={"x-goog-api-key": "K"})
    chunks = sse_events(resp.content)
    parts = [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
    assert parts[0] == {"text": "hmm", "thought": True}
    assert [p["functionCall"] for p in parts[1:]] == [{"name": "f", "args": {"a": 1}, "id": "c1"}, calls[1]]
    assert all(p["thoughtSignature"].startswith("sig-") for p in parts[1:])
    assert chunks[-1]["candidates"][0]["finishReason"] == "MAX_TOKENS"


async def test_empty_raw_and_usage(client: httpx.AsyncClient) -> None:
    usage = {"promptTokenCount": 7, "candidatesTokenCount": 3, "totalTokenCount": 10}
    await script(client, "K", {"empty": True}, {"empty": True}, {"raw": {"x": 1}}, {"text": "t", "usage": usage})
    headers = {"x-goog-api-key": "K"}
    assert (await client.post(GEN, json=user("x"), headers=headers)).json() == {"candidates": []}
    assert (await client.post(f"{STREAM}?alt=sse", json=user("x"), headers=headers)).content == b""
    assert sse_events((await client.post(f"{STREAM}?alt=sse", json=user("x"), headers=headers)).content) == [{"x": 1}]
    assert (await client.post(GEN, json=user("x"), headers=headers)).json()["usageMetadata"] == usage


async def test_count_tokens_and_models(client: httpx.AsyncClient) -> None:
    resp = await client.post(f"/v1beta/models/{MODEL}:countTokens?key=K", json=user("abcdefgh"))
    assert resp.json() == {"totalTokens": 2}
    listing = (await client.get("/v1beta/models", params={"key": "K"})).json()["models"]
    flash = next(m for m in listing if m["name"] == f"models/{MODEL}")
    assert {"displayName", "supportedGenerationMethods", "inputTokenLimit", "outputTokenLimit"} <= set(flash)
    one = (await client.get(f"/v1/models/{MODEL}", params={"key": "K"})).json()
    assert one["name"] == f"models/{MODEL}"


async def test_call_log_filter_and_reset(client: httpx.AsyncClient) -> None:
    await client.post(GEN, json=user("first"), headers={"x-goog-api-key": "A"})
    await client.post(f"{STREAM}?alt=sse", json=user("second"), headers={"x-goog-api-key": "B"})
    calls = (await client.get("/_sim/calls")).json()["calls"]
    assert [(c["key"], c["method"], c["stream"]) for c in calls] == [
        ("A", "generateContent", False),
        ("B", "streamGenerateContent", True),
    ]
    assert calls[0]["model"] == MODEL and calls[0]["body"] == user("first") and calls[0]["t"] > 0
    only_b = (await client.get("/_sim/calls", params={"key": "B"})).json()["calls"]
    assert [c["body"] for c in only_b] == [user("second")]
    await script(client, "A", {"text": "never used"})
    assert (await client.post("/_sim/reset")).json() == {"ok": True}
    assert (await client.get("/_sim/calls")).json() == {"calls": []}
    assert (await client.get("/_sim/script")).json() == {"pending": {}}


async def test_control_rejects_bad_steps(client: httpx.AsyncClient) -> None:
    resp = await client.post("/_sim/script", json={"key": "K", "steps": [{"stauts": 429}]})
    assert resp.status_code == 400 and "stauts" in resp.json()["error"]


def test_parse_step_validates_types() -> None:
    with pytest.raises(ScriptError, match=r"step\.cut_after"):
        parse_step({"cut_after": "2"})
    step = parse_step({"error_after": 1})
    assert step.status == 503 and not step.is_http_error
    assert parse_step({"status": 429}).is_http_error


@given(st.text(), st.integers(min_value=1, max_value=12))
def test_split_text_round_trips(text: str, n: int) -> None:
    pieces = split_text(text, n)
    assert "".join(pieces) == text
    assert all(pieces) and len(pieces) <= n


async def test_state_is_injectable() -> None:
    state = SimulatorState(call_log_limit=1)
    sim = await start_simulator(state=state)
    async with sim, httpx.AsyncClient(base_url=sim.url, trust_env=False) as http:
        for _ in range(3):
            await http.post(GEN, json=user("x"), headers={"x-goog-api-key": "K"})
    assert sim.state is state and len(state.calls) == 1


def test_module_entry_point_prints_url() -> None:
    src = str(Path(poolgate.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "poolgate.simulator", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().strip()
        assert line.startswith("simulator listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]
        resp = httpx.get(f"{url}/v1beta/models", params={"key": "K"}, trust_env=False)
        assert resp.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
