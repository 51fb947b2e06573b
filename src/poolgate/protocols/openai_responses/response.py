"""Hub answer → Response object."""

from __future__ import annotations

from poolgate.hub.events import Finish, TextDelta, Usage, events_from_chunk
from poolgate.hub.types import JSON


def usage_json(usage: Usage | None) -> JSON:
    u = usage or Usage()
    return {
        "input_tokens": u.prompt_tokens,
        "input_tokens_details": {"cached_tokens": u.cached_tokens},
        "output_tokens": u.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": u.thought_tokens},
        "total_tokens": u.prompt_tokens + u.completion_tokens,
    }


def from_hub(answer: JSON, *, request_id: str, model: str, created: int) -> tuple[JSON, Usage | None]:
    texts: list[str] = []
    usage: Usage | None = None
    reason = "STOP"
    for ev in events_from_chunk(answer):
        if isinstance(ev, TextDelta) and ev.index == 0:
            texts.append(ev.text)
        elif isinstance(ev, Finish) and ev.index == 0:
            reason = ev.reason
        elif isinstance(ev, Usage):
            usage = ev
    incomplete = reason == "MAX_TOKENS"
    body: JSON = {
        "id": f"resp_{request_id}",
        "object": "response",
        "created_at": created,
        "status": "incomplete" if incomplete else "completed",
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "error": None,
        "model": model,
        "output": [
            {
                "type": "message",
                "id": f"msg_{request_id}",
                "status": "incomplete" if incomplete else "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "".join(texts), "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage_json(usage),
    }
    return body, usage
