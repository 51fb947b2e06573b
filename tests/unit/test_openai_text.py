"""OpenAI chat ↔ hub text conversion: roles, merging, generation config, finish reasons, usage."""

from __future__ import annotations

import pytest

from poolgate.errors import GatewayError
from poolgate.protocols.openai_chat.request import to_hub
from poolgate.protocols.openai_chat.response import from_hub


def test_system_and_developer_become_system_instruction_and_turns_merge() -> None:
    req = to_hub(
        {
            "model": "m",
            "messages": [
                {"role": "system", "content": "be kind"},
                {"role": "developer", "content": [{"type": "text", "text": "be brief"}]},
                {"role": "user", "content": "one"},
                {"role": "user", "content": "two"},
                {"role": "assistant", "content": "three"},
                {"role": "user", "content": "four"},
            ],
        }
    )
    assert req.hub["systemInstruction"] == {"parts": [{"text": "be kind\n\nbe brief"}]}
    assert req.hub["contents"] == [
        {"role": "user", "parts": [{"text": "one"}, {"text": "two"}]},
        {"role": "model", "parts": [{"text": "three"}]},
        {"role": "user", "parts": [{"text": "four"}]},
    ]


def test_generation_config_fields() -> None:
    req = to_hub(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "x"}],
            "temperature": 0.3,
            "top_p": 0.9,
            "max_completion_tokens": 77,
            "max_tokens": 5,
            "stop": "END",
            "seed": 7,
            "presence_penalty": 0.5,
            "frequency_penalty": -0.5,
        }
    )
    assert req.hub["generationConfig"] == {
        "temperature": 0.3,
        "topP": 0.9,
        "maxOutputTokens": 77,
        "stopSequences": ["END"],
        "seed": 7,
        "presencePenalty": 0.5,
        "frequencyPenalty": -0.5,
    }


def test_a_64_bit_seed_folds_into_geminis_32_bits_the_same_way_each_time() -> None:
    def seed(value: int) -> int:
        return int(
            to_hub({"model": "m", "messages": [{"role": "user", "content": "x"}], "seed": value}).hub[
                "generationConfig"
            ]["seed"]
        )

    big = 2**62 + 12345
    assert seed(big) == seed(big) and 0 <= seed(big) < 2**31
    assert seed(-(2**40)) != seed(big) and 0 <= seed(-(2**40)) < 2**31
    assert seed(-5) == -5 and seed(2**31 - 1) == 2**31 - 1  # in range: as sent


def test_more_output_than_gemini_gives_is_asked_for_as_its_ceiling() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 128_000}
    assert to_hub(body).hub["generationConfig"]["maxOutputTokens"] == 65_536


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "top_p": 3}, "top_p"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "stop": [1]}, "stop"),
    ],
)
def test_bad_fields_are_named(body: dict, param: str) -> None:
    with pytest.raises(GatewayError) as info:
        to_hub(body)
    assert info.value.param == param
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("reason", "expected"),
    [("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter")],
)
def test_finish_reasons(reason: str, expected: str) -> None:
    answer = {"candidates": [{"content": {"role": "model", "parts": [{"text": "hi"}]}, "finishReason": reason}]}
    body, _ = from_hub(answer, request_id="r", model="m", created=1)
    assert body["choices"][0]["finish_reason"] == expected


def test_usage_counts_thoughts_and_cache() -> None:
    answer = {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": "why", "thought": True}, {"text": "answer"}]},
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 100,
            "candidatesTokenCount": 20,
            "thoughtsTokenCount": 30,
            "cachedContentTokenCount": 40,
            "totalTokenCount": 150,
        },
    }
    body, usage = from_hub(answer, request_id="r", model="m", created=1)
    assert body["choices"][0]["message"]["content"] == "answer"
    assert body["usage"]["prompt_tokens"] == 100
    assert body["usage"]["completion_tokens"] == 50
    assert body["usage"]["total_tokens"] == 150
    assert body["usage"]["completion_tokens_details"]["reasoning_tokens"] == 30
    assert body["usage"]["prompt_tokens_details"]["cached_tokens"] == 40
    assert usage is not None and usage.thought_tokens == 30


def test_xhigh_effort_is_taken_as_high() -> None:
    # OpenAI's newest models take "xhigh"; Gemini has no step above high.
    def thinking(effort: str) -> object:
        body = {"model": "gemini-2.5-flash", "reasoning_effort": effort, "messages": [{"role": "user", "content": "x"}]}
        return to_hub(body).hub["generationConfig"]["thinkingConfig"]

    assert thinking("xhigh") == thinking("high") == {"thinkingBudget": 24576, "includeThoughts": True}
