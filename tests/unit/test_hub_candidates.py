"""Answers re-cut by candidate: merging several answers and keeping the best of each prompt's candidates."""

from __future__ import annotations

from typing import Any

from poolgate.hub import candidates


def cand(index: int, text: str, **extra: Any) -> dict[str, Any]:
    return {"index": index, "content": {"role": "model", "parts": [{"text": text}]}, **extra}


def texts(answer: dict[str, Any]) -> list[tuple[int, str]]:
    return [(c["index"], c["content"]["parts"][0]["text"]) for c in answer["candidates"]]


def test_merged_numbers_each_answer_after_the_one_before_and_adds_usage() -> None:
    first = {
        "candidates": [cand(0, "a0"), cand(1, "a1")],
        "usageMetadata": {"promptTokenCount": 2, "totalTokenCount": 5, "promptTokensDetails": [{"x": 1}]},
        "modelVersion": "m",
    }
    second = {
        "candidates": [cand(1, "b1"), cand(0, "b0")],
        "usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 7},
    }
    out = candidates.merged([first, second], per=2)
    assert texts(out) == [(0, "a0"), (1, "a1"), (3, "b1"), (2, "b0")]
    assert out["usageMetadata"] == {"promptTokenCount": 5, "totalTokenCount": 12}
    assert out["modelVersion"] == "m"
    assert texts(first) == [(0, "a0"), (1, "a1")]  # the inputs are not changed


def test_best_ranks_within_each_prompt_and_falls_back_to_the_token_mean() -> None:
    def probs(*values: float) -> dict[str, Any]:
        return {"chosenCandidates": [{"token": "t", "logProbability": v} for v in values]}

    answer = {
        "candidates": [
            cand(0, "p0-low", avgLogprobs=-2.0),
            cand(1, "p0-high", avgLogprobs=-0.5),
            cand(2, "p0-none"),
            cand(3, "p1-mean-low", logprobsResult=probs(-1.0, -3.0)),
            cand(4, "p1-mean-high", logprobsResult=probs(-0.2, -0.4)),
            cand(5, "p1-none"),
        ],
        "usageMetadata": {"candidatesTokenCount": 60},
    }
    out = candidates.best(answer, 2, per=3)
    assert texts(out) == [(0, "p0-high"), (1, "p0-low"), (2, "p1-mean-high"), (3, "p1-mean-low")]
    assert out["usageMetadata"] == {"candidatesTokenCount": 60}


def test_best_keeps_upstream_order_when_nothing_ranks_the_candidates() -> None:
    out = candidates.best({"candidates": [cand(0, "x"), cand(1, "y"), cand(2, "z")]}, 2)
    assert texts(out) == [(0, "x"), (1, "y")]
