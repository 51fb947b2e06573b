"""The simulator's speech: silence as Gemini's TTS models send audio, 16-bit mono PCM at 24 kHz."""

from __future__ import annotations

import base64
from typing import Any, Final

from poolgate.simulator.modalities import response_modalities

RATE: Final = 24_000
SECONDS_PER_CHARACTER: Final = 0.01
TOKENS_PER_SECOND: Final = 25  # what Gemini bills for audio output


def wants_speech(model: str, body: dict[str, Any]) -> bool:
    return "-tts" in model and response_modalities(body) == ["AUDIO"]


def speak(body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The inlineData part for the request's text, and its output tokens: the length follows the text."""
    contents = body.get("contents") or []
    text = "".join(
        str(p.get("text") or "")
        for c in contents
        if isinstance(c, dict)
        for p in c.get("parts") or []
        if isinstance(p, dict)
    )
    samples = max(1, int(len(text) * SECONDS_PER_CHARACTER * RATE))
    pcm = b"\x00\x00" * samples
    part = {"inlineData": {"mimeType": f"audio/L16;codec=pcm;rate={RATE}", "data": base64.b64encode(pcm).decode()}}
    return part, max(1, int(samples / RATE * TOKENS_PER_SECOND))
