"""Every request converter answers a malformed body with a 400 that names a field, never a crash.

Each protocol's parser gets a full, valid body; then every field in it, at every depth, is replaced
in turn by each of a set of odd JSON values (wrong types, unhashable values where a string is
looked up in a table, huge numbers, control characters) or removed. A crash here is a 500 with a
traceback in the server: a list given as a message `role` used to end that way.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from poolgate.errors import GatewayError
from poolgate.protocols import openai_completions, openai_embeddings, openai_images, openai_speech
from poolgate.protocols.anthropic import request as anthropic_request
from poolgate.protocols.gemini import embed
from poolgate.protocols.gemini import request as gemini_request
from poolgate.protocols.openai_chat import request as chat_request
from poolgate.protocols.openai_responses import request as responses_request

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32).decode()
ODD: list[Any] = [
    None,
    0,
    -1,
    2**70,
    1.5e308,
    True,
    "",
    "x",
    "\x00",
    [],
    [None],
    [1, 2],
    {},
    {"type": None},
    {"a": None},
]
DELETE = object()

CHAT: dict[str, Any] = {
    "model": "gemini-2.5-flash",
    "messages": [
        {"role": "system", "content": "be brief"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "hi"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64," + PNG}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "string"}}}},
        }
    ],
    "tool_choice": {"type": "function", "function": {"name": "f"}},
    "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
    "stream_options": {"include_usage": True},
    "temperature": 0.5,
    "max_tokens": 20,
    "stop": ["x"],
    "n": 1,
    "reasoning_effort": "low",
}
COMPLETIONS: dict[str, Any] = {"model": "gemini-2.5-flash", "prompt": ["hi"], "max_tokens": 5, "stop": "\n"}
RESPONSES: dict[str, Any] = {
    "model": "gemini-2.5-flash",
    "instructions": "be brief",
    "input": [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "hi"},
                {"type": "input_image", "image_url": "data:image/png;base64," + PNG},
            ],
        },
        {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c", "output": "x"},
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "t"}]},
    ],
    "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}, {"type": "web_search"}],
    "tool_choice": {"type": "function", "name": "f"},
    "reasoning": {"effort": "low"},
    "text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}}},
    "max_output_tokens": 50,
}
MESSAGES: dict[str, Any] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 50,
    "system": [{"type": "text", "text": "be brief"}],
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "hi"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
            ],
        },
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "ok"}]}],
        },
    ],
    "tools": [{"name": "f", "input_schema": {"type": "object"}}, {"type": "web_search_20250305", "name": "s"}],
    "tool_choice": {"type": "tool", "name": "f"},
    "thinking": {"type": "enabled", "budget_tokens": 1024},
    "metadata": {"user_id": "u"},
}
GEMINI: dict[str, Any] = {
    "contents": [{"role": "user", "parts": [{"text": "hi"}, {"inlineData": {"mimeType": "image/png", "data": PNG}}]}],
    "systemInstruction": {"parts": [{"text": "be brief"}]},
    "generationConfig": {"temperature": 0.3, "thinkingConfig": {"thinkingBudget": 100}},
    "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "OBJECT"}}]}],
}
BATCH_EMBED: dict[str, Any] = {"requests": [{"content": {"parts": [{"text": "hi"}]}, "outputDimensionality": 8}]}
EMBEDDINGS: dict[str, Any] = {"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 8}
IMAGES: dict[str, Any] = {"model": "gpt-image-1", "prompt": "a cat", "n": 2, "size": "1024x1536", "quality": "high"}
IMAGE_EDIT: dict[str, Any] = {
    "prompt": "add a hat",
    "images": [{"image_url": "data:image/png;base64," + PNG}, {"image_url": "https://example.com/cat.png"}],
    "mask": {"image_url": "data:image/png;base64," + PNG},
}
SPEECH: dict[str, Any] = {"model": "tts-1", "input": "hello", "voice": "alloy", "speed": 1.25, "instructions": "calm"}


def _gemini(body: dict[str, Any]) -> object:
    gemini_request.validate(body)
    return gemini_request.prepare(body)


CONVERTERS: dict[str, tuple[dict[str, Any], Callable[[dict[str, Any]], object]]] = {
    "chat": (CHAT, chat_request.to_hub),
    "completions": (COMPLETIONS, openai_completions.to_hub),
    "responses": (RESPONSES, responses_request.to_hub),
    "messages": (MESSAGES, anthropic_request.to_hub),
    "count_tokens": (MESSAGES, lambda body: anthropic_request.to_hub(body, for_count=True)),
    "gemini": (GEMINI, _gemini),
    "gemini-embed": (BATCH_EMBED, lambda body: embed.batch_body(body, embed.BATCH_EMBED, "gemini-embedding-001")),
    "embeddings": (EMBEDDINGS, openai_embeddings.parse),
    "images": (
        IMAGES,
        lambda body: openai_images.to_hub(openai_images.parse_generation(body), "gemini-2.5-flash-image"),
    ),
    "image-edit": (IMAGE_EDIT, lambda body: openai_images.parse_edit_json(body)),
    "speech": (SPEECH, lambda body: openai_speech.to_hub(openai_speech.parse(body))),
}


def _paths(node: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if at:
        yield at
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*at, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*at, i))


def _mutated(template: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    body = copy.deepcopy(template)
    node: Any = body
    for key in path[:-1]:
        node = node[key]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = copy.deepcopy(value)
    return body


@pytest.mark.parametrize("name", sorted(CONVERTERS))
def test_every_field_replaced_by_an_odd_value_gives_a_400_or_a_request(name: str) -> None:
    template, convert = CONVERTERS[name]
    convert(copy.deepcopy(template))  # the template itself is valid
    paths = list(_paths(template))
    tried = 0
    for path in paths:
        for value in [*ODD, *([DELETE] if isinstance(path[-1], str) else [])]:
            body = _mutated(template, path, value)
            tried += 1
            try:
                convert(body)
            except GatewayError as err:
                assert err.status == 400 and err.message, (path, value, err)
            except Exception as exc:  # the point of the test: name the body that crashed
                pytest.fail(f"{name}: {'.'.join(map(str, path))} = {value!r} raised {exc!r}")
    assert tried >= len(paths) * len(ODD)
