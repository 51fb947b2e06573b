"""The google-genai SDK against poolgate: its default API version and v1beta, over real HTTP."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pytest
from google import genai
from google.genai import errors, types

from tests.conftest import Gateway, Simulator
from tests.integration.gemini.conftest import ACCOUNT_KEY, CLIENT_KEY, upstream_calls

MODEL = "gemini-2.5-flash"


class Client:
    def __init__(self, gw: Gateway, version: str | None, key: str = CLIENT_KEY) -> None:
        self.paths: list[str] = []
        http = httpx.Client(timeout=30, event_hooks={"request": [lambda r: self.paths.append(r.url.path)]})
        options = types.HttpOptions(base_url=gw.base_url, httpx_client=http)
        if version is not None:
            options.api_version = version
        self.sdk = genai.Client(api_key=key, http_options=options)
        self.http = http


@pytest.fixture(params=[None, "v1beta"], ids=["default-version", "v1beta"])
def client(request: pytest.FixtureRequest, gemini_gateway: Gateway) -> Iterator[Client]:
    made = Client(gemini_gateway, request.param)
    yield made
    made.http.close()
    expected = "/v1beta/" if request.param == "v1beta" else "/v1/"
    assert made.paths and all(p.startswith(expected) for p in made.paths), made.paths


def test_generate_content(client: Client, sim: Simulator) -> None:
    response = client.sdk.models.generate_content(model=MODEL, contents="Bonjour, qui es-tu ?")
    assert response.text == f"Hello from the simulator (model {MODEL}). You said: Bonjour, qui es-tu ?"
    assert response.usage_metadata is not None and response.usage_metadata.total_token_count
    assert [c["method"] for c in upstream_calls(sim)] == ["generateContent"]


def test_generate_content_stream(client: Client, sim: Simulator) -> None:
    chunks = list(client.sdk.models.generate_content_stream(model=MODEL, contents="stream, please"))
    assert len(chunks) >= 2
    assert (
        "".join(c.text or "" for c in chunks) == f"Hello from the simulator (model {MODEL}). You said: stream, please"
    )
    assert chunks[-1].candidates and chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP


def test_generate_content_with_a_tool_call(client: Client, sim: Simulator) -> None:
    tool = types.Tool(
        function_declarations=[
            types.FunctionDeclaration(
                name="get_weather",
                description="Weather for a city",
                parameters=types.Schema(
                    type=types.Type.OBJECT, properties={"city": types.Schema(type=types.Type.STRING)}
                ),
            )
        ]
    )
    config = types.GenerateContentConfig(
        tools=[tool], automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True)
    )
    response = client.sdk.models.generate_content(
        model=MODEL, contents='CALL_TOOL get_weather {"city": "Lyon"}', config=config
    )
    assert response.function_calls and response.function_calls[0].name == "get_weather"
    assert response.function_calls[0].args == {"city": "Lyon"}
    sent = upstream_calls(sim)[-1]["body"]["tools"][0]["functionDeclarations"][0]["parameters"]
    assert sent == {"type": "object", "properties": {"city": {"type": "string"}}}


def test_count_tokens(client: Client, sim: Simulator) -> None:
    text = "a sentence of exactly forty characters.."
    result = client.sdk.models.count_tokens(model=MODEL, contents=text)
    assert result.total_tokens == len(text) // 4


def test_models_list_and_get(client: Client, sim: Simulator) -> None:
    names = [m.name for m in client.sdk.models.list()]
    assert f"models/{MODEL}" in names and "models/gpt-4o" in names
    model = client.sdk.models.get(model=MODEL)
    assert model.name == f"models/{MODEL}"
    assert model.supported_actions and "generateContent" in model.supported_actions


def test_models_come_in_pages_the_sdk_follows(client: Client, sim: Simulator) -> None:
    everything = [m.name for m in client.sdk.models.list(config={"page_size": 1000})]
    pager = client.sdk.models.list(config={"page_size": 4})
    assert [m.name for m in pager.page] == everything[:4]
    assert [m.name for m in pager] == everything  # the pager follows nextPageToken to the end


@pytest.mark.parametrize("version", [None, "v1beta"], ids=["default-version", "v1beta"])
def test_files_and_caches_are_refused_in_gemini_shape_with_the_reason(
    gemini_gateway: Gateway, sim: Simulator, version: str | None
) -> None:
    # Both live in one upstream account; a pool cannot serve them, and the 404 says what to do instead.
    made = Client(gemini_gateway, version)
    with pytest.raises(errors.ClientError) as upload:
        made.sdk.files.upload(file=io.BytesIO(b"hello"), config={"mime_type": "text/plain"})
    assert upload.value.code == 404 and upload.value.status == "NOT_FOUND"
    assert "Send the content inline" in str(upload.value.message)
    with pytest.raises(errors.ClientError) as cache:
        made.sdk.caches.create(model=MODEL, config={"contents": ["x"]})
    assert cache.value.code == 404 and cache.value.status == "NOT_FOUND"
    assert "caches repeated prompt prefixes by itself" in str(cache.value.message)
    with pytest.raises(errors.ClientError) as batch:
        made.sdk.batches.create(model=MODEL, src=[{"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}])
    assert batch.value.code == 404 and "one upstream account keeps" in str(batch.value.message)
    made.http.close()
    assert upstream_calls(sim) == []


def test_wrong_key_raises_client_error(gemini_gateway: Gateway, sim: Simulator) -> None:
    bad = Client(gemini_gateway, None, key="not-the-key")
    with pytest.raises(errors.ClientError) as caught:
        bad.sdk.models.generate_content(model=MODEL, contents="x")
    bad.http.close()
    assert caught.value.code == 401 and caught.value.status == "UNAUTHENTICATED"
    assert upstream_calls(sim) == []


def test_upstream_error_surfaces_as_sdk_error(gemini_gateway: Gateway, sim: Simulator) -> None:
    sim.script(ACCOUNT_KEY, {"status": 400, "message": "Request contains an invalid argument."})
    client = Client(gemini_gateway, "v1beta")
    with pytest.raises(errors.ClientError) as caught:
        client.sdk.models.generate_content(model=MODEL, contents="x")
    client.http.close()
    assert caught.value.code == 400 and caught.value.message == "Request contains an invalid argument."
