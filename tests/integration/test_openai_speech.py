"""OpenAI text to speech end to end: the SDK's audio.speech.create against `poolgate serve`.

The simulator speaks silence whose length follows the text, as 24 kHz PCM the way Gemini's TTS models
answer, so the tests can check the container and the duration that reached the client.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

import httpx
import openai
import orjson
import pytest

from tests.conftest import Gateway, Simulator
from tests.integration.gateways import keyed_gateway, openai_client
from tests.support import refused_field

KEY = "key-openai-speech-0001"
gw = keyed_gateway("speech", KEY)


@pytest.fixture
def client(gw: Gateway, simulator_process: Simulator) -> openai.OpenAI:
    return openai_client(gw, simulator_process)


def upstream(sim: Simulator) -> dict[str, Any]:
    calls = [c for c in sim.calls(KEY) if c["method"] == "generateContent"]
    return calls[-1]


def pcm_bytes(text: str) -> int:
    """What the simulator says for `text`: 10 ms a character, 16-bit samples at 24 kHz."""
    return int(len(text) * 0.01 * 24_000) * 2


def test_speech_comes_back_as_mp3_by_default_in_the_asked_voice(
    client: openai.OpenAI, simulator_process: Simulator
) -> None:
    text = "Hello there, this is a longer sentence for a couple of seconds of speech. " * 3
    raw = client.audio.speech.with_raw_response.create(model="tts-1", voice="alloy", input=text)
    audio = raw.parse().read()
    assert raw.headers["content-type"] == "audio/mpeg"
    assert raw.headers["x-mapped-model"] == "gemini-2.5-flash-preview-tts"
    # An MPEG-2 Layer III frame header: 64 kbit/s (bitrate index 8) at Gemini's 24 kHz (rate index 1).
    assert audio[0] == 0xFF and audio[1] & 0xFE == 0xF2
    assert audio[2] >> 4 == 8 and (audio[2] >> 2) & 3 == 1
    seconds = pcm_bytes(text) / 2 / 24_000
    assert 0.9 * seconds * 8000 < len(audio) < seconds * 8000 + 20 * 192  # 8,000 bytes a second, + LAME's frames
    call = upstream(simulator_process)
    assert call["model"] == "gemini-2.5-flash-preview-tts"
    assert call["body"]["contents"] == [{"role": "user", "parts": [{"text": text}]}]
    voice = call["body"]["generationConfig"]["speechConfig"]["voiceConfig"]["prebuiltVoiceConfig"]
    assert voice == {"voiceName": "Zephyr"}  # OpenAI's alloy


def test_wav_on_request(client: openai.OpenAI) -> None:
    raw = client.audio.speech.with_raw_response.create(
        model="tts-1", voice="alloy", input="Hello there", response_format="wav"
    )
    audio = raw.parse().read()
    assert raw.headers["content-type"] == "audio/wav"
    assert audio[:4] == b"RIFF" and audio[8:12] == b"WAVE"
    channels, rate, bits = struct.unpack("<H", audio[22:24])[0], struct.unpack("<I", audio[24:28])[0], audio[34]
    assert (channels, rate, bits) == (1, 24_000, 16)
    assert len(audio) == 44 + pcm_bytes("Hello there")


def test_pcm_style_and_a_gemini_voice(client: openai.OpenAI, simulator_process: Simulator) -> None:
    audio = client.audio.speech.create(
        model="gpt-4o-mini-tts",
        voice="kore",
        input="Good night",
        instructions="Speak softly.",
        speed=1.5,
        response_format="pcm",
    ).read()
    text = "Speak softly; speak at about 1.5 times the normal speed: Good night"
    assert len(audio) == pcm_bytes(text) and set(audio) == {0}
    body = upstream(simulator_process)["body"]
    assert body["contents"][0]["parts"][0]["text"] == text
    assert body["generationConfig"]["speechConfig"]["voiceConfig"]["prebuiltVoiceConfig"]["voiceName"] == "Kore"


def test_the_speech_stream_carries_the_same_audio_as_delta_events(client: openai.OpenAI) -> None:
    # stream_format "sse" (gpt-4o-mini-tts): speech.audio.delta events with base64 pieces of the encoded
    # audio, then speech.audio.done with the usage. Gemini speaks the text in one answer, so the events
    # follow it; joined, they are the very bytes the plain request gets.
    text = "A sentence long enough to be sent as more than one piece of audio. " * 12
    whole = client.audio.speech.create(model="gpt-4o-mini-tts", voice="coral", input=text).read()
    with client.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts", voice="coral", input=text, stream_format="sse"
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [orjson.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]
    kinds = [e["type"] for e in events]
    assert kinds[-1] == "speech.audio.done" and set(kinds[:-1]) == {"speech.audio.delta"} and len(kinds) > 2
    assert b"".join(base64.b64decode(e["audio"]) for e in events[:-1]) == whole
    usage = events[-1]["usage"]
    assert usage["input_tokens"] > 0 and usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "tts-1", "voice": "alloy", "input": "x", "response_format": "opus"}, "response_format"),
        ({"model": "tts-1", "voice": "alloy"}, "input"),
        ({"model": "tts-1", "input": "x"}, "voice"),
        ({"model": "tts-1", "voice": "alloy", "input": "x" * 4097}, "input"),
        ({"model": "tts-1", "voice": "alloy", "input": "x", "speed": 9}, "speed"),
        ({"model": "tts-1", "voice": "alloy", "input": "x", "stream_format": "chunks"}, "stream_format"),
    ],
)
def test_bad_bodies_are_named(gw: Gateway, body: dict[str, Any], param: str) -> None:
    assert refused_field(httpx.post(f"{gw.v1}/audio/speech", json=body, timeout=30))["param"] == param


def test_a_chat_model_cannot_speak(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.audio.speech.create(model="gemini-2.5-flash", voice="alloy", input="Hi", response_format="wav")
    assert "response modalities" in err.value.message


def test_an_answer_of_an_unexpected_shape_is_a_502(client: openai.OpenAI, simulator_process: Simulator) -> None:
    # Usage counts that are no numbers: the handler's own reading of the answer used to end in a 500.
    pcm = base64.b64encode(b"\x00\x00" * 240).decode()
    part = {"inlineData": {"mimeType": "audio/L16;codec=pcm;rate=24000", "data": pcm}}
    raw = {"candidates": [{"content": {"parts": [part]}}], "usageMetadata": {"promptTokenCount": {"n": 1}}}
    simulator_process.script(KEY, {"raw": raw})
    with pytest.raises(openai.APIStatusError) as err:
        client.audio.speech.create(model="tts-1", voice="alloy", input="Hello")
    assert err.value.status_code == 502 and "could not be converted" in err.value.message
