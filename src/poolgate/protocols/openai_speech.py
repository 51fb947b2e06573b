"""OpenAI text to speech (`/v1/audio/speech`) ↔ Gemini's TTS models.

Gemini speaks through `generateContent` with `responseModalities: ["AUDIO"]` and a prebuilt voice, and
answers 16-bit mono PCM (24 kHz) as an `inlineData` part. poolgate sends that as MP3 (OpenAI's default,
encoded with LAME through lameenc), as `pcm` (the same format OpenAI's `pcm` is) or wrapped in a WAV
header; it has no Opus, AAC or FLAC encoder.
"""

from __future__ import annotations

import base64
import re
import struct
from dataclasses import dataclass
from typing import Any, Final

import lameenc

from poolgate.errors import ErrorKind, GatewayError, invalid
from poolgate.hub.events import Usage
from poolgate.hub.types import JSON, GenerateContentRequest
from poolgate.protocols import fields, sse

MAX_INPUT: Final = 4096
FORMATS: Final = {"mp3": "audio/mpeg", "wav": "audio/wav", "pcm": "audio/pcm"}
ENCODED_FORMATS: Final = ("opus", "aac", "flac")
# Speech needs no more: 64 kbit/s mono keeps Gemini's 24 kHz voice clear at a tenth of the WAV's size.
MP3_KBPS: Final = 64
GEMINI_VOICES: Final = (
    "Zephyr", "Puck", "Charon", "Kore", "Fenrir", "Leda", "Orus", "Aoede", "Callirrhoe", "Autonoe",
    "Enceladus", "Iapetus", "Umbriel", "Algieba", "Despina", "Erinome", "Algenib", "Rasalgethi",
    "Laomedeia", "Achernar", "Alnilam", "Schedar", "Gacrux", "Pulcherrima", "Achird", "Zubenelgenubi",
    "Vindemiatrix", "Sadachbia", "Sadaltager", "Sulafat",
)  # fmt: skip
# OpenAI's voices, each given a Gemini voice of a similar character (Google describes its voices
# as bright, firm, breathy, …); any Gemini voice name can also be asked for directly.
OPENAI_VOICES: Final = {
    "alloy": "Zephyr",
    "ash": "Orus",
    "ballad": "Algieba",
    "coral": "Aoede",
    "echo": "Charon",
    "fable": "Puck",
    "nova": "Kore",
    "onyx": "Fenrir",
    "sage": "Sulafat",
    "shimmer": "Leda",
    "verse": "Achird",
    "marin": "Despina",
    "cedar": "Iapetus",
}
_RATE = re.compile(r"rate=(\d+)")


@dataclass(slots=True)
class SpeechRequest:
    model: str
    text: str
    voice: str  # a Gemini voice name
    response_format: str = "mp3"
    style: str = ""
    sse: bool = False  # `stream_format: "sse"`: the audio as speech.audio.delta events


def parse(body: dict[str, Any]) -> SpeechRequest:
    model = fields.req_str(body, "model")
    text = fields.req_str(body, "input")
    if len(text) > MAX_INPUT:
        raise invalid(f"'input' may be at most {MAX_INPUT} characters.", "input")
    raw_voice = body.get("voice")
    if isinstance(raw_voice, dict):  # {"id": "..."} for custom voices
        raw_voice = raw_voice.get("id")
    if not isinstance(raw_voice, str) or not raw_voice:
        raise invalid("'voice' is required.", "voice")
    voice = _voice(raw_voice)
    response_format = fields.opt_str(body, "response_format") or "mp3"
    if response_format in ENCODED_FORMATS:
        raise invalid(
            f"'response_format' {response_format} is not available: Gemini returns raw PCM, which poolgate sends "
            "as mp3, wav or pcm.",
            "response_format",
        )
    if response_format not in FORMATS:
        raise invalid("'response_format' must be mp3, wav or pcm.", "response_format")
    stream_format = fields.opt_str(body, "stream_format") or "audio"
    if stream_format not in ("audio", "sse"):
        raise invalid("'stream_format' must be audio or sse.", "stream_format")
    style = (fields.opt_str(body, "instructions") or "").strip()
    speed = fields.opt_number(body, "speed", lo=0.25, hi=4.0)
    if speed is not None and abs(speed - 1.0) > 0.05:
        # Gemini's voices take their pace from the prompt, not from a parameter.
        pace = f"speak at about {speed:g} times the normal speed"
        style = f"{style.rstrip('.')}; {pace}" if style else pace.capitalize()
    return SpeechRequest(model, text, voice, response_format, style, stream_format == "sse")


