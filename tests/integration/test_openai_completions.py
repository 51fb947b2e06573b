"""Legacy completions end to end: the openai SDK against `poolgate serve` and the simulator.

Several prompts in one request (as LangChain's `OpenAI` LLM batches them), `echo`, `logprobs` in the
legacy shape, and `best_of`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.conftest import Gateway, Simulator
from tests.integration.gateways import keyed_gateway, openai_client

KEY = "key-legacy-completions-01"
MODEL = "gemini-2.5-flash"

gw = keyed_gateway("completions", KEY)


@pytest.fixture
def client(gw: Gateway, simulator_process: Simulator) -> Iterator[openai.OpenAI]:
    yield openai_client(gw, simulator_process)


def generate_bodies(sim: Simulator) -> list[dict[str, Any]]:
    return [c["body"] for c in sim.calls(KEY) if c["method"] in ("generateContent", "streamGenerateContent")]


def answer_to(prompt: str) -> str:
    return f"Hello from the simulator (model {MODEL}). You said: {prompt}"


def test_several_prompts_are_answered_each_with_n_choices(client: openai.OpenAI, simulator_process: Simulator) -> None:
    single = client.completions.create(model=MODEL, prompt="alpha")
    out = client.completions.create(model=MODEL, prompt=["alpha", "beta", "gamma"], n=2)
    assert [c.index for c in out.choices] == [0, 1, 2, 3, 4, 5]
    assert [c.text for c in out.choices] == [answer_to(p) for p in ("alpha", "alpha", "beta", "beta", "gamma", "gamma")]
    assert all(c.finish_reason == "stop" for c in out.choices)
    # One upstream call per prompt, and the usage of all of them.
    bodies = generate_bodies(simulator_process)
    assert len(bodies) == 4
    assert sorted(b["contents"][0]["parts"][0]["text"] for b in bodies[1:]) == ["alpha", "beta", "gamma"]
    assert all(b["generationConfig"]["candidateCount"] == 2 for b in bodies[1:])
    assert out.usage is not None and single.usage is not None
    assert out.usage.prompt_tokens == 3 * single.usage.prompt_tokens


def test_several_prompts_stream_with_echo(client: openai.OpenAI) -> None:
    texts: dict[int, str] = {}
    finished: dict[int, str | None] = {}
    usage = None
    for chunk in client.completions.create(
        model=MODEL, prompt=["one ", "two "], echo=True, stream=True, stream_options={"include_usage": True}
    ):
        for choice in chunk.choices:
            texts[choice.index] = texts.get(choice.index, "") + choice.text
            if choice.finish_reason:
                finished[choice.index] = choice.finish_reason
        usage = chunk.usage or usage
    assert texts == {0: "one " + answer_to("one "), 1: "two " + answer_to("two ")}
    assert finished == {0: "stop", 1: "stop"}
    assert usage is not None and usage.completion_tokens > 0


def test_echo_puts_the_prompt_before_the_answer(client: openai.OpenAI) -> None:
    out = client.completions.create(model=MODEL, prompt="Once upon a time", echo=True)
    assert out.choices[0].text == "Once upon a time" + answer_to("Once upon a time")


@pytest.mark.parametrize("stream", [False, True])
def test_logprobs_in_the_legacy_shape(client: openai.OpenAI, stream: bool) -> None:
    tokens: list[str] = []
    offsets: list[int] = []
    tops: list[dict[str, float]] = []
    text = ""
    if stream:
        for chunk in client.completions.create(model=MODEL, prompt="hi there", logprobs=2, stream=True):
            for choice in chunk.choices:
                text += choice.text
                if choice.logprobs is not None:
                    tokens += choice.logprobs.tokens or []
                    offsets += choice.logprobs.text_offset or []
                    tops += choice.logprobs.top_logprobs or []
    else:
        choice = client.completions.create(model=MODEL, prompt="hi there", logprobs=2).choices[0]
        assert choice.logprobs is not None
        text = choice.text
        tokens = choice.logprobs.tokens or []
        offsets = choice.logprobs.text_offset or []
        tops = choice.logprobs.top_logprobs or []
        assert len(choice.logprobs.token_logprobs or []) == len(tokens)
    assert "".join(tokens) == text == answer_to("hi there")
    # Each token's offset is where it starts in the choice's text, across stream chunks too.
    assert offsets == [text.index(tok, off) for tok, off in zip(tokens, offsets, strict=True)]
    assert offsets[0] == 0 and offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
    assert all(len(top) == 2 and tok in top for tok, top in zip(tokens, tops, strict=True))


def test_best_of_keeps_the_most_likely_candidates(client: openai.OpenAI, simulator_process: Simulator) -> None:
    def candidate(i: int, text: str, avg: float) -> dict[str, Any]:
        return {
            "index": i,
            "content": {"role": "model", "parts": [{"text": text}]},
            "finishReason": "STOP",
            "avgLogprobs": avg,
        }

    raw = {
        "candidates": [candidate(0, "meh", -1.5), candidate(1, "best", -0.1), candidate(2, "good", -0.4)],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 9, "totalTokenCount": 12},
    }
    simulator_process.script(KEY, {"raw": raw})
    out = client.completions.create(model=MODEL, prompt="pick", best_of=3, n=2)
    assert [(c.index, c.text) for c in out.choices] == [(0, "best"), (1, "good")]
    assert out.usage is not None and out.usage.completion_tokens == 9  # every candidate generated is counted
    assert generate_bodies(simulator_process)[-1]["generationConfig"]["candidateCount"] == 3


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"prompt": [[1, 2, 3]]}, "prompt", "token ids"),
        ({"prompt": [17, 42]}, "prompt", "token ids"),
        ({"prompt": []}, "prompt", "empty"),
        ({"prompt": ["x"] * 33}, "prompt", "at most 32"),
        ({"prompt": "x", "best_of": 2, "stream": True}, "best_of", "stream"),
        ({"prompt": "x", "best_of": 1, "n": 2}, "best_of", "at least 'n'"),
        ({"prompt": "x", "best_of": 9}, "best_of", "at most 8"),
        ({"prompt": "x", "logprobs": 6}, "logprobs", "at most 5"),
        ({"prompt": "x", "logprobs": True}, "logprobs", "integer"),
        ({"prompt": "x", "echo": True, "logprobs": 1}, "echo", "log-probabilities"),
    ],
)
def test_requests_that_cannot_be_served_say_why(
    client: openai.OpenAI, body: dict[str, Any], param: str, words: str
) -> None:
    prompt = body.pop("prompt")
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model=MODEL, prompt=prompt, extra_body=body)
    error = caught.value.body
    assert isinstance(error, dict) and error["param"] == param and words in error["message"]


@pytest.mark.parametrize("stream", [False, True])
def test_one_failing_prompt_fails_the_request_in_openai_shape(
    client: openai.OpenAI, simulator_process: Simulator, gw: Gateway, stream: bool
) -> None:
    simulator_process.script(KEY, {"status": 400, "message": "Prompt two is not allowed."})
    with pytest.raises(openai.BadRequestError) as caught:
        result = client.completions.create(model=MODEL, prompt=["one", "two"], stream=stream)
        if stream:
            list(result)  # type: ignore[arg-type]
    assert "Prompt two is not allowed." in str(caught.value)
    # The gateway goes on serving (the other call's stream, if it opened, was closed).
    assert client.completions.create(model=MODEL, prompt="again").choices[0].text == answer_to("again")


@pytest.mark.parametrize("stream", [False, True])
def test_a_blocked_prompt_keeps_its_choices_and_says_content_filter(
    client: openai.OpenAI, simulator_process: Simulator, stream: bool
) -> None:
    blocked = {
        "promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": 2, "totalTokenCount": 2},
    }
    simulator_process.script(KEY, {"raw": blocked})
    texts: dict[int, str] = {}
    reasons: dict[int, str | None] = {}
    if stream:
        for chunk in client.completions.create(model=MODEL, prompt=["one", "two"], n=2, stream=True):
            for choice in chunk.choices:
                texts[choice.index] = texts.get(choice.index, "") + choice.text
                reasons[choice.index] = choice.finish_reason or reasons.get(choice.index)
    else:
        out = client.completions.create(model=MODEL, prompt=["one", "two"], n=2)
        texts = {c.index: c.text for c in out.choices}
        reasons = {c.index: c.finish_reason for c in out.choices}
    assert sorted(reasons) == [0, 1, 2, 3]
    # Whichever prompt the scripted answer met, both its choices report the block; the other's are answers.
    blocked_pair = [i for i in range(4) if reasons[i] == "content_filter"]
    assert blocked_pair in ([0, 1], [2, 3]), reasons
    assert all(texts.get(i, "") == "" for i in blocked_pair)
    assert sum(1 for i in range(4) if reasons[i] == "stop" and "You said:" in texts[i]) == 2


def test_a_blocked_single_prompt_says_content_filter(client: openai.OpenAI, simulator_process: Simulator) -> None:
    simulator_process.script(KEY, {"raw": {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}})
    out = client.completions.create(model=MODEL, prompt="bad")
    assert [(c.index, c.text, c.finish_reason) for c in out.choices] == [(0, "", "content_filter")]


def test_overhead_header_counts_prompts_answered_side_by_side_once(
    client: openai.OpenAI, simulator_process: Simulator
) -> None:
    # Both calls wait 0.3 s upstream at the same time: the gateway's own time is the rest, not the rest
    # minus 0.6 s (which read as 0).
    simulator_process.script(KEY, {"delay": 0.3}, {"delay": 0.3})
    raw = client.completions.with_raw_response.create(model=MODEL, prompt=["one", "two"])
    overhead = float(raw.headers["x-poolgate-overhead-ms"])
    assert 0 < overhead < 250
    assert len(raw.parse().choices) == 2
