"""Small helpers several test modules share."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def poll(check: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    """Call check() until it returns something truthy and return that; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# A Google Search grounded answer as Gemini sends it: segment offsets count UTF-8 bytes ("é" is two),
# and a segment that starts at 0 has no startIndex.
GROUNDED_TEXT = "Café prices rose. Rents fell."
GROUNDED_ANSWER: dict[str, Any] = {
    "candidates": [
        {
            "content": {"role": "model", "parts": [{"text": GROUNDED_TEXT}]},
            "finishReason": "STOP",
            "index": 0,
            "groundingMetadata": {
                "webSearchQueries": ["cafe prices 2026"],
                "groundingChunks": [
                    {"web": {"uri": "https://example.com/prices", "title": "example.com"}},
                    {"web": {"uri": "https://news.example/rents", "title": "news.example"}},
                ],
                "groundingSupports": [
                    {"segment": {"endIndex": 18, "text": "Café prices rose."}, "groundingChunkIndices": [0]},
                    {
                        "segment": {"startIndex": 19, "endIndex": 30, "text": "Rents fell."},
                        "groundingChunkIndices": [0, 1],
                    },
                ],
            },
        }
    ],
    "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 7, "totalTokenCount": 12},
}
# (start, end, url) in characters, as OpenAI clients index the text.
GROUNDED_CITATIONS = [
    (0, 17, "https://example.com/prices"),
    (18, 29, "https://example.com/prices"),
    (18, 29, "https://news.example/rents"),
]