def _voice(name: str) -> str:
    """OpenAI's voices by their Gemini match; a Gemini voice in any case; other names as sent (Google judges)."""
    wanted = name.strip().lower()
    if wanted in OPENAI_VOICES:
        return OPENAI_VOICES[wanted]
    for voice in GEMINI_VOICES:
        if voice.lower() == wanted:
            return voice
    return name.strip()


def to_hub(request: SpeechRequest) -> GenerateContentRequest:
    # Gemini's TTS models read a leading direction ("Say cheerfully: …") as how to speak, not as words.
    direction = request.style.rstrip(" .;:")
    text = f"{direction}: {request.text}" if direction else request.text
    config: JSON = {
        "responseModalities": ["AUDIO"],
        "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": request.voice}}},
    }
    return {"contents": [{"role": "user", "parts": [{"text": text}]}], "generationConfig": config}


def pcm_of(answer: JSON) -> tuple[bytes, int]:
    """The spoken PCM and its sample rate, or a 502 saying what came back instead."""
    for cand in answer.get("candidates") or ():
        for part in (cand.get("content") or {}).get("parts") or ():
            blob = part.get("inlineData")
            if isinstance(blob, dict) and str(blob.get("mimeType", "")).startswith("audio/") and blob.get("data"):
                rate = _RATE.search(str(blob["mimeType"]))
                return base64.b64decode(str(blob["data"])), int(rate.group(1)) if rate else 24_000
    raise GatewayError(
        ErrorKind.UPSTREAM_ERROR, "The upstream model returned no audio: map the model name to a Gemini TTS model."
    )


def wav(pcm: bytes, rate: int) -> bytes:
    """16-bit mono PCM in a WAV container."""
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(pcm)) + pcm
    return b"RIFF" + struct.pack("<I", len(body)) + body


def mp3(pcm: bytes, rate: int) -> bytes:
    """16-bit mono PCM as MP3 (about 2.5 ms of CPU per second of speech; LAME lets go of the GIL meanwhile)."""
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(MP3_KBPS)
    encoder.set_in_sample_rate(rate)
    encoder.set_channels(1)
    encoder.set_quality(5)
    return bytes(encoder.encode(pcm) + encoder.flush())


def encoded(request: SpeechRequest, pcm: bytes, rate: int) -> bytes:
    if request.response_format == "mp3":
        return mp3(pcm, rate)
    return wav(pcm, rate) if request.response_format == "wav" else pcm


# Audio bytes per speech.audio.delta event: a quarter of a second of 64 kbit/s MP3 is 2 KB; this keeps
# events few without making any one of them large.
SSE_PIECE = 16 * 1024


def sse_events(audio: bytes, usage: Usage | None) -> list[bytes]:
    """OpenAI's speech stream: the encoded audio in order as base64 deltas, then `speech.audio.done`."""
    out = [
        sse.data({"type": "speech.audio.delta", "audio": base64.b64encode(audio[i : i + SSE_PIECE]).decode()})
        for i in range(0, len(audio), SSE_PIECE)
    ]
    counts = {
        "input_tokens": usage.prompt_tokens if usage else 0,
        "output_tokens": usage.completion_tokens if usage else 0,
        "total_tokens": usage.total_tokens if usage else 0,
    }
    out.append(sse.data({"type": "speech.audio.done", "usage": counts}))
    return out
