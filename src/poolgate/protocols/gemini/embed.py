"""Gemini-native `:embedContent` and `:batchEmbedContents`, both sent upstream as one batch call."""

from __future__ import annotations

from typing import Any

from poolgate.errors import ErrorKind, GatewayError, invalid
from poolgate.hub.types import JSON

EMBED, BATCH_EMBED = "embedContent", "batchEmbedContents"


def _checked(request: Any, where: str, model: str) -> JSON:
    if not isinstance(request, dict):
        raise invalid(f"'{where}' must be an object.", where)
    content = request.get("content")
    if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
        raise invalid(f"'{where}.content' must be a Content object with parts.", f"{where}.content")
    # The upstream model is the routed one, whatever name the client put in the request.
    return {**request, "model": f"models/{model}"}


def batch_body(body: JSON, method: str, model: str) -> JSON:
    """The batchEmbedContents body for either method."""
    if method == EMBED:
        return {"requests": [_checked(body, "request", model)]}
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        raise invalid("'requests' must be a non-empty list of EmbedContentRequest objects.", "requests")
    return {"requests": [_checked(r, f"requests[{n}]", model) for n, r in enumerate(requests)]}


def answer_for(answer: JSON, method: str) -> JSON:
    """embedContent answers one `embedding`; batchEmbedContents the upstream's `embeddings` as they are."""
    if method == BATCH_EMBED:
        return answer
    embeddings = answer.get("embeddings")
    if not isinstance(embeddings, list) or not embeddings:
        raise GatewayError(ErrorKind.UPSTREAM_ERROR, "The upstream returned no embedding.")
    return {"embedding": embeddings[0]}
