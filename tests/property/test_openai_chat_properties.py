"""Property tests: any valid OpenAI Chat request converts without error into a request Gemini's schema accepts,
arbitrary JSON never escapes as anything but a 400, and any Gemini answer encodes into well-formed output."""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poolgate.errors import GatewayError
from poolgate.hub.signatures import CallIdAssigner, SignatureStore, restore_into_request
from poolgate.protocols.openai_chat import request, response
from poolgate.protocols.openai_chat.stream import ChatEncoder
from tests.property.gemini_request import check_request

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MODELS = [
    "gemini-2.5-flash",
    "gemini-2.5-pro",
    "gemini-2.5-flash-lite",
    "gemini-3-pro-preview",
    "gemini-3-flash-preview",
    "gemini-2.0-flash",
]
texts = st.text(max_size=40)
names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True)
json_scalars = (
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False, allow_infinity=False) | texts
)
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3), max_leaves=8
)
b64 = st.binary(min_size=1, max_size=30).map(lambda b: base64.b64encode(b).decode())


def leaf_schema() -> st.SearchStrategy[dict[str, Any]]:
    base = st.sampled_from(["string", "number", "integer", "boolean", "null"]).map(lambda t: {"type": t})
    extras = st.fixed_dictionaries(
        {},
        optional={
            "description": texts,
            "title": texts,
            "default": json_scalars,
            "examples": st.lists(json_scalars, max_size=2),
            "format": st.sampled_from(["date-time", "email", "uri", "uuid", "int64", "float"]),
            "minLength": st.integers(0, 5),
            "maximum": st.integers(0, 100),
        },
    )
    other = st.one_of(
        st.builds(lambda v: {"const": v}, json_scalars),
        st.builds(lambda vs: {"enum": vs}, st.lists(json_scalars, min_size=1, max_size=3)),
        st.builds(lambda t: {"type": [t, "null"]}, st.sampled_from(["string", "integer", "object", "array"])),
        st.just({}),
    )
    return st.builds(lambda a, b: {**a, **b}, base | other, extras)


