"""Gemini-native routes over raw HTTP: shapes, framing, auth, errors, and what reaches the upstream."""

from __future__ import annotations

import httpx
import orjson
import pytest

from tests.conftest import Gateway, Simulator
from tests.integration.gemini.conftest import ACCOUNT_KEY, CLIENT_KEY, goog, upstream_calls, user

TEXT = "Hello from the simulator (model gemini-2.5-flash). You said: "


@pytest.mark.parametrize("version", ["v1beta", "v1"])
def test_generate_content_answers_in_gemini_shape(gemini_gateway: Gateway, sim: Simulator, version: str) -> None:
    r = goog(gemini_gateway, f"/{version}/models/gemini-2.5-flash:generateContent", {"contents": [user("ping")]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["candidates"][0]["content"]["parts"][0]["text"] == TEXT + "ping"
    assert body["usageMetadata"]["totalTokenCount"] > 0
    assert r.headers["x-mapped-model"] == "gemini-2.5-flash"
    [call] = upstream_calls(sim)
    assert call["path"] == "/v1beta/models/gemini-2.5-flash:generateContent"


def test_client_key_never_reaches_upstream(gemini_gateway: Gateway, sim: Simulator) -> None:
    goog(gemini_gateway, "/v1beta/models/gemini-2.5-flash:generateContent", {"contents": [user("a")]})
    r = httpx.post(
        f"{gemini_gateway.base_url}/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        params={"alt": "sse", "key": CLIENT_KEY},
        json={"contents": [user("b")]},
    )
    assert r.status_code == 200
    calls = upstream_calls(sim)
    assert len(calls) == 2
    for call in calls:
        assert call["headers"]["x-goog-api-key"] == ACCOUNT_KEY
        assert CLIENT_KEY not in orjson.dumps(call).decode()


def test_model_is_routed_and_reported(gemini_gateway: Gateway, sim: Simulator) -> None:
    r = goog(gemini_gateway, "/v1beta/models/gpt-4o:generateContent", {"contents": [user("routed")]})
    assert r.status_code == 200, r.text
    assert r.headers["x-mapped-model"] == "gemini-2.5-flash"
    [call] = upstream_calls(sim)
    assert call["model"] == "gemini-2.5-flash"


def test_stream_with_alt_sse_is_google_sse(gemini_gateway: Gateway, sim: Simulator) -> None:
    url = f"{gemini_gateway.base_url}/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    with httpx.stream(
        "POST", url, params={"alt": "sse"}, json={"contents": [user("stream")]}, headers={"x-goog-api-key": CLIENT_KEY}
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = r.read()
    events = [e for e in raw.split(b"\r\n\r\n") if e]
    assert all(e.startswith(b"data: ") for e in events)
    chunks = [orjson.loads(e[len(b"data: ") :]) for e in events]
    assert len(chunks) >= 2
    text = "".join(p.get("text", "") for c in chunks for p in c["candidates"][0]["content"]["parts"])
    assert text == TEXT + "stream"
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert b"[DONE]" not in raw


def test_stream_without_alt_is_a_json_array(gemini_gateway: Gateway, sim: Simulator) -> None:
    r = goog(gemini_gateway, "/v1/models/gemini-2.5-flash:streamGenerateContent", {"contents": [user("array")]})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    chunks = r.json()
    assert isinstance(chunks, list) and len(chunks) >= 2
    text = "".join(p.get("text", "") for c in chunks for p in c["candidates"][0]["content"]["parts"])
    assert text == TEXT + "array"


@pytest.mark.parametrize("alt", ["sse", None])
def test_mid_stream_failure_is_a_final_error_chunk(gemini_gateway: Gateway, sim: Simulator, alt: str | None) -> None:
    sim.script(ACCOUNT_KEY, {"error_after": 1, "status": 503, "message": "backend went away"})
    params = {"alt": alt} if alt else {}
    r = goog(
        gemini_gateway, "/v1beta/models/gemini-2.5-flash:streamGenerateContent", {"contents": [user("x")]}, **params
    )
    assert r.status_code == 200
    if alt:
        chunks = [orjson.loads(e[len(b"data: ") :]) for e in r.content.split(b"\r\n\r\n") if e]
    else:
        chunks = r.json()
    assert chunks[0]["candidates"][0]["content"]["parts"][0]["text"]
    error = chunks[-1]["error"]
    # The status Google gave, not a blanket 502 INTERNAL.
    assert (error["code"], error["status"]) == (503, "UNAVAILABLE")
    assert "backend went away" in error["message"]


def test_count_tokens(gemini_gateway: Gateway, sim: Simulator) -> None:
    text = "count these twenty-eight chars"
    r = goog(gemini_gateway, "/v1beta/models/gemini-2.5-flash:countTokens", {"contents": [user(text)]})
    assert r.status_code == 200, r.text
    assert r.json() == {"totalTokens": len(text) // 4}  # the simulator's tokenizer: a quarter of the characters
    [call] = upstream_calls(sim, "countTokens")
    assert call["path"] == "/v1beta/models/gemini-2.5-flash:countTokens"


@pytest.mark.parametrize("version", ["v1beta", "v1"])
def test_count_tokens_slash_form(gemini_gateway: Gateway, sim: Simulator, version: str) -> None:
    text = "count these twenty-eight chars"
    r = goog(gemini_gateway, f"/{version}/models/gemini-2.5-flash/countTokens", {"contents": [user(text)]})
    assert r.status_code == 200, r.text
    assert r.json() == {"totalTokens": len(text) // 4}
    assert upstream_calls(sim, "countTokens")[-1]["path"] == "/v1beta/models/gemini-2.5-flash:countTokens"
    r = goog(gemini_gateway, f"/{version}/models/gemini-2.5-flash/generateContent", {"contents": [user(text)]})
    assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"


def test_signature_is_restored_when_the_client_replays_a_placeholder(gemini_gateway: Gateway, sim: Simulator) -> None:
    tools = [{"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "OBJECT"}}]}]
    prompt = user('What is the weather? CALL_TOOL get_weather {"city": "Paris"}')
    first = goog(
        gemini_gateway,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        {"contents": [prompt], "tools": tools},
        alt="sse",
    )
    chunks = [orjson.loads(e[len(b"data: ") :]) for e in first.content.split(b"\r\n\r\n") if e]
    call_part = next(p for c in chunks for p in c["candidates"][0]["content"]["parts"] if "functionCall" in p)
    signature = call_part["thoughtSignature"]
    assert signature.startswith("sig-")
    for replayed in ({"thoughtSignature": "skip_thought_signature_validator"}, {}):
        model_turn = {"role": "model", "parts": [{"functionCall": call_part["functionCall"], **replayed}]}
        answer = {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"t": 21}}}]}
        r = goog(
            gemini_gateway,
            "/v1beta/models/gemini-2.5-flash:generateContent",
            {"contents": [prompt, model_turn, answer], "tools": tools},
        )
        assert r.status_code == 200, r.text
        assert r.json()["candidates"][0]["content"]["parts"][0]["text"] == 'Tool result: {"t":21}'
        sent = upstream_calls(sim, "generateContent")[-1]["body"]
        assert sent["contents"][1]["parts"][0]["thoughtSignature"] == signature


def test_client_signature_is_kept(gemini_gateway: Gateway, sim: Simulator) -> None:
    turn = {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "client-sig"}]}
    body = {"contents": [user("q"), turn, user("go on")]}
    assert goog(gemini_gateway, "/v1beta/models/gemini-2.5-flash:generateContent", body).status_code == 200
    assert upstream_calls(sim)[-1]["body"] == body


