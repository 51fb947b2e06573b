"""OpenAI `/v1/embeddings` ↔ Gemini `batchEmbedContents`.

OpenAI vectors have length 1 and a size fixed by the model name; Gemini's full-size vectors are
normalised but the shorter ones it cuts (`outputDimensionality`) are not. So every vector is
normalised here, and an OpenAI model name without `dimensions` gets that model's usual size, which
applications often have built their vector stores around.
"""

from __future__ import annotations

import base64
import math
import struct
from dataclasses import dataclass
from typing import Any, Final

from poolgate.errors import ErrorKind, GatewayError, invalid
from poolgate.hub.types import JSON
from poolgate.protocols import fields

BATCH: Final = 100  # Gemini's limit per batchEmbedContents call
MAX_INPUTS: Final = 2048  # OpenAI's limit per request
MAX_DIMENSIONS: Final = 3072
OPENAI_DIMENSIONS: Final = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}


@dataclass(slots=True)
class EmbeddingRequest:
    model: str
    texts: list[str]
    dimensions: int | None = None
    base64: bool = False


def parse(body: dict[str, Any]) -> EmbeddingRequest:
    model = fields.req_str(body, "model")
    raw = body.get("input")
    if isinstance(raw, str):
        texts = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(t, str) for t in raw):
        texts = list(raw)
    elif isinstance(raw, list) and raw and all(isinstance(t, (int, list)) for t in raw):
        raise invalid("'input' as token ids cannot be embedded by Gemini: send the text instead.", "input")
    else:
        raise invalid("'input' must be a non-empty string or array of strings.", "input")
    if len(texts) > MAX_INPUTS:
        raise invalid(f"'input' may hold at most {MAX_INPUTS} strings.", "input")
    for n, text in enumerate(texts):
        if not text.strip():
            raise invalid(f"'input[{n}]' is empty: every input needs some text.", f"input[{n}]")
    dimensions = fields.opt_int(body, "dimensions", lo=1)
    if dimensions is not None and dimensions > MAX_DIMENSIONS:
        raise invalid(f"'dimensions' must be at most {MAX_DIMENSIONS}.", "dimensions")
    encoding = fields.opt_str(body, "encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise invalid("'encoding_format' must be 'float' or 'base64'.", "encoding_format")
    fields.opt_str(body, "user")
    return EmbeddingRequest(model, texts, dimensions or OPENAI_DIMENSIONS.get(model), encoding == "base64")


def batches(request: EmbeddingRequest, upstream_model: str) -> list[JSON]:
    """The batchEmbedContents bodies, BATCH texts each."""
    bodies: list[JSON] = []
    for start in range(0, len(request.texts), BATCH):
        requests: list[JSON] = []
        for text in request.texts[start : start + BATCH]:
            one: JSON = {"model": f"models/{upstream_model}", "content": {"parts": [{"text": text}]}}
            if request.dimensions is not None:
                one["outputDimensionality"] = request.dimensions
            requests.append(one)
        bodies.append({"requests": requests})
    return bodies


def vectors_of(answer: JSON, expected: int) -> list[list[float]]:
    """The vectors of one batch answer, or a 502 when Google's answer is not what was asked."""
    embeddings = answer.get("embeddings")
    if not isinstance(embeddings, list) or len(embeddings) != expected:
        raise GatewayError(
            ErrorKind.UPSTREAM_ERROR, f"The upstream answered {expected} texts with no matching embeddings."
        )
    vectors: list[list[float]] = []
    for item in embeddings:
        values = item.get("values") if isinstance(item, dict) else None
        if not isinstance(values, list) or not values:
            raise GatewayError(ErrorKind.UPSTREAM_ERROR, "The upstream returned an embedding without values.")
        vectors.append(normalised([float(v) for v in values]))
    return vectors


def normalised(values: list[float]) -> list[float]:
    norm = math.sqrt(math.fsum(v * v for v in values))
    return [v / norm for v in values] if norm else values


def estimate_tokens(texts: list[str]) -> int:
    """Google reports no token count for embeddings; about four characters make a token."""
    return sum(max(1, len(text) // 4) for text in texts)


def _encoded(values: list[float], as_base64: bool) -> list[float] | str:
    if not as_base64:
        return values
    # What OpenAI sends for encoding_format=base64: little-endian float32, as the SDKs decode it.
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


def response_json(request: EmbeddingRequest, vectors: list[list[float]], tokens: int) -> JSON:
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": n, "embedding": _encoded(v, request.base64)} for n, v in enumerate(vectors)
        ],
        "model": request.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
