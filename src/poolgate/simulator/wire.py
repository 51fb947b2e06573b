"""Lays a Reply out as Gemini response JSON: one whole body, or a list of stream chunks."""

from __future__ import annotations

import re
import secrets
from typing import Any, Final

from poolgate.simulator.behaviour import Reply

DEFAULT_STREAM_CHUNKS: Final = 3
_WORDS = re.compile(r"\s*\S+\s*")


def signature() -> str:
    return "sig-" + secrets.token_urlsafe(12)


def response_body(reply: Reply, model: str, response_id: str) -> dict[str, Any]:
    """The non-streaming generateContent body."""
    parts = _parts(reply, reply.text)
    candidates = [
        {
            "content": {"role": "model", "parts": parts},
            "finishReason": reply.finish_reason,
            "index": i,
        }
        for i in range(reply.candidate_count)
    ]
    if reply.logprobs is not None:
        for candidate in candidates:
            candidate["logprobsResult"] = logprobs_result(reply.text, reply.logprobs)
    if reply.grounding is not None:
        candidates[0]["groundingMetadata"] = reply.grounding
    return {
        "candidates": candidates,
        "usageMetadata": reply.usage,
        "modelVersion": model,
        "responseId": response_id,
    }


def stream_chunks(reply: Reply, model: str, response_id: str, text_chunks: int) -> list[dict[str, Any]]:
    """Stream chunks: thoughts first, the text over `text_chunks`, calls plus finish and usage last."""
    part_lists: list[list[dict[str, Any]]] = []
    if reply.thoughts:
        part_lists.append([{"text": reply.thoughts, "thought": True}])
    pieces = split_text(reply.text, text_chunks)
    for piece in pieces:
        part_lists.append([{"text": piece}])
    calls = [_call_part(c.name, c.args, c.id) for c in reply.function_calls]
    if reply.media is not None:
        part_lists.append([reply.media])
    if calls and pieces:
        part_lists[-1].extend(calls)
    elif calls or not part_lists or (not pieces and reply.media is None):
        part_lists.append(calls)
    if reply.thoughts:
        # Google signs the first answer part after a thought; calls already carry their own.
        first_answer = part_lists[1]
        if first_answer and "thoughtSignature" not in first_answer[0]:
            first_answer[0]["thoughtSignature"] = signature()
    chunks: list[dict[str, Any]] = []
    last = len(part_lists) - 1
    for n, parts in enumerate(part_lists):
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        text = "".join(p["text"] for p in parts if isinstance(p.get("text"), str) and not p.get("thought"))
        if reply.logprobs is not None and text:
            candidate["logprobsResult"] = logprobs_result(text, reply.logprobs)
        if n == last:
            candidate["finishReason"] = reply.finish_reason
            if reply.grounding is not None:
                candidate["groundingMetadata"] = reply.grounding
        # Every candidate asked for (candidateCount) streams alongside the first, as Gemini's do.
        others = [{**candidate, "index": i} for i in range(1, reply.candidate_count)]
        chunk: dict[str, Any] = {"candidates": [candidate, *others]}
        if n == last:
            chunk["usageMetadata"] = reply.usage
        chunk["modelVersion"] = model
        chunk["responseId"] = response_id
        chunks.append(chunk)
    return chunks


def logprobs_result(text: str, top: int) -> dict[str, Any]:
    """Word-level stand-in for Gemini's logprobsResult: each word chosen, plus `top` made-up alternatives."""
    chosen: list[dict[str, Any]] = []
    tops: list[dict[str, Any]] = []
    for n, token in enumerate(_WORDS.findall(text) or ([text] if text else [])):
        entry = {"token": token, "tokenId": n, "logProbability": -0.25}
        chosen.append(entry)
        alternatives = [entry] + [
            {"token": f"alt{k}", "tokenId": 10_000 + k, "logProbability": -2.0 - k} for k in range(max(0, top - 1))
        ]
        tops.append({"candidates": alternatives[:top]} if top else {"candidates": []})
    result: dict[str, Any] = {"chosenCandidates": chosen}
    if top:
        result["topCandidates"] = tops
    return result


def split_text(text: str, n: int) -> list[str]:
    """Split into at most `n` non-empty pieces that join back to `text`: by words, else by characters."""
    if not text:
        return []
    n = max(1, min(n, len(text)))
    units: list[str] = _WORDS.findall(text)
    if "".join(units) != text or len(units) < n:
        units = list(text)
    size, extra = divmod(len(units), n)
    pieces: list[str] = []
    start = 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        pieces.append("".join(units[start:end]))
        start = end
    return pieces


def _parts(reply: Reply, text: str) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if reply.thoughts:
        parts.append({"text": reply.thoughts, "thought": True})
    if reply.media is not None:
        parts.append(reply.media)
    elif text or not reply.function_calls:
        parts.append({"text": text})
    parts.extend(_call_part(c.name, c.args, c.id) for c in reply.function_calls)
    if reply.thoughts and "thoughtSignature" not in parts[1]:
        parts[1]["thoughtSignature"] = signature()
    return parts


def _call_part(name: str, args: dict[str, Any], call_id: str | None) -> dict[str, Any]:
    call: dict[str, Any] = {"name": name, "args": args}
    if call_id is not None:
        call["id"] = call_id
    return {"functionCall": call, "thoughtSignature": signature()}
