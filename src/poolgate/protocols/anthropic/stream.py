"""MessagesEncoder: hub chunks → Anthropic Messages SSE events (a state machine, no I/O).

Grammar: message_start, then per block content_block_start / content_block_delta… /
content_block_stop, then message_delta (stop_reason, stop_sequence, usage) and message_stop.
`ping` is the keep-alive during silences; a failure after the first byte is an `error` event.
"""

from __future__ import annotations

from poolgate.errors import GatewayError
from poolgate.hub.events import Usage, events_from_chunk
from poolgate.hub.grounding import first_grounding
from poolgate.hub.types import JSON
from poolgate.protocols import sse
from poolgate.protocols.anthropic.blocks import BlockAssembler, usage_json
from poolgate.protocols.anthropic.errors import stream_error
from poolgate.protocols.anthropic.response import message_id

PING = sse.event("ping", {"type": "ping"})


class MessagesEncoder:
    keepalive = PING
    media_type = "text/event-stream"

    def __init__(self, *, assembler: BlockAssembler, model: str) -> None:
        self.assembler = assembler
        self.model = model
        self._started = False
        self.usage: Usage | None = None

    @property
    def done(self) -> bool:
        """True once a stop sequence ended the answer: the rest of the upstream stream is not needed."""
        return self.assembler.done

    def _message_start(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        usage = usage_json(self.assembler.usage)
        usage["output_tokens"] = 0
        message: JSON = {
            "id": message_id(self.assembler.request_id),
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        return [sse.event("message_start", {"type": "message_start", "message": message})]

    def start(self) -> list[bytes]:
        # message_start waits for the first chunk so it can carry the prompt's token count.
        return []

    def feed(self, chunk: JSON) -> list[bytes]:
        block_events = self.assembler.feed(events_from_chunk(chunk), first_grounding(chunk))
        self.usage = self.assembler.usage
        out = self._message_start()
        out.extend(sse.event(str(ev["type"]), ev) for ev in block_events)
        return out

    def finish(self) -> list[bytes]:
        out = self._message_start()
        out.extend(sse.event(str(ev["type"]), ev) for ev in self.assembler.finish())
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": self.assembler.stop_reason, "stop_sequence": self.assembler.stop_sequence},
            "usage": usage_json(self.assembler.usage, self.assembler.searches),
        }
        out.append(sse.event("message_delta", delta))
        out.append(sse.event("message_stop", {"type": "message_stop"}))
        return out

    def fail(self, err: GatewayError) -> list[bytes]:
        return [stream_error(err)]
