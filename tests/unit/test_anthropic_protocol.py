"""The Anthropic protocol's pure parts: block assembly (stop sequences, signatures) and request conversion."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from poolgate.errors import GatewayError
from poolgate.hub import tokens
from poolgate.hub.events import Finish, HubEvent, TextDelta, ThoughtDelta, ToolCall, Usage
from poolgate.hub.types import JSON
from poolgate.protocols.anthropic import request, signatures
from poolgate.protocols.anthropic.blocks import BlockAssembler, apply


def run(assembler: BlockAssembler, *batches: list[HubEvent]) -> list[JSON]:
    content: list[JSON] = []
    partial: dict[int, str] = {}
    for batch in batches:
        for event in assembler.feed(batch):
            apply(content, event, partial)
    for event in assembler.finish():
        apply(content, event, partial)
    return content


def texts(content: list[JSON]) -> str:
    return "".join(b["text"] for b in content if b["type"] == "text")


@given(st.lists(st.text(alphabet="abEND ", max_size=6), max_size=8))
def test_stop_sequence_found_across_any_chunking(pieces: list[str]) -> None:
    whole = "".join(pieces)
    assembler = BlockAssembler(request_id="r" * 24, thinking=False, stop_sequences=["END", "bb"])
    content = run(assembler, *[[TextDelta(p)] for p in pieces])
    hits = [(whole.find(s), s) for s in ("END", "bb") if s in whole]
    if hits:
        at, seq = min(hits)
        assert texts(content) == whole[:at]
        assert assembler.stop_reason == "stop_sequence" and assembler.stop_sequence == seq
    else:
        assert texts(content) == whole  # held-back tails are flushed when the answer ends
        assert assembler.stop_sequence is None


def test_after_a_stop_sequence_nothing_more_is_shown() -> None:
    assembler = BlockAssembler(request_id="r" * 24, thinking=False, stop_sequences=["##"])
    content = run(assembler, [TextDelta("one ##two")], [ToolCall("t", {}), TextDelta("more")], [Usage(5, 3)])
    assert content == [{"type": "text", "text": "one "}]
    assert assembler.done and assembler.stop_reason == "stop_sequence" and assembler.usage == Usage(5, 3)


def test_signatures_ride_on_thinking_blocks() -> None:
    assembler = BlockAssembler(request_id="r" * 24, thinking=True)
    content = run(
        assembler,
        [ThoughtDelta("plan "), ThoughtDelta("more")],
        [TextDelta("answer", signature="S1")],
        [ThoughtDelta("second", signature="S2")],
        [ToolCall("f", {"a": 1}, call_id="c-1", signature="S3"), ToolCall("g", {})],
        [Finish("STOP")],
    )
    assert content == [
        {"type": "thinking", "thinking": "plan more", "signature": signatures.wrap("next", "S1")},
        {"type": "text", "text": "answer"},
        {"type": "thinking", "thinking": "second", "signature": signatures.wrap("own", "S2")},
        {"type": "thinking", "thinking": "", "signature": signatures.wrap("next", "S3")},
        {"type": "tool_use", "id": "c-1", "name": "f", "input": {"a": 1}},
        {"type": "tool_use", "id": "toolu_rrrrrrrrrrrrrrrr02", "name": "g", "input": {}},
    ]
    assert assembler.stop_reason == "tool_use"


def test_without_thinking_no_thinking_blocks_and_calls_are_recorded() -> None:
    recorded: list[tuple[str, str, dict[str, Any], str]] = []
    assembler = BlockAssembler(request_id="r" * 24, thinking=False, record_call=lambda *args: recorded.append(args))
    content = run(
        assembler, [ThoughtDelta("hidden"), TextDelta("", signature="S0"), ToolCall("f", {"x": 1}, call_id="bad id!")]
    )
    assert [b["type"] for b in content] == ["tool_use"]
    assert content[0]["id"].startswith("toolu_")
    # The empty signed text part's signature belongs to the call that follows it.
    assert recorded == [(content[0]["id"], "f", {"x": 1}, "S0")]


def test_round_trip_puts_each_signature_back_on_its_part() -> None:
    assembler = BlockAssembler(request_id="r" * 24, thinking=True)
    blocks = run(
        assembler,
        [ThoughtDelta("t1", signature="OWN1")],
        [ToolCall("f", {"a": 1}, call_id="c1", signature="CALL1"), ToolCall("f", {"a": 2}, call_id="c2")],
    )
    body = {
        "model": "claude-x",
        "max_tokens": 10,
        "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": blocks},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "c1", "content": "r1"},
                    {"type": "tool_result", "tool_use_id": "c2", "content": "r2"},
                ],
            },
        ],
    }
    parts = request.to_hub(body).hub["contents"][1]["parts"]
    assert parts == [
        {"text": "t1", "thought": True, "thoughtSignature": "OWN1"},
        {"functionCall": {"name": "f", "args": {"a": 1}, "id": "c1"}, "thoughtSignature": "CALL1"},
        {"functionCall": {"name": "f", "args": {"a": 2}, "id": "c2"}},
    ]


SEARCHED: JSON = {
    "webSearchQueries": ["q1", "q2"],
    "groundingChunks": [{"web": {"uri": "https://a.example/1", "title": "a"}}, {"web": {"uri": "https://b.example/2"}}],
    "groundingSupports": [
        {"segment": {"startIndex": 6, "endIndex": 11, "text": "world"}, "groundingChunkIndices": [1]}
    ],
}


def test_web_search_grounding_cites_the_text_then_shows_each_query() -> None:
    assembler = BlockAssembler(request_id="r" * 24, thinking=True, web_search=True)
    content: list[JSON] = []
    partial: dict[int, str] = {}
    events = assembler.feed([ThoughtDelta("plan")]) + assembler.feed([TextDelta("hello world")], SEARCHED)
    for event in events + assembler.finish():
        apply(content, event, partial)
    assert [b["type"] for b in content] == [
        "thinking",
        "text",
        "server_tool_use",
        "web_search_tool_result",
        "server_tool_use",
        "web_search_tool_result",
    ]
    (cite,) = content[1]["citations"]
    assert (cite["cited_text"], cite["url"], cite["title"]) == ("world", "https://b.example/2", None)
    assert [content[i]["input"] for i in (2, 4)] == [{"query": "q1"}, {"query": "q2"}]
    assert content[3]["tool_use_id"] == content[2]["id"] and content[5]["tool_use_id"] == content[4]["id"]
    assert [r["url"] for r in content[3]["content"]] == ["https://a.example/1", "https://b.example/2"]
    assert content[5]["content"] == []  # Gemini does not say which query found which source
    assert assembler.searches == 2


def test_grounding_is_ignored_unless_the_request_offered_search() -> None:
    assembler = BlockAssembler(request_id="r" * 24, thinking=False)
    content: list[JSON] = []
    for event in assembler.feed([TextDelta("hello world")], SEARCHED) + assembler.finish():
        apply(content, event, {})
    assert content == [{"type": "text", "text": "hello world"}] and assembler.searches == 0


def test_restore_signatures_only_fills_gaps() -> None:
    hub: Any = {
        "contents": [
            {
                "role": "model",
                "parts": [{"functionCall": {"name": "f", "args": {}, "id": "a"}, "thoughtSignature": "KEEP"}],
            },
            {"role": "model", "parts": [{"functionCall": {"name": "g", "args": {}, "id": "b"}}]},
        ]
    }
    assert request.restore_signatures(hub, lambda cid, name, args: f"sig-{cid}") == 1
    assert hub["contents"][0]["parts"][0]["thoughtSignature"] == "KEEP"
    assert hub["contents"][1]["parts"][0]["thoughtSignature"] == "sig-b"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        ({"max_tokens": 5, "messages": []}, "messages"),
        ({"max_tokens": 5, "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        (
            {"max_tokens": 5, "system": [{"type": "image"}], "messages": [{"role": "user", "content": "x"}]},
            "system[0].type",
        ),
        (
            {"max_tokens": 5, "thinking": {"type": "sometimes"}, "messages": [{"role": "user", "content": "x"}]},
            "thinking.type",
        ),
        ({"max_tokens": 5, "stop_sequences": [1], "messages": [{"role": "user", "content": "x"}]}, "stop_sequences"),
        (
            {
                "max_tokens": 5,
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "%%%"}}
                        ],
                    }
                ],
            },
            "messages[0].content[0].source.data",
        ),
        (
            {
                "max_tokens": 5,
                "tools": [{"type": "computer_20250124", "name": "computer"}],
                "messages": [{"role": "user", "content": "x"}],
            },
            "tools[0]",
        ),
    ],
)
def test_bad_requests_name_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(GatewayError) as err:
        request.to_hub({"model": "claude-x", **body})
    assert err.value.status == 400 and err.value.param == field


def test_estimate_counts_everything_and_errs_high() -> None:
    text_only = request.to_hub({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "a" * 400}]})
    base = tokens.estimate(text_only.hub)
    assert base >= 400 // 4
    with_all = request.to_hub(
        {
            "model": "m",
            "max_tokens": 5,
            "system": "s" * 300,
            "tools": [
                {
                    "name": "t",
                    "description": "d" * 300,
                    "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
                }
            ],
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "a" * 400},
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "aGk="}},
                    ],
                }
            ],
        }
    )
    assert tokens.estimate(with_all.hub) >= base + 100 + 100 + tokens.IMAGE_TOKENS
