"""Gemini's Model resource (`models.list` / `models.get`) for the names poolgate serves."""

from __future__ import annotations

from poolgate.errors import invalid
from poolgate.hub.types import JSON

METHODS = ["generateContent", "streamGenerateContent", "countTokens"]
INPUT_LIMIT = 1_048_576
OUTPUT_LIMIT = 65_536
# Known exceptions to the defaults above; anything else gets the current Gemini family's limits.
_OUTPUT_LIMITS = {"gemini-2.0-flash": 8_192, "gemini-2.0-flash-lite": 8_192}


def model_resource(model_id: str, target: str) -> JSON:
    """`target` is what the name routes to; aliases say so in their description."""
    description = f"Served by poolgate from {target}." if target != model_id else "Served by poolgate."
    return {
        "name": f"models/{model_id}",
        "baseModelId": model_id,
        "version": "001",
        "displayName": model_id,
        "description": description,
        "inputTokenLimit": INPUT_LIMIT,
        "outputTokenLimit": _OUTPUT_LIMITS.get(target, OUTPUT_LIMIT),
        "supportedGenerationMethods": list(METHODS),
        "thinking": not target.startswith("gemini-2.0"),
    }


# Gemini's ListModels: 50 per page unless asked, never more than 1,000.
PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


def model_list(resources: list[JSON], page_size: int = PAGE_SIZE, page_token: str = "") -> JSON:
    """One page of models; `nextPageToken` (an offset, opaque to clients) while more follow."""
    if page_token:
        if not page_token.isdigit() or int(page_token) > len(resources):
            raise invalid(
                f"Invalid page token {page_token[:100]!r}; use the nextPageToken of a previous page.", "pageToken"
            )
        start = int(page_token)
    else:
        start = 0
    end = start + min(page_size or PAGE_SIZE, MAX_PAGE_SIZE)
    page: JSON = {"models": resources[start:end]}
    if end < len(resources):
        page["nextPageToken"] = str(end)
    return page
