"""Text-to-speech converters: voices, the leading direction, PCM found in the answer and wrapped as WAV."""

from __future__ import annotations

import base64
import struct

import pytest

from poolgate.errors import ErrorKind, GatewayError
from poolgate.protocols import openai_speech as speech


@pytest.mark.parametrize(
    ("voice", "gemini"), [("alloy", "Zephyr"), ("NOVA", "Kore"), ("puck", "Puck"), ("Newvoice", "Newvoice")]
)
def test_voices(voice: str, gemini: str) -> None:
    assert speech.parse({"model": "tts-1", "input": "x", "voice": voice}).voice == gemini
    assert speech.parse({"model": "tts-1", "input": "x", "voice": {"id": voice}}).voice == gemini


def test_style_and_pace_lead_the_text_and_a_normal_pace_adds_nothing() -> None:
    plain = speech.parse({"model": "m", "input": "Hi", "voice": "alloy", "speed": 1.0})
    assert speech.to_hub(plain)["contents"][0]["parts"][0]["text"] == "Hi"
    slow = speech.parse({"model": "m", "input": "Hi", "voice": "alloy", "speed": 0.5})
    assert speech.to_hub(slow)["contents"][0]["parts"][0]["text"] == "Speak at about 0.5 times the normal speed: Hi"
    styled = speech.parse({"model": "m", "input": "Hi", "voice": "alloy", "instructions": "Whisper."})
    assert speech.to_hub(styled)["contents"][0]["parts"][0]["text"] == "Whisper: Hi"


def test_pcm_and_rate_from_the_answer_and_the_wav_header() -> None:
    pcm = b"\x01\x00" * 100
    answer = {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {
                            "inlineData": {
                                "mimeType": "audio/L16;codec=pcm;rate=16000",
                                "data": base64.b64encode(pcm).decode(),
                            }
                        }
                    ]
                }
            }
        ]
    }
    assert speech.pcm_of(answer) == (pcm, 16000)
    wav = speech.wav(pcm, 16000)
    assert wav[:4] == b"RIFF" and struct.unpack("<I", wav[4:8])[0] == len(wav) - 8
    assert struct.unpack("<I", wav[24:28])[0] == 16000 and wav[44:] == pcm
    with pytest.raises(GatewayError) as err:
        speech.pcm_of({"candidates": [{"content": {"parts": [{"text": "no"}]}}]})
    assert err.value.kind is ErrorKind.UPSTREAM_ERROR
