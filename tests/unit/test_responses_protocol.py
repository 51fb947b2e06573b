"""Responses request conversion and stored-response retention (pure code and a real SQLite file)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from poolgate.errors import GatewayError
from poolgate.protocols.openai_responses.items import encode_signature
from poolgate.protocols.openai_responses.request import to_hub
from poolgate.protocols.openai_responses.stream import ResponsesEncoder
from poolgate.store.responses import ResponseStore
from poolgate.store.sql import SqlStore


def test_function_call_history_and_outputs_become_gemini_turns() -> None:
    body: dict[str, Any] = {
        "model": "m",
        "instructions": "sys",
        "input": [
            {"role": "user", "content": "hi"},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": encode_signature("SIG1")},
            {"type": "function_call", "call_id": "c1", "name": "spawn", "namespace": "agents", "arguments": '{"a":1}'},
            {"type": "function_call", "call_id": "c2", "name": "ls", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "plain text"},
            {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": '{"n": 2}'}]},
            {"type": "item_reference", "id": "x"},
        ],
    }
    hub = to_hub(body).hub
    assert hub["systemInstruction"] == {"parts": [{"text": "sys"}]}
    user, model, outputs = hub["contents"]
    assert user["parts"] == [{"text": "hi"}]
    assert model["parts"][0] == {
        "functionCall": {"name": "agents__spawn", "args": {"a": 1}, "id": "c1"},
        "thoughtSignature": "SIG1",
    }
    assert "thoughtSignature" not in model["parts"][1]
    responses = [p["functionResponse"] for p in outputs["parts"]]  # type: ignore[typeddict-item]
    assert responses[0] == {"name": "agents__spawn", "response": {"output": "plain text"}, "id": "c1"}
    assert responses[1]["name"] == "ls" and responses[1]["response"] == {"n": 2}


def test_foreign_encrypted_content_is_ignored() -> None:
    body = {
        "model": "m",
        "input": [
            {"role": "user", "content": "hi"},
            {"type": "reasoning", "summary": [], "encrypted_content": "gAAAA-openai-blob"},
            {"role": "assistant", "content": [{"type": "output_text", "text": "yo"}]},
        ],
    }
    model = to_hub(body).hub["contents"][1]
    assert model["parts"] == [{"text": "yo"}]


def test_more_output_than_gemini_gives_is_asked_for_as_its_ceiling() -> None:
    config = to_hub({"model": "m", "input": "hi", "max_output_tokens": 128_000}).hub["generationConfig"]
    assert config["maxOutputTokens"] == 65_536


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("required", {"functionCallingConfig": {"mode": "ANY"}}),
        ("none", {"functionCallingConfig": {"mode": "NONE"}}),
        ({"type": "function", "name": "f"}, {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}}),
    ],
)
def test_tool_choice(choice: object, expected: dict[str, Any]) -> None:
    tools = [
        {"type": "function", "name": "f", "parameters": {"type": "object", "properties": {"x": {"type": "string"}}}}
    ]
    hub = to_hub({"model": "m", "input": "x", "tools": tools, "tool_choice": choice}).hub
    assert hub["toolConfig"] == expected  # type: ignore[typeddict-item]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        (
            {"model": "m", "input": [{"role": "user", "content": [{"type": "input_image"}]}]},
            "input[0].content[0].image_url",
        ),
        ({"model": "m", "input": "x", "reasoning": {"effort": "max"}}, "reasoning.effort"),
        ({"model": "m", "input": "x", "tool_choice": {"type": "function", "name": "nope"}}, "tool_choice.name"),
        ({"model": "m", "input": [{"type": "function_call_output", "output": "x"}]}, "input[0].call_id"),
    ],
)
def test_bad_input_names_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(GatewayError) as err:
        to_hub(body)
    assert err.value.status == 400 and err.value.param == param


def test_encoder_grammar_for_a_call_without_thoughts() -> None:
    enc = ResponsesEncoder(response_id="resp_abc", skeleton={"model": "m"})
    enc.start()
    chunk = {
        "candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": {}}}]}, "finishReason": "STOP"}]
    }
    enc.feed(chunk)
    enc.finish()
    assert enc.response["status"] == "completed"
    assert [i["type"] for i in enc.response["output"]] == ["function_call"]


def test_stored_responses_expire_with_retention(tmp_path: Path) -> None:
    store = SqlStore.open(tmp_path)
    responses = ResponseStore(store.engine)
    now = time.time()
    responses.save({"id": "resp_old", "output": []}, [{"role": "user", "content": "a"}], now - 40 * 86400)
    responses.save({"id": "resp_new", "output": [{"type": "message"}]}, [], now)
    assert responses.delete_before(now - 30 * 86400) == 1
    assert responses.get("resp_old") is None
    kept = responses.get("resp_new")
    assert kept is not None and kept.conversation() == [{"type": "message"}]
    store.close()


def test_blocked_prompt_is_incomplete_not_an_empty_success() -> None:
    enc = ResponsesEncoder(response_id="resp_abc", skeleton={"model": "m"})
    enc.start()
    enc.feed({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}})
    enc.finish()
    assert enc.response["status"] == "incomplete"
    assert enc.response["incomplete_details"] == {"reason": "content_filter"}
    assert enc.response["usage"]["input_tokens"] == 3
