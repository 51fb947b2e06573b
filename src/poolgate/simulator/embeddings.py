"""The simulator's embeddings: a vector per text drawn from its hash, shaped the way Gemini's are."""

from __future__ import annotations

import hashlib
import math
from typing import Any, Final

FULL_DIMENSIONS: Final = 3072


def vector(text: str, dimensions: int) -> list[float]:
    """The same text always gives the same vector; only the full-size one is normalised, as with Gemini."""
    values: list[float] = []
    counter = 0
    while len(values) < FULL_DIMENSIONS:
        block = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values.extend((b - 127.5) / 127.5 for b in block)
        counter += 1
    values = values[:FULL_DIMENSIONS]
    if dimensions >= FULL_DIMENSIONS:
        norm = math.sqrt(sum(v * v for v in values)) or 1.0
        return [v / norm for v in values]
    return values[:dimensions]


def text_of(content: Any) -> str:
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list):
        return ""
    return "".join(str(p.get("text") or "") for p in parts if isinstance(p, dict))


def embedding_for(request: Any) -> dict[str, Any]:
    """One EmbedContentRequest → its ContentEmbedding."""
    if not isinstance(request, dict):
        return {"values": []}
    size = request.get("outputDimensionality")
    dimensions = size if isinstance(size, int) and 0 < size <= FULL_DIMENSIONS else FULL_DIMENSIONS
    return {"values": vector(text_of(request.get("content")), dimensions)}
