"""Broken bodies on every API: each gets a clear 4xx in its own protocol's error shape, never a 5xx.

Valid requests of each protocol are damaged at random (a field dropped, or replaced by a value of
another JSON type, an empty or overlong string, a huge number), a few at a time, with fixed seeds so
a failure can be replayed. This is how two bugs were found that no hand-written case had covered
(an account key that could not travel in a header; a 404 for embedding with a chat model that parked
the model for chat): each case here asks only what a client would notice, the status and the shape.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import httpx
import pytest

from tests.conftest import Gateway, Simulator
from tests.integration.gateways import keyed_gateway

KEY = "key-malformed-0001"
CASES_PER_ROUTE = 40

gw = keyed_gateway("malformed", KEY)

TOOL_SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}}
VALID: dict[str, dict[str, Any]] = {
    "/v1/chat/completions": {
        "model": "gemini-2.5-flash",
        "messages": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": TOOL_SCHEMA}}],
        "tool_choice": "auto",
        "temperature": 0.5,
        "max_tokens": 10,
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
        "stop": ["x"],
    },
    "/v1/completions": {"model": "gpt-3.5-turbo-instruct", "prompt": ["a", "b"], "max_tokens": 5, "logprobs": 2},
    "/v1/messages": {
        "model": "claude-sonnet-4-5",
        "max_tokens": 10,
        "system": [{"type": "text", "text": "s"}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]},
        ],
        "tools": [{"name": "f", "input_schema": TOOL_SCHEMA}],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    },
    "/v1/messages/count_tokens": {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]},
    "/v1/responses": {
        "model": "gpt-5",
        "instructions": "be brief",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "ok"},
        ],
        "tools": [{"type": "function", "name": "f", "parameters": TOOL_SCHEMA}, {"type": "custom", "name": "p"}],
        "reasoning": {"effort": "low"},
        "store": False,
    },
    "/v1/embeddings": {"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 8},
    "/v1/images/generations": {"model": "gpt-image-1", "prompt": "a cat", "n": 1, "size": "1024x1024"},
    "/v1beta/models/gemini-2.5-flash:generateContent": {
        "contents": [
            {"role": "user", "parts": [{"text": "hi"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"r": 1}}}]},
        ],
        "systemInstruction": {"parts": [{"text": "s"}]},
        "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "OBJECT"}}]}],
        "generationConfig": {"temperature": 0.5, "maxOutputTokens": 10},
    },
    "/v1beta/models/gemini-embedding-001:embedContent": {"content": {"parts": [{"text": "hi"}]}},
}
STREAMS = ("/v1/chat/completions", "/v1/messages", "/v1/responses")
ODD_VALUES: list[Any] = [None, True, 0, -1, 1e308, 2**64, "", "x", "\u0000", [], {}, [None], {"type": None}, "a" * 3000]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, inner in items:
        found += _paths(inner, (*prefix, key))
    return found


def damaged(body: dict[str, Any], rnd: random.Random) -> dict[str, Any]:
    out = copy.deepcopy(body)
    for _ in range(rnd.randint(1, 3)):
        paths = _paths(out)
        if not paths:
            break
        path = rnd.choice(paths)
        parent = out
        for key in path[:-1]:
            parent = parent[key]
        if rnd.random() < 0.2:
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(rnd.choice(ODD_VALUES))
    return out


def well_shaped(route: str, r: httpx.Response) -> bool:
    """The error body a client of this protocol can read: status, type and message where it looks."""
    try:
        body = r.json()
    except ValueError:
        return False
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("message"), str) or not error["message"]:
        return False
    if route.startswith("/v1/messages"):
        return bool(body.get("type") == "error" and isinstance(error.get("type"), str))
    if route.startswith("/v1beta/"):
        return bool(error.get("code") == r.status_code and isinstance(error.get("status"), str))
    return isinstance(error.get("type"), str)


@pytest.mark.parametrize("route", list(VALID))
def test_damaged_bodies_get_a_clear_error_in_their_protocol(gw: Gateway, simulator: Simulator, route: str) -> None:
    rnd = random.Random(route)
    headers = {"anthropic-version": "2023-06-01"} if route.startswith("/v1/messages") else {}
    answered = 0
    with httpx.Client(base_url=gw.base_url, headers=headers, timeout=30) as client:
        assert client.post(route, json=VALID[route]).status_code == 200  # the undamaged body is served
        for case in range(CASES_PER_ROUTE):
            body = damaged(VALID[route], rnd)
            if route in STREAMS and case % 3 == 0:
                body["stream"] = True
            raw = json.dumps(body)  # not orjson: it refuses the 2**64 a client may send
            r = client.post(route, content=raw, headers={"content-type": "application/json"})
            where = f"case {case}: {raw[:400]}"
            assert r.status_code < 500, f"{r.status_code} {r.text[:300]} for {where}"
            if r.status_code >= 400:
                assert well_shaped(route, r), f"{r.status_code} {r.text[:300]} for {where}"
            else:
                answered += 1
        # Nothing the broken bodies did may have cooled or parked the account: a good body is served.
        assert client.post(route, json=VALID[route]).status_code == 200
    assert answered < CASES_PER_ROUTE  # the damage was real: most bodies were refused
