"""ChatEncoder: hub chunks → chat.completion.chunk SSE items (a state machine, no I/O)."""

from __future__ import annotations

from typing import Any

import orjson

from poolgate.errors import GatewayError
from poolgate.hub.events import Finish, TextDelta, ThoughtDelta, ToolCall, Usage, events_from_chunk
from poolgate.hub.types import JSON
from poolgate.protocols import sse
from poolgate.protocols.openai_chat.errors import stream_error
from poolgate.protocols.openai_chat.response import finish_reason, tool_call_id, usage_json


class ChatEncoder:
    keepalive = sse.COMMENT_KEEPALIVE
    media_type = "text/event-stream"

    def __init__(self, *, request_id: str, model: str, created: int, include_usage: bool) -> None:
        self.request_id = request_id
        self.include_usage = include_usage
        self.usage: Usage | None = None
        self._base: dict[str, Any] = {
            "id": f"chatcmpl-{request_id}",
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
        }
        self._started: set[int] = set()
        self._tool_index: dict[int, int] = {}
        self._reasons: dict[int, str] = {}
        self._calls = 0

    def _chunk(self, index: int, delta: JSON, finish: str | None = None) -> bytes:
        choice: JSON = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        body = dict(self._base)
        body["choices"] = [choice]
        if self.include_usage:
            body["usage"] = None
        return sse.data(body)

    def _open(self, index: int, out: list[bytes]) -> None:
        if index not in self._started:
            self._started.add(index)
            out.append(self._chunk(index, {"role": "assistant", "content": ""}))

    def start(self) -> list[bytes]:
        return []

    def feed(self, chunk: JSON) -> list[bytes]:
        out: list[bytes] = []
        for ev in events_from_chunk(chunk):
            if isinstance(ev, TextDelta):
                if ev.text:
                    self._open(ev.index, out)
                    out.append(self._chunk(ev.index, {"content": ev.text}))
            elif isinstance(ev, ThoughtDelta):
                if ev.text:
                    self._open(ev.index, out)
                    out.append(self._chunk(ev.index, {"reasoning_content": ev.text}))
            elif isinstance(ev, ToolCall):
                self._open(ev.index, out)
                position = self._tool_index.get(ev.index, 0)
                self._tool_index[ev.index] = position + 1
                call = {
                    "index": position,
                    "id": tool_call_id(self.request_id, self._calls, ev.call_id),
                    "type": "function",
                    "function": {"name": ev.name, "arguments": orjson.dumps(ev.args).decode()},
                }
                self._calls += 1
                out.append(self._chunk(ev.index, {"tool_calls": [call]}))
            elif isinstance(ev, Finish):
                self._reasons[ev.index] = ev.reason
            elif isinstance(ev, Usage):
                self.usage = ev
        return out

    def finish(self) -> list[bytes]:
        out: list[bytes] = []
        indices = sorted(self._started | set(self._reasons)) or [0]
        for index in indices:
            self._open(index, out)
            reason = finish_reason(self._reasons.get(index, "STOP"), index in self._tool_index)
            out.append(self._chunk(index, {}, reason))
        if self.include_usage:
            body = dict(self._base)
            body["choices"] = []
            body["usage"] = usage_json(self.usage)
            out.append(sse.data(body))
        out.append(sse.DONE)
        return out

    def fail(self, err: GatewayError) -> list[bytes]:
        return [stream_error(err)]
