"""OpenAI speech to text end to end: the SDK's audio.transcriptions / audio.translations against `poolgate serve`.

The simulator 'hears' an audio part as its size and type, so the tests see that the exact upload reached
Gemini; `REPLY_WITH` in the prompt makes it answer given words.
"""

from __future__ import annotations

import base64
import io
import struct
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import Gateway, Simulator
from tests.integration.gateways import keyed_gateway, openai_client
from tests.support import refused_field

KEY = "key-openai-audio-0001"


def wav(seconds: float, rate: int = 16_000) -> bytes:
    """PCM WAV, mono, 16-bit silence."""
    data = b"\x00\x00" * int(rate * seconds)
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


SPEECH = wav(1.5)
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 100


gw = keyed_gateway("audio", KEY, {"POOLGATE_PROXY__ADMIN_PASSWORD": "admin-audio"})


@pytest.fixture
def client(gw: Gateway, simulator_process: Simulator) -> openai.OpenAI:
    return openai_client(gw, simulator_process)


def upstream(sim: Simulator) -> list[dict[str, Any]]:
    return [c for c in sim.calls(KEY) if c["method"] in ("generateContent", "streamGenerateContent")]


def test_transcription_sends_the_exact_audio_and_returns_the_text(
    client: openai.OpenAI, simulator_process: Simulator
) -> None:
    raw = client.audio.transcriptions.with_raw_response.create(
        model="whisper-1", file=("speech.wav", io.BytesIO(SPEECH), "application/octet-stream")
    )
    result = raw.parse()
    assert raw.headers["x-mapped-model"] == "gemini-2.5-flash"
    assert result.text == f"Transcript of {len(SPEECH)} bytes of audio/wav audio."
    assert result.usage is not None and result.usage.type == "tokens"
    assert result.usage.input_token_details is not None and result.usage.input_token_details.audio_tokens == 258
    [call] = upstream(simulator_process)
    parts = call["body"]["contents"][0]["parts"]
    assert parts[0]["inlineData"]["mimeType"] == "audio/wav"
    assert base64.b64decode(parts[0]["inlineData"]["data"]) == SPEECH
    assert parts[1]["text"].startswith("Transcribe the speech in this audio")
    # Thinking adds nothing to a transcript: Gemini 2.5 Flash is asked for none.
    assert call["body"]["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 0, "includeThoughts": False}


def test_language_prompt_and_the_text_and_verbose_formats(client: openai.OpenAI, simulator_process: Simulator) -> None:
    text = client.audio.transcriptions.create(
        model="gpt-4o-transcribe",
        file=("speech.mp3", io.BytesIO(MP3)),
        language="de",
        prompt="REPLY_WITH Guten Tag, Frau Schröder.",
        response_format="text",
    )
    assert text.strip() == "Guten Tag, Frau Schröder."
    instruction = upstream(simulator_process)[0]["body"]["contents"][0]["parts"][1]["text"]
    assert "ISO-639-1 code 'de'" in instruction and "Frau Schröder" in instruction
    assert upstream(simulator_process)[0]["body"]["contents"][0]["parts"][0]["inlineData"]["mimeType"] == "audio/mp3"

    verbose = client.audio.transcriptions.create(
        model="whisper-1", file=("speech.wav", io.BytesIO(SPEECH)), language="en", response_format="verbose_json"
    )
    assert verbose.duration == 1.5 and verbose.language == "en"
    assert verbose.text.startswith("Transcript of") and verbose.segments == []


def test_translation_asks_for_english(client: openai.OpenAI, simulator_process: Simulator) -> None:
    result = client.audio.translations.create(model="whisper-1", file=("speech.wav", io.BytesIO(SPEECH)))
    assert result.text == f"English translation of {len(SPEECH)} bytes of audio/wav audio."
    instruction = upstream(simulator_process)[0]["body"]["contents"][0]["parts"][1]["text"]
    assert instruction.startswith("Translate the speech in this audio into English")


def test_streamed_transcription_sends_deltas_then_the_whole_text(client: openai.OpenAI) -> None:
    events = list(
        client.audio.transcriptions.create(
            model="gpt-4o-mini-transcribe", file=("speech.wav", io.BytesIO(SPEECH)), stream=True
        )
    )
    deltas = [e.delta for e in events if e.type == "transcript.text.delta"]
    done = events[-1]
    assert len(deltas) > 1 and done.type == "transcript.text.done"
    assert "".join(deltas) == done.text == f"Transcript of {len(SPEECH)} bytes of audio/wav audio."
    assert done.usage is not None and done.usage.output_tokens > 0


@pytest.mark.parametrize(
    ("files", "data", "param"),
    [
        ({"file": ("notes.txt", b"hello", "text/plain")}, {"model": "whisper-1"}, "file"),
        ({}, {"model": "whisper-1", "prompt": "x"}, "file"),
        ({"file": ("a.wav", SPEECH, "audio/wav")}, {"model": "whisper-1", "response_format": "srt"}, "response_format"),
        ({"file": ("a.wav", SPEECH, "audio/wav")}, {"model": "whisper-1", "temperature": "hot"}, "temperature"),
    ],
)
def test_bad_uploads_are_named(gw: Gateway, files: dict[str, Any], data: dict[str, str], param: str) -> None:
    r = httpx.post(f"{gw.v1}/audio/transcriptions", files=files or {"x": ("x", b"")}, data=data, timeout=30)
    assert refused_field(r)["param"] == param


def test_a_json_body_is_told_to_upload(gw: Gateway) -> None:
    r = httpx.post(f"{gw.v1}/audio/transcriptions", json={"model": "whisper-1"}, timeout=30)
    assert r.status_code == 400 and "multipart/form-data" in r.json()["error"]["message"]


def test_the_log_keeps_a_line_for_the_file_not_its_bytes(client: openai.OpenAI, gw: Gateway) -> None:
    client.audio.transcriptions.create(model="whisper-1", file=("speech.wav", io.BytesIO(SPEECH)))
    admin = {"authorization": "Bearer admin-audio"}
    logs = httpx.get(f"{gw.base_url}/api/logs", params={"limit": 1}, headers=admin, timeout=10).json()
    entry = logs["items"][0]
    assert entry["route"] == "/v1/audio/transcriptions" and entry["mapped_model"] == "gemini-2.5-flash"
    full = httpx.get(f"{gw.base_url}/api/logs/{entry['id']}", headers=admin, timeout=10).json()
    assert f"audio/wav, {len(SPEECH)} bytes" in full["request_body"]
