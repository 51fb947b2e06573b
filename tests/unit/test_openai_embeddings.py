"""Embeddings converters: sizes by model name, batches, normalisation, base64 as the SDKs decode it."""

from __future__ import annotations

import base64
import struct

import pytest

from poolgate.errors import ErrorKind, GatewayError
from poolgate.protocols import openai_embeddings as embeddings
from poolgate.protocols.gemini import embed


def test_sizes_follow_the_openai_name_unless_given() -> None:
    assert embeddings.parse({"model": "text-embedding-3-small", "input": "x"}).dimensions == 1536
    assert embeddings.parse({"model": "text-embedding-ada-002", "input": "x"}).dimensions == 1536
    assert embeddings.parse({"model": "text-embedding-3-large", "input": "x", "dimensions": 512}).dimensions == 512
    assert embeddings.parse({"model": "gemini-embedding-001", "input": "x"}).dimensions is None


def test_batches_of_a_hundred_keep_order() -> None:
    request = embeddings.parse({"model": "m", "input": [str(n) for n in range(201)]})
    bodies = embeddings.batches(request, "gemini-embedding-001")
    assert [len(b["requests"]) for b in bodies] == [100, 100, 1]
    assert bodies[2]["requests"][0]["content"] == {"parts": [{"text": "200"}]}
    assert "outputDimensionality" not in bodies[0]["requests"][0]


def test_vectors_are_normalised_and_base64_is_little_endian_float32() -> None:
    [vector] = embeddings.vectors_of({"embeddings": [{"values": [3, 4]}]}, 1)
    assert vector == [0.6, 0.8]
    request = embeddings.EmbeddingRequest("m", ["x"], base64=True)
    encoded = embeddings.response_json(request, [vector], 1)["data"][0]["embedding"]
    assert struct.unpack("<2f", base64.b64decode(encoded)) == pytest.approx((0.6, 0.8))


@pytest.mark.parametrize("answer", [{}, {"embeddings": []}, {"embeddings": [{"values": []}]}, {"embeddings": [{}, {}]}])
def test_an_answer_that_does_not_match_is_a_502(answer: dict[str, object]) -> None:
    with pytest.raises(GatewayError) as err:
        embeddings.vectors_of(answer, 1)
    assert err.value.kind is ErrorKind.UPSTREAM_ERROR


def test_gemini_native_bodies_name_the_routed_model() -> None:
    single = embed.batch_body({"content": {"parts": [{"text": "a"}]}, "model": "models/alias"}, embed.EMBED, "g-emb")
    assert single == {"requests": [{"content": {"parts": [{"text": "a"}]}, "model": "models/g-emb"}]}
    with pytest.raises(GatewayError) as err:
        embed.batch_body({"requests": [{"content": "text"}]}, embed.BATCH_EMBED, "g-emb")
    assert err.value.param == "requests[0].content"
    assert embed.answer_for({"embeddings": [{"values": [1.0]}]}, embed.EMBED) == {"embedding": {"values": [1.0]}}
