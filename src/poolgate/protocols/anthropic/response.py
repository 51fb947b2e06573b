"""Hub answer → Anthropic `message` body."""

from __future__ import annotations

from poolgate.hub.events import Usage, events_from_chunk
from poolgate.hub.grounding import first_grounding
from poolgate.hub.types import JSON
from poolgate.protocols.anthropic.blocks import BlockAssembler, apply, usage_json


def message_id(request_id: str) -> str:
    return f"msg_{request_id}"


def from_hub(answer: JSON, *, assembler: BlockAssembler, model: str) -> tuple[JSON, Usage | None]:
    content: list[JSON] = []
    partial: dict[int, str] = {}
    for event in assembler.feed(events_from_chunk(answer), first_grounding(answer)) + assembler.finish():
        apply(content, event, partial)
    body: JSON = {
        "id": message_id(assembler.request_id),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": assembler.stop_reason,
        "stop_sequence": assembler.stop_sequence,
        "usage": usage_json(assembler.usage, assembler.searches),
    }
    return body, assembler.usage
