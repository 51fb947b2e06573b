"""Hub answer → OpenAI chat.completion body; usage and finish-reason mapping shared with the stream."""

from __future__ import annotations

from typing import Any

import orjson

from poolgate.hub.events import (
    SAFETY_REASONS,
    Finish,
    TextDelta,
    ThoughtDelta,
    ToolCall,
    Usage,
    events_from_chunk,
)
from poolgate.hub.types import JSON


def finish_reason(reason: str | None, has_tool_calls: bool) -> str | None:
    if has_tool_calls:
        return "tool_calls"
    if reason is None:
        return None
    if reason == "MAX_TOKENS":
        return "length"
    if reason in SAFETY_REASONS:
        return "content_filter"
    if reason in ("MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL"):
        return "stop"
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
    return call_id or f"call_{request_id[-12:]}_{index}"


def from_hub(answer: JSON, *, request_id: str, model: str, created: int) -> tuple[JSON, Usage | None]:
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
        elif isinstance(ev, ThoughtDelta):
            thoughts.setdefault(ev.index, []).append(ev.text)
        elif isinstance(ev, ToolCall):
            calls.setdefault(ev.index, []).append(
                {
                    "id": tool_call_id(request_id, count, ev.call_id),
                    "type": "function",
                    "function": {"name": ev.name, "arguments": orjson.dumps(ev.args).decode()},
                }
            )
            count += 1
        elif isinstance(ev, Finish):
            reasons[ev.index] = ev.reason
        elif isinstance(ev, Usage):
            usage = ev
    indices = sorted(set(texts) | set(thoughts) | set(calls) | set(reasons)) or [0]
    choices: list[JSON] = []
    for idx in indices:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(texts.get(idx, [])) or None}
        if idx in thoughts:
            message["reasoning_content"] = "".join(thoughts[idx])
        if idx in calls:
            message["tool_calls"] = calls[idx]
        elif message["content"] is None:
            message["content"] = ""
        choices.append(
            {
                "index": idx,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason(reasons.get(idx, "STOP"), idx in calls),
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