def test_upstream_client_error_keeps_status_and_message(gemini_gateway: Gateway, sim: Simulator) -> None:
    sim.script(ACCOUNT_KEY, {"status": 400, "message": "Invalid value at 'contents[0]'"})
    r = goog(gemini_gateway, "/v1beta/models/gemini-2.5-flash:generateContent", {"contents": [user("x")]})
    assert r.status_code == 400
    assert r.json()["error"] == {"code": 400, "message": "Invalid value at 'contents[0]'", "status": "INVALID_ARGUMENT"}


def test_unknown_upstream_model_is_404(gemini_gateway: Gateway, sim: Simulator) -> None:
    r = goog(gemini_gateway, "/v1beta/models/no-such-model:generateContent", {"contents": [user("x")]})
    assert r.status_code == 404
    assert r.json()["error"]["status"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("path", "raw", "status", "grpc"),
    [
        ("/v1beta/models/gemini-2.5-flash:predict", b"{}", 404, "NOT_FOUND"),
        ("/v1beta/models/gemini-embedding-001:embedContent", b"{}", 400, "INVALID_ARGUMENT"),
        ("/v1beta/models/gemini-2.5-flash", b"{}", 404, "NOT_FOUND"),
        ("/v1beta/models/gemini-2.5-flash:generateContent", b"{not json", 400, "INVALID_ARGUMENT"),
        ("/v1beta/models/gemini-2.5-flash:generateContent", b'{"contents": "hi"}', 400, "INVALID_ARGUMENT"),
        ("/v1/models/gemini-2.5-flash:countTokens", b'{"contents": [{"parts": "x"}]}', 400, "INVALID_ARGUMENT"),
        (
            "/v1/models/gemini-2.5-flash:generateContent",
            b'{"contents": [{"parts": [{"text": 1}]}]}',
            400,
            "INVALID_ARGUMENT",
        ),
        ("/v1beta/tunedModels/x:generateContent", b"{}", 404, "NOT_FOUND"),
    ],
)
def test_bad_requests_get_gemini_errors(
    gemini_gateway: Gateway, sim: Simulator, path: str, raw: bytes, status: int, grpc: str
) -> None:
    r = httpx.post(f"{gemini_gateway.base_url}{path}", content=raw, headers={"x-goog-api-key": CLIENT_KEY})
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == status and error["status"] == grpc and error["message"]
    assert upstream_calls(sim) == []


