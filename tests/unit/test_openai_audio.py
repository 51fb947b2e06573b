"""Speech-to-text converters: audio recognised by its bytes, WAV duration, the instruction, usage."""

from __future__ import annotations

import struct

import pytest

from poolgate.errors import GatewayError
from poolgate.protocols import openai_audio as audio
from poolgate.protocols.multipart import Form, FormFile


def _wav(frames: int, rate: int = 8000, channels: int = 2, extra_chunk: bool = True) -> bytes:
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * 2 * channels, 2 * channels, 16)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    if extra_chunk:  # a LIST chunk of odd length before the data, padded as RIFF requires
        chunks += b"LIST" + struct.pack("<I", 3) + b"abc\x00"
    data = b"\x00" * frames * 2 * channels
    chunks += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (_wav(10), "audio/wav"),
        (b"ID3\x03", "audio/mp3"),
        (b"\xff\xfb\x90\x64", "audio/mp3"),
        (b"\xff\xf1\x50\x80", "audio/aac"),
        (b"OggS\x00\x02", "audio/ogg"),
        (b"fLaC\x00", "audio/flac"),
        (b"FORM\x00\x00\x00\x10AIFF", "audio/aiff"),
        (b"\x00\x00\x00\x20ftypM4A ", "audio/mp4"),
        (b"\x1a\x45\xdf\xa3\x01", "audio/webm"),
        (b"%PDF-1.7", None),
        (b"hello", None),
    ],
)
def test_audio_is_recognised_by_its_bytes(head: bytes, mime: str | None) -> None:
    assert audio.audio_mime(head) == mime


def test_wav_duration_skips_other_chunks() -> None:
    assert audio.SourceAudio("audio/wav", _wav(8000 * 3)).duration() == 3.0
    assert audio.SourceAudio("audio/wav", _wav(4000, extra_chunk=False)).duration() == 0.5
    assert audio.SourceAudio("audio/mp3", b"ID3....").duration() is None


def _form(**fields: str) -> Form:
    return Form(fields=dict(fields), files=[FormFile("file", "a.wav", "audio/wav", _wav(100))])


def test_the_instruction_carries_language_and_prompt_and_thinking_is_off() -> None:
    request = audio.parse(_form(model="whisper-1", language="fr", prompt="Names: Zoë"), translate=False)
    hub = audio.to_hub(request, "gemini-3-flash-preview")
    text = hub["contents"][0]["parts"][1]["text"]
    assert text.startswith(audio.TRANSCRIBE) and "'fr'" in text and "Names: Zoë" in text
    assert hub["generationConfig"] == {"thinkingConfig": {"thinkingLevel": "minimal", "includeThoughts": False}}
    translated = audio.parse(_form(language="fr"), translate=True)
    assert translated.language == "" and translated.model == audio.DEFAULT_MODEL
    assert audio.to_hub(translated, "gemini-2.5-pro")["contents"][0]["parts"][1]["text"].startswith(audio.TRANSLATE)


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"response_format": "vtt"}, "response_format"),
        ({"response_format": "xml"}, "response_format"),
        ({"temperature": "1.5"}, "temperature"),
    ],
)
def test_bad_fields(fields: dict[str, str], param: str) -> None:
    with pytest.raises(GatewayError) as err:
        audio.parse(_form(**fields), translate=False)
    assert err.value.param == param


def test_usage_counts_audio_apart_and_the_stream_trims_like_the_whole() -> None:
    meta = {
        "promptTokenCount": 100,
        "candidatesTokenCount": 7,
        "totalTokenCount": 107,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 52}, {"modality": "AUDIO", "tokenCount": 48}],
    }
    assert audio.usage_json(meta)["input_token_details"] == {"text_tokens": 52, "audio_tokens": 48}
    encoder = audio.TranscriptEncoder()
    out = encoder.feed({"candidates": [{"content": {"parts": [{"text": "  Hello"}]}}]})
    out += encoder.feed(
        {"candidates": [{"content": {"parts": [{"text": " world \n"}]}, "finishReason": "STOP"}], "usageMetadata": meta}
    )
    out += encoder.finish()
    assert b'"delta":"Hello"' in out[0] and b'"delta":" world \\n"' in out[1]
    assert b'"text":"Hello world"' in out[2] and b'"audio_tokens":48' in out[2]
