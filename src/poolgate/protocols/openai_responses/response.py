"""Hub answer → a Response object, by running the stream encoder over the single answer."""

from __future__ import annotations

from poolgate.hub.events import Usage
from poolgate.hub.types import JSON
from poolgate.protocols.openai_responses.stream import ResponsesEncoder, usage_json

__all__ = ["from_hub", "usage_json"]


def from_hub(answer: JSON, encoder: ResponsesEncoder) -> tuple[JSON, Usage | None]:
    # One code path for both modes keeps item ids, statuses and signatures identical.
    encoder.start()
    encoder.feed(answer)
    encoder.finish()
    return encoder.response, encoder.usage