@pytest.mark.parametrize(
    "auth",
    [{"headers": {"x-goog-api-key": "wrong"}}, {"params": {"key": "wrong"}}, {}],
)
def test_bad_or_missing_key_is_401_in_gemini_shape(gemini_gateway: Gateway, sim: Simulator, auth: dict) -> None:
    r = httpx.post(
        f"{gemini_gateway.base_url}/v1beta/models/gemini-2.5-flash:generateContent",
        json={"contents": [user("x")]},
        **auth,
    )
    assert r.status_code == 401
    assert r.json()["error"]["status"] == "UNAUTHENTICATED"
    assert upstream_calls(sim) == []


@pytest.mark.parametrize(
    "auth",
    [
        {"headers": {"authorization": f"Bearer {CLIENT_KEY}"}},
        {"headers": {"x-api-key": CLIENT_KEY}},
        {"params": {"key": CLIENT_KEY}},
    ],
)
def test_other_key_carriers_are_accepted(gemini_gateway: Gateway, sim: Simulator, auth: dict) -> None:
    r = httpx.post(
        f"{gemini_gateway.base_url}/v1beta/models/gemini-2.5-flash:generateContent",
        json={"contents": [user("x")]},
        **auth,
    )
    assert r.status_code == 200, r.text


def test_models_list_and_get_in_gemini_shape(gemini_gateway: Gateway, sim: Simulator) -> None:
    listed = httpx.get(f"{gemini_gateway.base_url}/v1beta/models", params={"key": CLIENT_KEY}).json()
    names = {m["name"] for m in listed["models"]}
    assert "models/gemini-2.5-flash" in names and "models/gpt-4o" in names
    flash = httpx.get(
        f"{gemini_gateway.base_url}/v1beta/models/gemini-2.5-flash", headers={"x-goog-api-key": CLIENT_KEY}
    ).json()
    assert flash["name"] == "models/gemini-2.5-flash"
    assert "generateContent" in flash["supportedGenerationMethods"]
    missing = httpx.get(f"{gemini_gateway.base_url}/v1beta/models/nope-model", headers={"x-goog-api-key": CLIENT_KEY})
    assert missing.status_code == 404 and missing.json()["error"]["status"] == "NOT_FOUND"


def test_v1_models_shape_follows_the_credentials(gemini_gateway: Gateway, sim: Simulator) -> None:
    url = f"{gemini_gateway.base_url}/v1/models"
    openai_shape = httpx.get(url, headers={"authorization": f"Bearer {CLIENT_KEY}"}).json()
    assert openai_shape["object"] == "list"
    assert any(m["id"] == "gemini-2.5-flash" and m["object"] == "model" for m in openai_shape["data"])
    for gemini_shape in (
        httpx.get(url, headers={"x-goog-api-key": CLIENT_KEY}).json(),
        httpx.get(url, params={"key": CLIENT_KEY}).json(),
    ):
        assert "object" not in gemini_shape
        assert any(m["name"] == "models/gemini-2.5-flash" for m in gemini_shape["models"])
    bad_goog = httpx.get(url, params={"key": "wrong"})
    assert bad_goog.status_code == 401 and bad_goog.json()["error"]["status"] == "UNAUTHENTICATED"
    bad_openai = httpx.get(url, headers={"authorization": "Bearer wrong"})
    assert bad_openai.status_code == 401 and bad_openai.json()["error"]["type"]
    one = httpx.get(f"{url}/gpt-4o", headers={"authorization": f"Bearer {CLIENT_KEY}"}).json()
    assert one == {"id": "gpt-4o", "object": "model", "created": one["created"], "owned_by": "poolgate"}
    one_gemini = httpx.get(f"{url}/gpt-4o", headers={"x-goog-api-key": CLIENT_KEY}).json()
    assert one_gemini["name"] == "models/gpt-4o"
