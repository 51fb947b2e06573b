"""POST /v1/responses/compact: a conversation → its user messages plus one `compaction` item.

OpenAI's compaction item carries an encrypted summary only its own models read. poolgate asks the
upstream model for a summary and carries it, marked as ours, in `encrypted_content`; when the item
comes back as input (`items.py`) it becomes the summary text again. A foreign compaction item (one
made by OpenAI) still carries nothing Gemini can read and is skipped.
"""

from __future__ import annotations

from typing import Any

from poolgate.hub.events import TextDelta, Usage, events_from_chunk
from poolgate.hub.types import JSON, Content, GenerateContentRequest, Part
from poolgate.protocols.openai_responses.items import encode_compaction
from poolgate.protocols.openai_responses.stream import usage_json

INSTRUCTION = (
    "Write a summary of the conversation above for whoever continues it with no other record of it: "
    "the goal, what was decided and done, facts, names, file paths and values that will matter, and what "
    "is still open. Reply with the summary only."
)


def summary_request(hub: GenerateContentRequest) -> GenerateContentRequest:
    """The conversation with the summary instruction as the last user turn; no tools, so no calls."""
    contents: list[Content] = [{**c} for c in hub.get("contents") or ()]
    ask: Part = {"text": INSTRUCTION}
    if contents and contents[-1].get("role") == "user":
        contents[-1]["parts"] = [*contents[-1].get("parts", []), ask]
    else:
        contents.append({"role": "user", "parts": [ask]})
    out: GenerateContentRequest = {"contents": contents}
    if "systemInstruction" in hub:
        out["systemInstruction"] = hub["systemInstruction"]
    return out


def user_messages(items: list[Any]) -> list[JSON]:
    """Every user message of the conversation, as output items in OpenAI's compacted shape."""
    out: list[JSON] = []
    for item in items:
        if isinstance(item, str):
            item = {"role": "user", "content": item}
        if not isinstance(item, dict) or item.get("role") != "user":
            continue
        if item.get("type", "message") != "message":
            continue
        content = item.get("content")
        parts = [{"type": "input_text", "text": content}] if isinstance(content, str) else content
        out.append({"type": "message", "role": "user", "content": parts or []})
    return out


def compacted(answer: JSON, *, response_id: str, created_at: int, items: list[Any]) -> tuple[JSON, Usage | None]:
    """The compact endpoint's body from the upstream's summary answer."""
    usage: Usage | None = None
    texts: list[str] = []
    for ev in events_from_chunk(answer):
        if isinstance(ev, TextDelta) and ev.index == 0:
            texts.append(ev.text)
        elif isinstance(ev, Usage):
            usage = ev
    suffix = response_id.removeprefix("resp_")
    output = [
        {**message, "id": f"msg_{suffix}{n:03d}", "status": "completed"}
        for n, message in enumerate(user_messages(items), 1)
    ]
    output.append(
        {"id": f"cmp_{suffix}", "type": "compaction", "encrypted_content": encode_compaction("".join(texts).strip())}
    )
    body: JSON = {
        "id": response_id,
        "object": "response.compaction",
        "created_at": created_at,
        "output": output,
        "usage": usage_json(usage),
    }
    return body, usage
