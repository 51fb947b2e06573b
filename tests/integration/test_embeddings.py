"""Embeddings end to end: the openai SDK's embeddings.create and google-genai's embed_content against poolgate.

The simulator's vectors come from a hash of the text (so equal texts give equal vectors) and, like
Gemini's, only the full-size ones are normalised.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from google import genai
from google.genai import types

from tests.conftest import Gateway, Simulator
from tests.integration.gateways import keyed_gateway, openai_client
from tests.integration.oauth_support import new_user, oauth_gateway
from tests.support import poll, refused_field

KEY = "key-embeddings-0001"


gw = keyed_gateway("embed", KEY)


@pytest.fixture
def client(gw: Gateway, simulator_process: Simulator) -> openai.OpenAI:
    return openai_client(gw, simulator_process)


def batches(sim: Simulator) -> list[dict[str, Any]]:
    return [c for c in sim.calls(KEY) if c["method"] == "batchEmbedContents"]


def norm(v: list[float]) -> float:
    return math.sqrt(sum(x * x for x in v))


def test_openai_names_get_their_usual_size_normalised(client: openai.OpenAI, simulator_process: Simulator) -> None:
    # The SDK asks for base64 by default and decodes it: that path is the one most programs take.
    raw = client.embeddings.with_raw_response.create(model="text-embedding-3-small", input=["alpha", "beta", "alpha"])
    result = raw.parse()
    assert raw.headers["x-mapped-model"] == "gemini-embedding-001"
    vectors = [d.embedding for d in result.data]
    assert [d.index for d in result.data] == [0, 1, 2] and result.model == "text-embedding-3-small"
    assert {len(v) for v in vectors} == {1536}
    assert all(abs(norm(v) - 1) < 1e-5 for v in vectors)  # Gemini leaves cut vectors unnormalised
    assert vectors[0] == pytest.approx(vectors[2]) and vectors[0] != pytest.approx(vectors[1])
    assert result.usage.prompt_tokens > 0
    [call] = batches(simulator_process)
    assert call["model"] == "gemini-embedding-001"
    first = call["body"]["requests"][0]
    assert first == {
        "model": "models/gemini-embedding-001",
        "content": {"parts": [{"text": "alpha"}]},
        "outputDimensionality": 1536,
    }


def test_float_format_and_explicit_dimensions_agree_with_base64(client: openai.OpenAI) -> None:
    floats = client.embeddings.create(model="text-embedding-3-large", input="gamma", encoding_format="float")
    decoded = client.embeddings.create(model="text-embedding-3-large", input="gamma")
    assert len(floats.data[0].embedding) == 3072
    assert floats.data[0].embedding == pytest.approx(decoded.data[0].embedding, abs=1e-6)
    small = client.embeddings.create(model="gemini-embedding-001", input="gamma", dimensions=256)
    assert len(small.data[0].embedding) == 256 and abs(norm(small.data[0].embedding) - 1) < 1e-5


def test_many_inputs_go_in_batches_of_a_hundred(client: openai.OpenAI, simulator_process: Simulator) -> None:
    texts = [f"text number {n}" for n in range(230)]
    result = client.embeddings.create(model="text-embedding-3-small", input=texts, dimensions=64)
    assert len(result.data) == 230 and [d.index for d in result.data] == list(range(230))
    sizes = sorted(len(c["body"]["requests"]) for c in batches(simulator_process))
    assert sizes == [30, 100, 100]
    # Order survives the split: the 150th vector is the one for the 150th text.
    alone = client.embeddings.create(model="text-embedding-3-small", input=texts[150], dimensions=64)
    assert result.data[150].embedding == pytest.approx(alone.data[0].embedding)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "text-embedding-3-small", "input": [[1, 2, 3]]}, "input"),
        ({"model": "text-embedding-3-small", "input": []}, "input"),
        ({"model": "text-embedding-3-small", "input": ["ok", " "]}, "input[1]"),
        ({"model": "text-embedding-3-small", "input": "x", "dimensions": 5000}, "dimensions"),
        ({"model": "text-embedding-3-small", "input": "x", "encoding_format": "hex"}, "encoding_format"),
        ({"input": "x"}, "model"),
    ],
)
def test_bad_bodies_are_named(gw: Gateway, body: dict[str, Any], param: str) -> None:
    assert refused_field(httpx.post(f"{gw.v1}/embeddings", json=body, timeout=30))["param"] == param


def test_a_chat_model_is_refused_by_google(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        client.embeddings.create(model="gemini-2.5-flash", input="x")
    assert "batchEmbedContents" in err.value.message
    # Google's 404 says the model does not embed; chat with it must go on (it once parked the model
    # on every account for ten minutes), and a chat call naming an embedding model must not stop embeddings.
    chat = client.chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}])
    assert chat.choices[0].message.content
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gemini-embedding-001", messages=[{"role": "user", "content": "hi"}])
    assert len(client.embeddings.create(model="gemini-embedding-001", input="x").data) == 1


def test_google_genai_embed_content(gw: Gateway, simulator_process: Simulator) -> None:
    simulator_process.reset()
    gclient = genai.Client(api_key="any", http_options=types.HttpOptions(base_url=gw.base_url))
    result = gclient.models.embed_content(
        model="gemini-embedding-001",
        contents=["first text", "second text"],
        config=types.EmbedContentConfig(output_dimensionality=128, task_type="RETRIEVAL_DOCUMENT"),
    )
    assert result.embeddings is not None and len(result.embeddings) == 2
    assert [len(e.values or []) for e in result.embeddings] == [128, 128]
    sent = batches(simulator_process)[-1]["body"]["requests"][0]
    assert sent["taskType"] == "RETRIEVAL_DOCUMENT" and sent["outputDimensionality"] == 128
    # The single form answers one `embedding`.
    one = httpx.post(
        f"{gw.base_url}/v1beta/models/gemini-embedding-001:embedContent",
        json={"content": {"parts": [{"text": "first text"}]}, "outputDimensionality": 128},
        timeout=30,
    )
    assert one.status_code == 200, one.text
    assert one.json()["embedding"]["values"] == pytest.approx(result.embeddings[0].values)


def test_a_pool_of_google_accounts_only_says_a_key_is_needed(simulator_process: Simulator, tmp_path: Path) -> None:
    gw = oauth_gateway(simulator_process, tmp_path / "oauth-only")
    token = new_user(simulator_process, "embed-oauth@example.com", project="embed-project")
    (gw.data_dir / "import.json").write_text(f'[{{"refresh_token": "{token}"}}]')
    gw.cli("accounts", "import", str(gw.data_dir / "import.json"))
    gw.start()
    try:
        body = {"model": "text-embedding-3-small", "input": "x"}
        r = httpx.post(f"{gw.v1}/embeddings", json=body, timeout=30)
        assert r.status_code == 503
        assert "need a Gemini API key account" in r.json()["error"]["message"]
        # With a key that is rate limited, the answer is about the key, not the Google account beside it.
        key = "key-embeddings-cooling"
        gw.cli("accounts", "add-key", key, "--label", "cooling")
        simulator_process.script(key, {"status": 429, "reason": "RATE_LIMIT_EXCEEDED", "retry_delay": "90s"})
        poll(lambda: httpx.post(f"{gw.v1}/embeddings", json=body, timeout=30).status_code == 429, "the key's 429")
        again = httpx.post(f"{gw.v1}/embeddings", json=body, timeout=30)
        assert again.status_code == 429 and int(again.headers["retry-after"]) > 60
        assert "cooling down for gemini-embedding-001" in again.json()["error"]["message"]
    finally:
        gw.stop()
