"""OpenAI speech to text (`/v1/audio/transcriptions`, `/v1/audio/translations`) ↔ hub.

Gemini hears audio as an `inlineData` part; one instruction beside it asks for the words (or their
English translation) and nothing else. Thinking is turned down to the least the model allows: it
adds time and tokens and nothing to a transcript.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from typing import Final

from poolgate.errors import GatewayError, invalid
from poolgate.hub.events import TextDelta, Usage, events_from_chunk, prompt_tokens_of, usage_from
from poolgate.hub.types import JSON, Blob, GenerateContentRequest
from poolgate.protocols import sse
from poolgate.protocols.multipart import Form
from poolgate.protocols.openai_chat.errors import stream_error
from poolgate.protocols.openai_chat.options import thinking_config

DEFAULT_MODEL: Final = "whisper-1"
FORMATS: Final = ("json", "text", "verbose_json")
TIMED_FORMATS: Final = ("srt", "vtt")
TRANSCRIBE: Final = (
    "Transcribe the speech in this audio exactly as spoken, in its original language. "
    "Answer with the transcript only: no title, no comments, no timestamps, no speaker labels."
)
TRANSLATE: Final = (
    "Translate the speech in this audio into English. "
    "Answer with the English text only: no title, no comments, no timestamps."
)
# Leading bytes of the audio containers Gemini reads, and the MIME type it expects for each.
_MAGIC: Final = (
    (b"ID3", "audio/mp3"),
    (b"OggS", "audio/ogg"),
    (b"fLaC", "audio/flac"),
    (b"\x1aE\xdf\xa3", "audio/webm"),
)


@dataclass(slots=True)
class SourceAudio:
    mime_type: str
    data: bytes

    def duration(self) -> float | None:
        """Seconds, read from a PCM WAV header; None for other formats."""
        data = self.data
        if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
            return None
        pos, rate, block = 12, 0, 0
        while pos + 8 <= len(data):
            kind = data[pos : pos + 4]
            size: int = struct.unpack("<I", data[pos + 4 : pos + 8])[0]
            if kind == b"fmt " and size >= 16:
                rate = int(struct.unpack("<I", data[pos + 12 : pos + 16])[0])
                block = int(struct.unpack("<H", data[pos + 20 : pos + 22])[0])
            elif kind == b"data" and rate and block:
                return round(min(size, len(data) - pos - 8) / (rate * block), 3)
            pos += 8 + size + (size & 1)
        return None


def audio_mime(data: bytes) -> str | None:
    """The audio type from the file's own bytes (clients often declare application/octet-stream)."""
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    if data[:4] == b"FORM" and data[8:12] in (b"AIFF", b"AIFC"):
        return "audio/aiff"
    if data[4:8] == b"ftyp":
        return "audio/mp4"  # m4a, mp4
    if len(data) > 1 and data[0] == 0xFF and data[1] & 0xF6 == 0xF0:
        return "audio/aac"  # ADTS
    if len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0:
        return "audio/mp3"  # an MPEG frame without an ID3 tag
    return None


@dataclass(slots=True)
class AudioRequest:
    model: str
    audio: SourceAudio
    translate: bool = False
    language: str = ""
    prompt: str = ""
    response_format: str = "json"
    temperature: float | None = None
    stream: bool = False


def parse(form: Form, *, translate: bool) -> AudioRequest:
    files = form.files_named("file")
    if not files:
        raise invalid("'file' is required: upload the audio to transcribe.", "file")
    upload = files[0]
    mime = audio_mime(upload.data)
    if mime is None:
        raise invalid(
            f"'file' ({upload.filename}) is not audio Gemini can read: send WAV, MP3, M4A, AAC, OGG, FLAC, "
            "AIFF or WebM.",
            "file",
        )
    values = form.fields
    response_format = values.get("response_format", "json") or "json"
    if response_format in TIMED_FORMATS:
        raise invalid(
            f"'response_format' {response_format} needs timestamps, which Gemini does not return: use json, "
            "text or verbose_json.",
            "response_format",
        )
    if response_format not in FORMATS:
        raise invalid("'response_format' must be json, text, verbose_json, srt or vtt.", "response_format")
    temperature: float | None = None
    if values.get("temperature", "").strip():
        try:
            temperature = float(values["temperature"])
        except ValueError:
            raise invalid("'temperature' must be a number.", "temperature") from None
        if not 0 <= temperature <= 1:
            raise invalid("'temperature' must be between 0 and 1.", "temperature")
    return AudioRequest(
        model=values.get("model", "").strip() or DEFAULT_MODEL,
        audio=SourceAudio(mime, upload.data),
        translate=translate,
        language="" if translate else values.get("language", "").strip(),
        prompt=values.get("prompt", "").strip(),
        response_format=response_format,
        temperature=temperature,
        stream=values.get("stream", "").strip().lower() in ("true", "1"),
    )


