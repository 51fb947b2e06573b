"""Hub answer → OpenAI chat.completion body; usage, finish-reason and logprob mapping shared with the stream."""

from __future__ import annotations

from typing import Any

import orjson

from poolgate.hub.events import (
    SAFETY_REASONS,
    Finish,
    InlineData,
    TextDelta,
    ThoughtDelta,
    ToolCall,
    Usage,
    events_from_chunk,
)
from poolgate.hub.grounding import citations, grounding_of
from poolgate.hub.types import JSON
from poolgate.protocols import openai_tools


def finish_reason(reason: str | None, has_tool_calls: bool) -> str | None:
    """Gemini's finish reasons never leak: every one maps onto OpenAI's five."""
    if has_tool_calls:
        return "tool_calls"
    if reason is None:
        return None
    if reason == "MAX_TOKENS":
        return "length"
    if reason in SAFETY_REASONS:
        return "content_filter"
    return "stop"


def usage_json(usage: Usage | None) -> JSON:
    u = usage or Usage()
    completion = u.completion_tokens
    return {
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": u.prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": u.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": u.thought_tokens},
    }


def tool_call_id(request_id: str, index: int, call_id: str | None) -> str:
    """The pipeline gives every call an id before encoding; this only covers direct use of the converters."""
    return call_id or f"call_{request_id[:24]}_{index}"


def arguments(args: dict[str, Any]) -> str:
    return orjson.dumps(args).decode()


def tool_call(ev: ToolCall, call_id: str, customs: frozenset[str]) -> JSON:
    """One entry of a message's `tool_calls`: a function call, or a custom tool's call with its text input."""
    if ev.name in customs:
        return {
            "id": call_id,
            "type": "custom",
            "custom": {"name": ev.name, "input": openai_tools.custom_input(ev.args)},
        }
    return {"id": call_id, "type": "function", "function": {"name": ev.name, "arguments": arguments(ev.args)}}


def image_markdown(ev: InlineData) -> str:
    return f"![image](data:{ev.mime_type or 'image/png'};base64,{ev.data})"


def token_logprob(entry: object) -> tuple[str, float]:
    if not isinstance(entry, dict):
        return "", 0.0
    return str(entry.get("token") or ""), float(entry.get("logProbability") or 0.0)


def logprobs_json(result: object) -> JSON | None:
    """Gemini's logprobsResult as OpenAI's choice.logprobs (chosen token plus its alternatives)."""
    if not isinstance(result, dict):
        return None
    chosen = result.get("chosenCandidates") or []
    tops = result.get("topCandidates") or []
    content: list[JSON] = []
    for i, entry in enumerate(chosen):
        token, logprob = token_logprob(entry)
        alternatives: list[JSON] = []
        top = tops[i] if i < len(tops) and isinstance(tops[i], dict) else {}
        for alt in top.get("candidates") or []:
            alt_token, alt_logprob = token_logprob(alt)
            alternatives.append({"token": alt_token, "logprob": alt_logprob, "bytes": list(alt_token.encode())})
        content.append(
            {"token": token, "logprob": logprob, "bytes": list(token.encode()), "top_logprobs": alternatives}
        )
    return {"content": content, "refusal": None}


def candidate_logprobs(answer: JSON) -> dict[int, JSON]:
    found: dict[int, JSON] = {}
    for cand in answer.get("candidates") or ():
        if isinstance(cand, dict) and cand.get("logprobsResult") is not None:
            converted = logprobs_json(cand["logprobsResult"])
            if converted is not None:
                found[int(cand.get("index") or 0)] = converted
    return found


def url_citations(metadata: JSON, text: str) -> list[JSON]:
    """Grounding sources as chat `annotations`: character spans of the message content."""
    return [
        {
            "type": "url_citation",
            "url_citation": {"start_index": c.start, "end_index": c.end, "url": c.url, "title": c.title},
        }
        for c in citations(metadata, text)
    ]


def candidate_grounding(answer: JSON) -> dict[int, JSON]:
    found: dict[int, JSON] = {}
    for cand in answer.get("candidates") or ():
        meta = grounding_of(cand)
        if meta is not None:
            found[int(cand.get("index") or 0)] = meta
    return found


def blocked(answer: JSON) -> bool:
    feedback = answer.get("promptFeedback")
    return isinstance(feedback, dict) and bool(feedback.get("blockReason"))


def from_hub(
    answer: JSON,
    *,
    request_id: str,
    model: str,
    created: int,
    n: int = 1,
    logprobs: bool = False,
    legacy_functions: bool = False,
    web_search: bool = False,
    customs: frozenset[str] = frozenset(),
) -> tuple[JSON, Usage | None]:
    """Build chat.completion from one upstream answer; returns the body and the usage seen."""
    texts: dict[int, list[str]] = {}
    thoughts: dict[int, list[str]] = {}
    calls: dict[int, list[JSON]] = {}
    reasons: dict[int, str] = {}
    usage: Usage | None = None
    count = 0
    for ev in events_from_chunk(answer):
        if isinstance(ev, TextDelta):
            texts.setdefault(ev.index, []).append(ev.text)
        elif isinstance(ev, InlineData):
            texts.setdefault(ev.index, []).append(image_markdown(ev))
        elif isinstance(ev, ThoughtDelta):
            thoughts.setdefault(ev.index, []).append(ev.text)
        elif isinstance(ev, ToolCall):
            calls.setdefault(ev.index, []).append(tool_call(ev, tool_call_id(request_id, count, ev.call_id), customs))
            count += 1
        elif isinstance(ev, Finish):
            reasons[ev.index] = ev.reason
        elif isinstance(ev, Usage):
            usage = ev
    probs = candidate_logprobs(answer) if logprobs else {}
    grounding = candidate_grounding(answer) if web_search else {}
    indices = sorted(set(texts) | set(thoughts) | set(calls) | set(reasons) | set(range(n)))
    default_reason = "SAFETY" if blocked(answer) else "STOP"
    choices: list[JSON] = []
    for idx in indices:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(texts.get(idx, [])) or None}
        if idx in thoughts:
            message["reasoning_content"] = "".join(thoughts[idx])
        reason = finish_reason(reasons.get(idx, default_reason), idx in calls)
        if idx in calls and legacy_functions:
            # The deprecated `functions` API has room for one call and names it `function_call`.
            message["function_call"] = calls[idx][0]["function"]
            reason = "function_call"
        elif idx in calls:
            message["tool_calls"] = calls[idx]
        elif message["content"] is None:
            message["content"] = ""
        message["refusal"] = None
        if web_search:
            meta = grounding.get(idx)
            message["annotations"] = url_citations(meta, message["content"] or "") if meta else []
        choices.append(
            {
                "index": idx,
                "message": message,
                "logprobs": probs.get(idx, {"content": [], "refusal": None}) if logprobs else None,
                "finish_reason": reason,
            }
        )
    body: JSON = {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": usage_json(usage),
    }
    return body, usage
