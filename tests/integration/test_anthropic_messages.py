"""Anthropic Messages API through poolgate, with the official `anthropic` SDK and raw HTTP, over the simulator."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import orjson
import pydantic
import pytest

from tests.conftest import Gateway, Simulator
from tests.integration.gateways import gateway_for_module

KEY = "key-anthropic-00001"
MODEL = "claude-sonnet-4-5"
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "anthropic"


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, simulator_process: Simulator) -> Iterator[Gateway]:
    env = {"POOLGATE_PROXY__KEEPALIVE_SECONDS": "0.2"}
    gateway = gateway_for_module(tmp_path_factory.mktemp("anthropic"), simulator_process, env, {"claude": KEY})
    yield gateway
    gateway.stop()


@pytest.fixture
def client(gw: Gateway, simulator: Simulator) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="dummy", base_url=gw.base_url, max_retries=0, timeout=30)


def upstream(sim: Simulator, method: str = "") -> list[dict[str, Any]]:
    return [c for c in sim.calls(KEY) if not method or c["method"] == method]


def last_body(sim: Simulator) -> dict[str, Any]:
    calls = [c for c in sim.calls(KEY) if c["method"] != "countTokens"]
    body: dict[str, Any] = calls[-1]["body"]
    return body


def sse(raw: str) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    for frame in raw.split("\n\n"):
        if not frame.strip():
            continue
        lines = frame.split("\n")
        assert lines[0].startswith("event: ") and lines[1].startswith("data: "), frame
        name, data = lines[0][7:], orjson.loads(lines[1][6:])
        assert data["type"] == name
        events.append((name, data))
    return events


def shape(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """The grammar of a stream: event names with block and delta types, without the varying payloads."""
    out: list[str] = []
    for name, data in events:
        if name == "content_block_start":
            out.append(f"{name} {data['index']} {data['content_block']['type']}")
        elif name == "content_block_delta":
            out.append(f"{name} {data['index']} {data['delta']['type']}")
        elif name == "content_block_stop":
            out.append(f"{name} {data['index']}")
        elif name == "message_delta":
            out.append(f"{name} {data['delta']['stop_reason']}")
        elif name != "ping":
            out.append(name)
    return out


def test_create_plain_text(client: anthropic.Anthropic, simulator: Simulator) -> None:
    msg = client.messages.create(model=MODEL, max_tokens=256, messages=[{"role": "user", "content": "hello there"}])
    assert msg.type == "message" and msg.role == "assistant" and msg.model == MODEL
    assert msg.id.startswith("msg_")
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].type == "text" and msg.content[0].text.endswith("You said: hello there")
    assert msg.stop_reason == "end_turn" and msg.stop_sequence is None
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
    assert last_body(simulator)["generationConfig"]["maxOutputTokens"] == 256


def test_stream_rebuilds_thinking_signature_and_tool_input(client: anthropic.Anthropic, simulator: Simulator) -> None:
    args = {"city": "Paris", "days": 2, "units": {"temp": "C"}}
    tools: Any = [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}]
    prompt = "CALL_TOOL get_weather " + orjson.dumps(args).decode()
    with client.messages.stream(
        model=MODEL,
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2048},
        tools=tools,
        messages=[{"role": "user", "content": prompt}],
    ) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "tool_use"]
    thinking, tool = final.content
    assert thinking.type == "thinking" and thinking.thinking == "Let me think about that."
    assert thinking.signature.startswith("pgs1.")
    assert tool.type == "tool_use" and tool.name == "get_weather" and tool.input == args
    assert final.stop_reason == "tool_use"
    assert final.usage.output_tokens > 0
    first = last_body(simulator)
    assert first["generationConfig"]["thinkingConfig"] == {"includeThoughts": True, "thinkingBudget": 2048}

    # The next turn replays the blocks verbatim: the signature Gemini gave goes back on its functionCall.
    upstream_signature = thinking.signature.split(".", 2)[2]
    follow = client.messages.create(
        model=MODEL,
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2048},
        tools=tools,
        messages=[
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in final.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool.id, "content": "sunny, 21C"}]},
        ],
    )
    replay = last_body(simulator)["contents"]
    model_turn = replay[1]
    assert model_turn["role"] == "model"
    calls = [p for p in model_turn["parts"] if "functionCall" in p]
    assert calls == [
        {"functionCall": {"name": "get_weather", "args": args, "id": tool.id}, "thoughtSignature": upstream_signature}
    ]
    assert replay[2]["parts"][0]["functionResponse"] == {
        "name": "get_weather",
        "response": {"output": "sunny, 21C"},
        "id": tool.id,
    }
    text = [b for b in follow.content if b.type == "text"]
    assert text and text[0].text == 'Tool result: {"output":"sunny, 21C"}'
    assert follow.stop_reason == "end_turn"


def test_signature_kept_server_side_when_client_has_no_thinking(
    client: anthropic.Anthropic, simulator: Simulator
) -> None:
    tools: Any = [{"name": "lookup", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}]
    prompt = 'CALL_TOOL lookup {"q": "x"}'
    msg = client.messages.create(
        model=MODEL, max_tokens=512, tools=tools, messages=[{"role": "user", "content": prompt}]
    )
    assert [b.type for b in msg.content] == ["tool_use"]  # no thinking asked for, so no thinking blocks
    tool = msg.content[0]
    assert tool.type == "tool_use"
    given = simulator.calls(KEY)[-1]
    client.messages.create(
        model=MODEL,
        max_tokens=512,
        tools=tools,
        messages=[
            {"role": "user", "content": prompt},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": tool.id, "name": "lookup", "input": {"q": "x"}}],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool.id, "content": "found"}]},
        ],
    )
    replay = last_body(simulator)["contents"][1]["parts"][0]
    assert given["method"] == "generateContent"
    assert replay["functionCall"]["name"] == "lookup"
    assert replay["thoughtSignature"].startswith("sig-")


def test_foreign_and_unsigned_thinking_is_not_sent_upstream(client: anthropic.Anthropic, simulator: Simulator) -> None:
    client.messages.create(
        model=MODEL,
        max_tokens=256,
        messages=[
            {"role": "user", "content": "first"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "claude thought", "signature": "EqQBCkYIARgCKkA" + "x" * 80},
                    {"type": "redacted_thinking", "data": "abc"},
                    {"type": "text", "text": "answer one"},
                ],
            },
            {"role": "user", "content": "second"},
        ],
    )
    contents = last_body(simulator)["contents"]
    assert contents[1] == {"role": "model", "parts": [{"text": "answer one"}]}


def test_stop_sequences_non_stream_and_stream(client: anthropic.Anthropic, simulator: Simulator) -> None:
    simulator.script(KEY, {"text": "alpha beta STOP gamma delta"}, {"text": "one two ENDX three", "chunks": 6})
    msg = client.messages.create(
        model=MODEL,
        max_tokens=256,
        stop_sequences=["NEVER", "STOP"],
        messages=[{"role": "user", "content": "go"}],
    )
    assert msg.content[0].type == "text" and msg.content[0].text == "alpha beta "
    assert msg.stop_reason == "stop_sequence" and msg.stop_sequence == "STOP"
    assert "stopSequences" not in last_body(simulator).get("generationConfig", {})
    with client.messages.stream(
        model=MODEL, max_tokens=256, stop_sequences=["ENDX"], messages=[{"role": "user", "content": "go"}]
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "text" and final.content[0].text == "one two "
    assert final.stop_reason == "stop_sequence" and final.stop_sequence == "ENDX"


def test_max_tokens_and_refusal_stop_reasons(client: anthropic.Anthropic, simulator: Simulator) -> None:
    simulator.script(KEY, {"text": "cut", "finish_reason": "MAX_TOKENS"}, {"text": "", "finish_reason": "SAFETY"})
    msg = client.messages.create(model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "go"}])
    assert msg.stop_reason == "max_tokens"
    msg = client.messages.create(model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "go"}])
    assert msg.stop_reason == "refusal"


def test_request_fields_reach_upstream(client: anthropic.Anthropic, simulator: Simulator) -> None:
    png = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
    pdf = base64.b64encode(b"%PDF-1.4 /Type /Page /Type /Page").decode()
    tools: Any = [
        {"name": "a", "input_schema": {"type": "object"}},
        {
            "name": "b",
            "description": "bee",
            "input_schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
        },
    ]
    client.messages.create(
        model=MODEL,
        max_tokens=64000,
        system=[
            {"type": "text", "text": "sys one"},
            {"type": "text", "text": "sys two", "cache_control": {"type": "ephemeral"}},
        ],
        tools=tools,
        tool_choice={"type": "tool", "name": "b"},
        thinking={"type": "adaptive"},
        metadata={"user_id": '{"session_id": "abc"}'},
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
                    {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": pdf}},
                ],
            },
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "a", "input": {}}]},
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "is_error": True,
                        "content": [{"type": "text", "text": "boom"}],
                    },
                    {"type": "text", "text": "then?"},
                ],
            },
        ],
        # This SDK release no longer has typed sampling arguments; the wire fields still exist.
        extra_body={
            "temperature": 0.3,
            "top_p": 0.9,
            "top_k": 20,
            "output_config": {"effort": "low"},
            "context_management": {"edits": []},
        },
    )
    body = last_body(simulator)
    assert body["systemInstruction"] == {"parts": [{"text": "sys one\n\nsys two"}]}
    assert body["generationConfig"] == {
        "temperature": 0.3,
        "topP": 0.9,
        "topK": 20,
        "maxOutputTokens": 64000,
        "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 1024},
    }
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["b"]}}
    names = [d["name"] for d in body["tools"][0]["functionDeclarations"]]
    assert names == ["a", "b"]
    user_parts = body["contents"][0]["parts"]
    assert user_parts[1] == {"inlineData": {"mimeType": "image/png", "data": png}}
    assert user_parts[2] == {"inlineData": {"mimeType": "application/pdf", "data": pdf}}
    result = body["contents"][2]["parts"]
    assert result[0] == {"functionResponse": {"name": "a", "response": {"error": "boom"}, "id": "toolu_1"}}
    assert result[1] == {"text": "then?"}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, {"mode": "AUTO"}),
        ({"type": "any"}, {"mode": "ANY"}),
        ({"type": "none"}, {"mode": "NONE"}),
    ],
)
def test_tool_choice_modes(
    client: anthropic.Anthropic, simulator: Simulator, choice: Any, expected: dict[str, Any]
) -> None:
    client.messages.create(
        model=MODEL,
        max_tokens=64,
        tools=[{"name": "t", "input_schema": {"type": "object"}}],
        tool_choice=choice,
        messages=[{"role": "user", "content": "hi"}],
    )
    assert last_body(simulator)["toolConfig"] == {"functionCallingConfig": expected}


def test_claude_code_shaped_request_is_accepted(gw: Gateway, simulator: Simulator) -> None:
    """What Claude Code 2.1 sends: ?beta=true, beta headers, cached system blocks, a system message, adaptive thinking."""
    tools = [
        {
            "name": f"Tool{i}",
            "description": f"tool {i}",
            "input_schema": {
                "$schema": "http://json-schema.org/draft-07/schema#",
                "type": "object",
                "properties": {"p": {"type": "string"}},
                "additionalProperties": False,
            },
        }
        for i in range(24)
    ]
    body = {
        "model": "claude-opus-4-6",
        "max_tokens": 64000,
        "stream": True,
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1"},
            {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "<system-reminder>ctx</system-reminder>"},
                    {"type": "text", "text": "REPLY_WITH all good", "cache_control": {"type": "ephemeral"}},
                ],
            },
            {"role": "system", "content": "Extra system note."},
        ],
        "tools": tools,
        "thinking": {"type": "adaptive", "display": "omitted"},
        "output_config": {"effort": "medium"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "metadata": {"user_id": orjson.dumps({"device_id": "d", "session_id": "s"}).decode()},
    }
    headers = {
        "x-api-key": "dummy",
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,made-up-beta-2099",
        "X-Claude-Code-Session-Id": "f868dc10-a551-4d75-9c9d-f5bb0cb37591",
        "anthropic-dangerous-direct-browser-access": "true",
    }
    r = httpx.post(f"{gw.base_url}/v1/messages?beta=true", json=body, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    events = sse(r.text)
    text = "".join(d["delta"].get("text", "") for n, d in events if n == "content_block_delta")
    assert text == "all good"
    upstream_body = last_body(simulator)
    assert upstream_body["systemInstruction"]["parts"][0]["text"].endswith("Be brief.\n\nExtra system note.")
    assert upstream_body["generationConfig"]["maxOutputTokens"] == 64000
    assert upstream_body["generationConfig"]["thinkingConfig"] == {"includeThoughts": False, "thinkingBudget": 8192}
    assert len(upstream_body["tools"][0]["functionDeclarations"]) == 24


def test_golden_stream_text(gw: Gateway, simulator: Simulator) -> None:
    simulator.script(KEY, {"text": "one two three", "chunks": 3})
    body = {"model": MODEL, "max_tokens": 100, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    r = httpx.post(f"{gw.base_url}/v1/messages", json=body, timeout=30)
    events = sse(r.text)
    assert shape(events) == (GOLDEN / "text_stream.txt").read_text().splitlines()
    start = events[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None and start["model"] == MODEL
    # The simulator reports usage on the last chunk only, so the totals arrive with message_delta.
    final_usage = events[-2][1]["usage"]
    assert final_usage["output_tokens"] > 0 and final_usage["input_tokens"] > 0


def test_golden_stream_thinking_text_and_two_tools(gw: Gateway, simulator: Simulator) -> None:
    calls = [{"name": "a", "args": {"x": 1}}, {"name": "b", "args": {"y": [1, 2]}}]
    simulator.script(KEY, {"thoughts": "hmm", "text": "Calling tools.", "function_calls": calls, "chunks": 2})
    body = {
        "model": MODEL,
        "max_tokens": 2000,
        "stream": True,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tools": [{"name": "a", "input_schema": {"type": "object"}}, {"name": "b", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": "go"}],
    }
    r = httpx.post(f"{gw.base_url}/v1/messages", json=body, timeout=30)
    events = sse(r.text)
    assert shape(events) == (GOLDEN / "thinking_tools_stream.txt").read_text().splitlines()
    starts = [d["content_block"] for n, d in events if n == "content_block_start"]
    assert [s.get("name") for s in starts if s["type"] == "tool_use"] == ["a", "b"]
    json_parts = [
        d["delta"]["partial_json"]
        for n, d in events
        if n == "content_block_delta" and d["delta"]["type"] == "input_json_delta"
    ]
    assert [orjson.loads(p) for p in json_parts] == [{"x": 1}, {"y": [1, 2]}]


def test_ping_during_silence_and_mid_stream_error(gw: Gateway, simulator: Simulator) -> None:
    simulator.script(KEY, {"text": "slow answer here", "chunks": 2, "chunk_delay": 1.0})
    body = {"model": MODEL, "max_tokens": 100, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    r = httpx.post(f"{gw.base_url}/v1/messages", json=body, timeout=30)
    events = sse(r.text)
    assert "ping" in [n for n, _ in events]
    assert [n for n, _ in events][-1] == "message_stop"

    simulator.script(KEY, {"text": "a b c d", "chunks": 4, "error_after": 2, "status": 503})
    r = httpx.post(f"{gw.base_url}/v1/messages", json=body, timeout=30)
    events = sse(r.text)
    assert events[0][0] == "message_start"
    assert events[-1][0] == "error"
    assert events[-1][1]["error"]["type"] == "overloaded_error"  # Google's 503 mid-stream


def test_count_tokens_counts_system_tools_and_images(client: anthropic.Anthropic, simulator: Simulator) -> None:
    messages: Any = [{"role": "user", "content": "count these words please"}]
    plain = client.messages.count_tokens(model=MODEL, messages=messages).input_tokens
    png = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()
    tools: Any = [
        {"name": "search", "description": "Search the web for things " * 10, "input_schema": {"type": "object"}}
    ]
    full = client.messages.count_tokens(
        model=MODEL,
        system="You are a careful assistant. " * 20,
        tools=tools,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "count these words please"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
                ],
            }
        ],
    )
    assert plain > 0
    assert full.input_tokens > plain + 258  # the system prompt, the tool and one image all count
    call = upstream(simulator, "countTokens")[-1]
    inner = call["body"]["generateContentRequest"]
    assert inner["model"] == "models/gemini-2.5-pro"
    assert "systemInstruction" in inner and "tools" in inner


def test_count_tokens_estimates_when_upstream_cannot_count(gw: Gateway, simulator: Simulator) -> None:
    body = {"model": MODEL, "system": "s" * 300, "messages": [{"role": "user", "content": "w" * 300}]}
    r = httpx.post(f"{gw.base_url}/v1/messages/count_tokens", json=body, timeout=30)
    assert r.headers["x-poolgate-token-count"] == "upstream"
    counted = r.json()["input_tokens"]
    simulator.script(KEY, *[{"status": 500, "message": "backend error"}] * 4)
    r = httpx.post(f"{gw.base_url}/v1/messages/count_tokens", json=body, timeout=30)
    assert r.status_code == 200
    assert r.headers["x-poolgate-token-count"] == "estimate"
    assert r.json()["input_tokens"] >= counted  # the estimate errs high


def test_a_count_that_hits_a_quota_leaves_the_model_serving(gw: Gateway, simulator: Simulator) -> None:
    # Claude Code counts tokens before it sends: countTokens has its own limits at Google, so its
    # per-model 429 must not cool the model for messages (the only account would then refuse them).
    body = {"model": MODEL, "messages": [{"role": "user", "content": "count me"}]}
    simulator.script(KEY, {"status": 429, "reason": "RATE_LIMIT_EXCEEDED", "retry_delay": "30s"})
    counted = httpx.post(f"{gw.base_url}/v1/messages/count_tokens", json=body, timeout=30)
    assert counted.status_code == 200 and counted.headers["x-poolgate-token-count"] == "estimate"
    answer = httpx.post(f"{gw.base_url}/v1/messages", json={**body, "max_tokens": 20}, timeout=30)
    assert answer.status_code == 200, answer.text


def test_models_list_and_retrieve_with_anthropic_sdk(client: anthropic.Anthropic) -> None:
    ids = [m.id for m in client.models.list()]
    assert "gemini-2.5-flash" in ids
    model = client.models.retrieve("gemini-2.5-pro")
    assert model.id == "gemini-2.5-pro" and model.type == "model"


def test_models_come_in_pages_the_sdk_follows(client: anthropic.Anthropic, gw: Gateway) -> None:
    everything = [m.id for m in client.models.list(limit=1000)]
    assert len(everything) > 20
    first = client.models.list()  # Anthropic's default page holds 20
    assert [m.id for m in first.data] == everything[:20] and first.has_more and first.last_id == everything[19]
    # The SDK's auto-pagination walks after_id cursors to the same list.
    assert [m.id for m in client.models.list(limit=7)] == everything
    later = client.models.list(limit=3, after_id=everything[4])
    assert [m.id for m in later.data] == everything[5:8] and later.has_more
    earlier = client.models.list(limit=3, before_id=everything[4])
    assert [m.id for m in earlier.data] == everything[1:4] and earlier.has_more
    unknown = httpx.get(
        f"{gw.base_url}/v1/models", params={"after_id": "no-such-model"}, headers={"anthropic-version": "2023-06-01"}
    )
    assert unknown.status_code == 400
    assert unknown.json()["error"] == {
        "type": "invalid_request_error",
        "message": "after_id names no model in this list: 'no-such-model'.",
    }


class _City(pydantic.BaseModel):
    name: str
    population: int
    tags: list[str]


@pytest.mark.parametrize("stream", [False, True])
def test_structured_output_through_messages_parse(
    client: anthropic.Anthropic, simulator: Simulator, stream: bool
) -> None:
    asked: dict[str, Any] = {"model": MODEL, "max_tokens": 300, "output_format": _City}
    messages: Any = [{"role": "user", "content": "A city, as JSON."}]
    if stream:
        with client.messages.stream(messages=messages, **asked) as s:
            parsed = s.get_final_message().parsed_output
    else:
        parsed = client.messages.parse(messages=messages, **asked).parsed_output
    assert isinstance(parsed, _City)
    config = last_body(simulator)["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseSchema"]["required"] == ["name", "population", "tags"]
    assert config["responseSchema"]["properties"]["tags"] == {"type": "array", "items": {"type": "string"}}


def test_structured_output_other_than_json_schema_is_refused(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(
            model=MODEL,
            max_tokens=50,
            messages=[{"role": "user", "content": "x"}],
            output_config={"format": {"type": "xml"}},  # type: ignore[typeddict-item]
        )
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "'output_config.format.type' must be 'json_schema'."},
    }


@pytest.mark.parametrize(
    ("tool", "call"),
    [
        (
            {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
            {"command": "str_replace", "path": "/src/a.py", "old_str": "x = 1", "new_str": "x = 2"},
        ),
        ({"type": "bash_20250124", "name": "bash"}, {"command": "ls -la"}),
        (
            {"type": "memory_20250818", "name": "memory"},
            {"command": "rename", "old_path": "/memories/a.md", "new_path": "/memories/b.md"},
        ),
    ],
)
def test_anthropic_defined_client_tools_are_declared_and_called(
    client: anthropic.Anthropic, simulator: Simulator, tool: dict[str, Any], call: dict[str, Any]
) -> None:
    name = tool["name"]
    messages: Any = [{"role": "user", "content": f"Go. CALL_TOOL {name} {orjson.dumps(call).decode()}"}]
    first = client.messages.create(model=MODEL, max_tokens=200, messages=messages, tools=[tool])
    (use,) = [b for b in first.content if b.type == "tool_use"]
    assert (use.name, use.input) == (name, call)
    assert first.stop_reason == "tool_use"
    (decl,) = last_body(simulator)["tools"][0]["functionDeclarations"]
    assert decl["name"] == name and "command" in decl["parameters"]["properties"]
    messages += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "done"}]},
    ]
    second = client.messages.create(model=MODEL, max_tokens=200, messages=messages, tools=[tool])
    assert second.content[-1].type == "text" and "done" in second.content[-1].text


def test_an_unknown_anthropic_tool_type_is_refused_by_name(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(
            model=MODEL,
            max_tokens=50,
            messages=[{"role": "user", "content": "x"}],
            tools=[
                {"type": "computer_20250124", "name": "computer", "display_width_px": 1024, "display_height_px": 768}
            ],
        )
    assert "computer_20250124" in str(caught.value.body)


@pytest.mark.parametrize(
    ("block", "field", "words"),
    [
        (
            {"type": "image", "source": {"type": "url", "url": "http://127.0.0.1:9/cat.png"}},
            "messages[0].content[0].source.url",
            "private or reserved",
        ),
        (
            {"type": "document", "source": {"type": "url", "url": "http://10.1.2.3/paper.pdf"}},
            "messages[0].content[0].source.url",
            "private or reserved",
        ),
        (
            {"type": "document", "source": {"type": "file", "file_id": "file_011"}},
            "messages[0].content[0].source",
            "base64 or a URL",
        ),
    ],
)
def test_media_that_cannot_be_used_is_refused_naming_the_clients_field(
    client: anthropic.Anthropic, simulator: Simulator, block: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model=MODEL, max_tokens=50, messages=[{"role": "user", "content": [block]}])
    message = str(caught.value.body)
    assert f"'{field}'" in message and words in message
    assert upstream(simulator) == []
