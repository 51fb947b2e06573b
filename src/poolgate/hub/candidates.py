"""Answers re-cut by candidate: several upstream answers as one, and the best of several candidates.

A client request can need more than one generateContent call (legacy completions with several
prompts) or more candidates than it asked to see (`best_of`). These pure functions keep the hub
shape, so the protocol converters read the result as they read any answer.
"""

from __future__ import annotations

from collections.abc import Iterable

from poolgate.hub.types import JSON


def shifted(chunk: JSON, offset: int) -> JSON:
    """The chunk with every candidate's index moved up by `offset` (a shallow copy; the input is kept)."""
    if not offset:
        return chunk
    out = dict(chunk)
    out["candidates"] = [
        {**cand, "index": int(cand.get("index") or 0) + offset} if isinstance(cand, dict) else cand
        for cand in chunk.get("candidates") or ()
    ]
    return out


def answered(answer: JSON, per: int) -> JSON:
    """The answer, or for a prompt Gemini blocked (no candidates, `promptFeedback.blockReason`) `per`
    candidates that say so (finish SAFETY), so each of the prompt's choices is still there to report it."""
    if answer.get("candidates"):
        return answer
    feedback = answer.get("promptFeedback")
    if not (isinstance(feedback, dict) and feedback.get("blockReason")):
        return answer
    return {**answer, "candidates": [{"index": i, "finishReason": "SAFETY"} for i in range(per)]}


def summed_usage(usages: Iterable[object]) -> JSON:
    """usageMetadata added up field by field; only the counts (the per-modality lists are dropped)."""
    total: JSON = {}
    for usage in usages:
        if not isinstance(usage, dict):
            continue
        for key, value in usage.items():
            if isinstance(value, int) and not isinstance(value, bool):
                total[key] = total.get(key, 0) + value
    return total


def merged(answers: list[JSON], per: int) -> JSON:
    """Answers to separate requests as one answer: answer i's candidates get indices i*per … i*per+per-1."""
    candidates: list[object] = []
    for i, answer in enumerate(answers):
        candidates.extend(shifted(answered(answer, per), i * per).get("candidates") or ())
    out: JSON = {"candidates": candidates}
    usage = summed_usage(answer.get("usageMetadata") for answer in answers)
    if usage:
        out["usageMetadata"] = usage
    if answers and "modelVersion" in answers[0]:
        out["modelVersion"] = answers[0]["modelVersion"]
    return out


def best(answer: JSON, n: int, per: int | None = None) -> JSON:
    """The `n` most likely candidates of each group of `per` (default: all), best first.

    Group g's kept candidates get indices g*n … g*n+n-1. Likelihood is Gemini's `avgLogprobs`, else the
    mean over `logprobsResult`; upstream order breaks ties and puts candidates with neither last. Usage
    is kept whole: every candidate was generated.
    """
    groups: dict[int, list[tuple[int, JSON]]] = {}
    for position, cand in enumerate(answer.get("candidates") or ()):
        if isinstance(cand, dict):
            index = int(cand.get("index") or 0)
            groups.setdefault(index // per if per else 0, []).append((position, cand))
    kept: list[object] = []
    for group in sorted(groups):
        ranked = sorted(groups[group], key=lambda item: (-_avg_logprob(item[1]), item[0]))
        kept.extend({**cand, "index": group * n + rank} for rank, (_, cand) in enumerate(ranked[:n]))
    out = dict(answer)
    out["candidates"] = kept
    return out


def _avg_logprob(candidate: JSON) -> float:
    value = candidate.get("avgLogprobs")
    if _is_number(value):
        return float(value)  # type: ignore[arg-type]
    result = candidate.get("logprobsResult")
    chosen = result.get("chosenCandidates") if isinstance(result, dict) else None
    if isinstance(chosen, list):
        probs = [
            float(c["logProbability"]) for c in chosen if isinstance(c, dict) and _is_number(c.get("logProbability"))
        ]
        if probs:
            return sum(probs) / len(probs)
    return float("-inf")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