def to_hub(request: AudioRequest, upstream_model: str) -> GenerateContentRequest:
    lines = [TRANSLATE if request.translate else TRANSCRIBE]
    if request.language:
        lines.append(f"The speech is in the language with ISO-639-1 code '{request.language}'.")
    if request.prompt:
        # OpenAI's prompt carries spellings and the previous segment's text: context, not orders.
        lines.append(f"Context that may help with names and spelling:\n{request.prompt}")
    audio: Blob = {"mimeType": request.audio.mime_type, "data": base64.b64encode(request.audio.data).decode()}
    config: JSON = {}
    if request.temperature is not None:
        config["temperature"] = request.temperature
    thinking = thinking_config("none", upstream_model)
    if thinking is not None:
        config["thinkingConfig"] = thinking
    hub: GenerateContentRequest = {
        "contents": [{"role": "user", "parts": [{"inlineData": audio}, {"text": "\n\n".join(lines)}]}]
    }
    if config:
        hub["generationConfig"] = config
    return hub


def usage_json(answer_meta: object) -> JSON:
    """OpenAI's token usage from Gemini's usageMetadata, audio tokens apart."""
    meta = answer_meta if isinstance(answer_meta, dict) else {}
    usage = usage_from(meta)
    audio = prompt_tokens_of(meta, "AUDIO")
    return {
        "type": "tokens",
        "input_tokens": usage.prompt_tokens,
        "input_token_details": {"text_tokens": usage.prompt_tokens - audio, "audio_tokens": audio},
        "output_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def transcript_of(answer: JSON) -> tuple[str, Usage | None]:
    texts: list[str] = []
    usage: Usage | None = None
    for ev in events_from_chunk(answer):
        if isinstance(ev, TextDelta) and ev.index == 0:
            texts.append(ev.text)
        elif isinstance(ev, Usage):
            usage = ev
    return "".join(texts).strip(), usage


def body_json(request: AudioRequest, text: str, answer: JSON) -> JSON:
    """The `json` or `verbose_json` answer (the `text` format is the transcript alone)."""
    if request.response_format == "verbose_json":
        # Gemini gives no segment timing: the verbose form carries the whole text and no segments.
        return {
            "task": "translate" if request.translate else "transcribe",
            "language": "english" if request.translate else request.language,
            "duration": request.audio.duration() or 0.0,
            "text": text,
            "segments": [],
        }
    body: JSON = {"text": text}
    if not request.translate:
        body["usage"] = usage_json(answer.get("usageMetadata"))
    return body


class TranscriptEncoder:
    """`transcript.text.delta` events as the words arrive, then `transcript.text.done` with the usage."""

    keepalive = sse.COMMENT_KEEPALIVE
    media_type = "text/event-stream"

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self._texts: list[str] = []
        self._meta: object = None
        self._started = False

    def start(self) -> list[bytes]:
        return []

    def feed(self, chunk: JSON) -> list[bytes]:
        out: list[bytes] = []
        if chunk.get("usageMetadata"):
            self._meta = chunk["usageMetadata"]
        for ev in events_from_chunk(chunk):
            if isinstance(ev, TextDelta) and ev.index == 0 and ev.text:
                # Whitespace before the first words is dropped, as in the non-streamed transcript.
                text = ev.text if self._started else ev.text.lstrip()
                if text:
                    self._started = True
                    self._texts.append(text)
                    out.append(sse.data({"type": "transcript.text.delta", "delta": text}))
            elif isinstance(ev, Usage):
                self.usage = ev
        return out

    def finish(self) -> list[bytes]:
        text = "".join(self._texts).rstrip()
        return [sse.data({"type": "transcript.text.done", "text": text, "usage": usage_json(self._meta)})]

    def fail(self, err: GatewayError) -> list[bytes]:
        return [stream_error(err)]