schemas = st.recursive(
    leaf_schema(),
    lambda inner: st.one_of(
        st.builds(
            lambda props, extra: {
                "type": "object",
                "properties": props,
                "required": sorted(props)[: len(props) // 2],
                **extra,
            },
            st.dictionaries(names, inner, max_size=4),
            st.fixed_dictionaries({}, optional={"additionalProperties": st.booleans(), "$schema": st.just("x")}),
        ),
        st.builds(lambda items: {"type": "array", "items": items}, inner),
        st.builds(lambda alts: {"anyOf": alts}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda alts: {"oneOf": [*alts, {"type": "null"}]}, st.lists(inner, min_size=1, max_size=2)),
        st.builds(lambda d: {"type": "object", "$defs": {"D": d}, "properties": {"p": {"$ref": "#/$defs/D"}}}, inner),
    ),
    max_leaves=10,
)


@st.composite
def user_content(draw: st.DrawFn) -> Any:
    if draw(st.booleans()):
        return draw(texts)
    parts = draw(
        st.lists(
            st.one_of(
                st.builds(lambda t: {"type": "text", "text": t}, texts),
                st.builds(
                    lambda m, d: {"type": "image_url", "image_url": {"url": f"data:{m};base64,{d}"}},
                    st.sampled_from(["image/png", "image/jpeg", "image/webp"]),
                    b64,
                ),
                st.builds(lambda u: {"type": "image_url", "image_url": {"url": f"https://example.com/{u}.png"}}, names),
                st.builds(
                    lambda d, f: {"type": "input_audio", "input_audio": {"data": d, "format": f}},
                    b64,
                    st.sampled_from(["wav", "mp3"]),
                ),
                st.builds(
                    lambda d: {
                        "type": "file",
                        "file": {"filename": "a.pdf", "file_data": f"data:application/pdf;base64,{d}"},
                    },
                    b64,
                ),
            ),
            max_size=4,
        )
    )
    return parts


@st.composite
def chat_requests(draw: st.DrawFn) -> dict[str, Any]:
    tool_names = draw(st.lists(names, unique=True, max_size=4))
    tools = []
    for name in tool_names:
        fn: dict[str, Any] = {"name": name}
        if draw(st.booleans()):
            fn["description"] = draw(texts)
        if draw(st.booleans()):
            fn["parameters"] = draw(schemas)
        tools.append({"type": "function", "function": fn})
    messages: list[Any] = []
    if draw(st.booleans()):
        messages.append({"role": draw(st.sampled_from(["system", "developer"])), "content": draw(texts)})
    counter = 0
    for _ in range(draw(st.integers(1, 4))):
        messages.append({"role": "user", "content": draw(user_content())})
        if draw(st.booleans()):
            assistant: dict[str, Any] = {"role": "assistant", "content": draw(st.none() | texts)}
            calls = []
            if tool_names:
                for name in draw(st.lists(st.sampled_from(tool_names), max_size=3)):
                    counter += 1
                    args = draw(st.dictionaries(texts, json_values, max_size=3))
                    calls.append(
                        {
                            "id": f"call_{counter}",
                            "type": "function",
                            "function": {"name": name, "arguments": json.dumps(args)},
                        }
                    )
            if calls:
                assistant["tool_calls"] = calls
            messages.append(assistant)
            for call in calls:
                # Sometimes a result is missing, as when a user interrupts a tool run.
                if draw(st.integers(0, 4)):
                    messages.append({"role": "tool", "tool_call_id": call["id"], "content": draw(texts)})
    body: dict[str, Any] = {"model": draw(st.sampled_from(MODELS)), "messages": messages}
    if tools:
        body["tools"] = tools
        choice = draw(st.sampled_from(["none", "auto", "required", "named", "allowed", None]))
        if choice == "named":
            body["tool_choice"] = {"type": "function", "function": {"name": draw(st.sampled_from(tool_names))}}
        elif choice == "allowed":
            body["tool_choice"] = {
                "type": "allowed_tools",
                "allowed_tools": {
                    "mode": draw(st.sampled_from(["auto", "required"])),
                    "tools": [{"type": "function", "function": {"name": draw(st.sampled_from(tool_names))}}],
                },
            }
        elif choice is not None:
            body["tool_choice"] = choice
    optional = {
        "temperature": st.floats(0, 2),
        "top_p": st.floats(0, 1),
        "max_tokens": st.integers(1, 10_000),
        "max_completion_tokens": st.integers(1, 10_000),
        "n": st.integers(1, 8),
        "seed": st.integers(0, 2**31),
        "stop": st.one_of(texts, st.lists(texts, max_size=4)),
        "presence_penalty": st.floats(-2, 2),
        "frequency_penalty": st.floats(-2, 2),
        "reasoning_effort": st.sampled_from(["none", "minimal", "low", "medium", "high"]),
        "response_format": st.one_of(
            st.just({"type": "text"}),
            st.just({"type": "json_object"}),
            st.builds(lambda s: {"type": "json_schema", "json_schema": {"name": "x", "schema": s}}, schemas),
        ),
        "user": texts,
        "metadata": st.dictionaries(texts, texts, max_size=3),
        "stream": st.booleans(),
        "stream_options": st.just({"include_usage": True}),
        "parallel_tool_calls": st.booleans(),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            body[key] = draw(strategy)
    if draw(st.booleans()):
        body["logprobs"] = True
        if draw(st.booleans()):
            body["top_logprobs"] = draw(st.integers(0, 20))
    return body


@SETTINGS
@given(chat_requests())
def test_valid_requests_convert_into_valid_gemini_requests(body: dict[str, Any]) -> None:
    chat = request.to_hub(body)
    hub = orjson.loads(orjson.dumps(chat.hub))
    check_request(hub)
    restore_into_request(hub, "session", SignatureStore(), chat.model)
    check_request(hub)
    # Gemini wants every call answered, one to one, in the turn that follows it.
    contents = chat.hub["contents"]
    for turn, after in itertools.pairwise(contents):
        call_ids = sorted(p["functionCall"]["id"] for p in turn["parts"] if "functionCall" in p)
        if call_ids:
            assert sorted(p["functionResponse"]["id"] for p in after["parts"] if "functionResponse" in p) == call_ids
    # Tool-call arguments are replayed exactly as the client sent them.
    sent_args = [
        json.loads(c["function"]["arguments"])
        for m in body["messages"]
        if m["role"] == "assistant"
        for c in m.get("tool_calls", [])
    ]
    hub_args = [p["functionCall"]["args"] for c in chat.hub["contents"] for p in c["parts"] if "functionCall" in p]
    assert hub_args == sent_args


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "model",
                "messages",
                "tools",
                "tool_choice",
                "n",
                "response_format",
                "reasoning_effort",
                "logprobs",
                "top_logprobs",
                "metadata",
                "stop",
            ]
        ),
        json_values,
    )
)
def test_arbitrary_json_is_converted_or_rejected_with_a_400(body: dict[str, Any]) -> None:
    try:
        request.to_hub(body)
    except GatewayError as err:
        assert err.status == 400 and err.message


