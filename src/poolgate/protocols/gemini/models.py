"""Gemini's Model resource (`models.list` / `models.get`) for the names poolgate serves."""

from __future__ import annotations

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


def model_list(resources: list[JSON]) -> JSON:
    return {"models": resources}
