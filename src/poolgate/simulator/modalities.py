"""What a request asks the model to answer with (`responseModalities`), and Google's 400 for the impossible."""

from __future__ import annotations

from typing import Any


def response_modalities(body: dict[str, Any]) -> list[Any] | None:
    config = body.get("generationConfig")
    modalities = config.get("responseModalities") if isinstance(config, dict) else None
    return modalities if isinstance(modalities, list) else None


def unsupported_modalities(model: str, body: dict[str, Any]) -> str | None:
    """Google's 400 for asking a model for pictures or speech it cannot make."""
    modalities = response_modalities(body)
    if modalities is None:
        return None
    wrong = ("IMAGE" in modalities and "-image" not in model) or ("AUDIO" in modalities and "-tts" not in model)
    if wrong or ("-tts" in model and modalities != ["AUDIO"]):
        return f"Model does not support the requested response modalities: {','.join(modalities).lower()}"
    return None