part_strategy = st.one_of(
    st.builds(lambda t: {"text": t}, texts),
    st.builds(lambda t: {"text": t, "thought": True}, texts),
    st.builds(
        lambda n, a: {"functionCall": {"name": n, "args": a}, "thoughtSignature": "sig"},
        names,
        st.dictionaries(texts, json_values, max_size=3),
    ),
    st.builds(lambda d: {"inlineData": {"mimeType": "image/png", "data": d}}, b64),
)
answers = st.builds(
    lambda cands, usage: {"candidates": cands, **({"usageMetadata": usage} if usage else {})},
    st.lists(
        st.builds(
            lambda parts, reason, idx: {
                "content": {"role": "model", "parts": parts},
                "index": idx,
                **({"finishReason": reason} if reason else {}),
            },
            st.lists(part_strategy, max_size=4),
            st.sampled_from(
                [None, "STOP", "MAX_TOKENS", "SAFETY", "MALFORMED_FUNCTION_CALL", "OTHER", "SOMETHING_NEW"]
            ),
            st.integers(0, 2),
        ),
        max_size=3,
    ),
    st.none()
    | st.fixed_dictionaries(
        {
            "promptTokenCount": st.integers(0, 999),
            "candidatesTokenCount": st.integers(0, 999),
            "thoughtsTokenCount": st.integers(0, 999),
        }
    ),
)
FINISH = {"stop", "length", "tool_calls", "content_filter"}


@SETTINGS
@given(st.lists(answers, min_size=1, max_size=4), st.booleans())
def test_any_answer_encodes_into_well_formed_output(chunks: list[dict[str, Any]], include_usage: bool) -> None:
    ids = CallIdAssigner("prop")
    encoder = ChatEncoder(request_id="prop", model="m", created=0, include_usage=include_usage)
    out = b"".join(b for chunk in chunks for b in encoder.feed(ids.apply(chunk))) + b"".join(encoder.finish())
    events = out.decode().split("\n\n")
    assert events[-2] == "data: [DONE]" and events[-1] == ""
    seen: dict[int, dict[int, str]] = {}
    for event in events[:-2]:
        item = orjson.loads(event.removeprefix("data: "))
        for choice in item["choices"]:
            assert choice["finish_reason"] in FINISH | {None}
            for call in choice["delta"].get("tool_calls") or []:
                calls = seen.setdefault(choice["index"], {})
                if "id" in call:
                    assert call["index"] == len(calls) and call["id"] not in calls.values()
                    calls[call["index"]] = call["id"]
                else:
                    assert call["index"] in calls
    body, _ = response.from_hub(chunks[-1], request_id="prop", model="m", created=0)
    for choice in body["choices"]:
        assert choice["finish_reason"] in FINISH
        for call in choice["message"].get("tool_calls") or []:
            assert isinstance(json.loads(call["function"]["arguments"]), dict)
