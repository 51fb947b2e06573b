"""Simulator behaviours added for chat fidelity: parallel CALL_TOOL lines, logprobs, Gemini 3 signature checks."""

from __future__ import annotations

from typing import Any

import httpx

from tests.unit.sim_client import client

TOOLS = [{"functionDeclarations": [{"name": "get_weather"}]}]
HEADERS = {"x-goog-api-key": "K"}


__all__ = ["client"]  # the fixture is used by name


def gen(model: str) -> str:
    return f"/v1beta/models/{model}:generateContent"


async def test_several_call_tool_lines_make_parallel_calls(client: httpx.AsyncClient) -> None:
    text = 'CALL_TOOL get_weather {"city": "Paris"}\nCALL_TOOL get_weather {"city": "Oslo"}\nCALL_TOOL nope {}'
    body = {"contents": [{"role": "user", "parts": [{"text": text}]}], "tools": TOOLS}
    parts = (await client.post(gen("gemini-2.5-flash"), json=body, headers=HEADERS)).json()["candidates"][0]["content"][
        "parts"
    ]
    assert [p["functionCall"]["args"] for p in parts] == [{"city": "Paris"}, {"city": "Oslo"}]


async def test_logprobs_when_asked(client: httpx.AsyncClient) -> None:
    body: dict[str, Any] = {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {"responseLogprobs": True, "logprobs": 3},
    }
    cand = (await client.post(gen("gemini-2.0-flash"), json=body, headers=HEADERS)).json()["candidates"][0]
    result = cand["logprobsResult"]
    text = cand["content"]["parts"][0]["text"]
    assert "".join(c["token"] for c in result["chosenCandidates"]) == text
    assert all(len(top["candidates"]) == 3 for top in result["topCandidates"])
    del body["generationConfig"]
    plain = (await client.post(gen("gemini-2.0-flash"), json=body, headers=HEADERS)).json()["candidates"][0]
    assert "logprobsResult" not in plain


def replay(signature: str | None) -> dict[str, Any]:
    call: dict[str, Any] = {"functionCall": {"name": "get_weather", "args": {}}}
    if signature is not None:
        call["thoughtSignature"] = signature
    return {
        "tools": TOOLS,
        "contents": [
            {"role": "user", "parts": [{"text": "weather?"}]},
            {"role": "model", "parts": [call]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"t": 1}}}]},
        ],
    }


async def test_gemini3_rejects_an_unsigned_call_in_the_current_turn(client: httpx.AsyncClient) -> None:
    missing = await client.post(gen("gemini-3-pro-preview"), json=replay(None), headers=HEADERS)
    assert missing.status_code == 400
    assert "thought_signature" in missing.json()["error"]["message"]
    signed = await client.post(gen("gemini-3-pro-preview"), json=replay("sig-abc"), headers=HEADERS)
    assert signed.status_code == 200
    # Older models, and calls before the latest user message, are not checked.
    assert (await client.post(gen("gemini-2.5-flash"), json=replay(None), headers=HEADERS)).status_code == 200
    older = replay(None)
    older["contents"] += [{"role": "model", "parts": [{"text": "ok"}]}, {"role": "user", "parts": [{"text": "more"}]}]
    assert (await client.post(gen("gemini-3-pro-preview"), json=older, headers=HEADERS)).status_code == 200
