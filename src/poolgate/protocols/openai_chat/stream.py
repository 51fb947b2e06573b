"""ChatEncoder: hub chunks → chat.completion.chunk SSE items (a state machine, no I/O).

Every choice opens with a role chunk; text and thoughts stream as `content` / `reasoning_content`
deltas; each function call gets its own `index` within its choice (so parallel calls of the same
function stay apart), first announced with id and name, then its arguments as a delta. The finish
chunk carries `tool_calls` when any call was made; usage comes last when `include_usage` is set.
"""

from __future__ import annotations

from typing import Any

from poolgate.errors import GatewayError
from poolgate.hub.events import Finish, InlineData, TextDelta, ThoughtDelta, ToolCall, Usage, events_from_chunk
from poolgate.hub.types import JSON
from poolgate.protocols import openai_tools, sse
from poolgate.protocols.openai_chat.errors import stream_error
from poolgate.protocols.openai_chat.response import (
    arguments,
    blocked,
    candidate_grounding,
    candidate_logprobs,
    finish_reason,
    image_markdown,
    tool_call_id,
    url_citations,
    usage_json,
)


class ChatEncoder:
    keepalive = sse.COMMENT_KEEPALIVE
    media_type = "text/event-stream"

    def __init__(
        self,
        *,
        request_id: str,
        model: str,
        created: int,
        include_usage: bool,
        n: int = 1,
        logprobs: bool = False,
        legacy_functions: bool = False,
        web_search: bool = False,
        customs: frozenset[str] = frozenset(),
    ) -> None:
        self.legacy_functions = legacy_functions
        self.customs = customs
        # With web search the text is kept: grounding arrives at the end and its spans cover all of it.
        self.web_search = web_search
        self._text: dict[int, list[str]] = {}
        self._cited: dict[int, int] = {}
        self.request_id = request_id
        self.include_usage = include_usage
        self.n = n
        self.logprobs = logprobs
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
        self._blocked = False

    def _chunk(self, index: int, delta: JSON, finish: str | None = None, logprobs: JSON | None = None) -> bytes:
        choice: JSON = {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
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
        probs = candidate_logprobs(chunk) if self.logprobs else {}
        self._blocked = self._blocked or blocked(chunk)
        for ev in events_from_chunk(chunk):
            if isinstance(ev, TextDelta | InlineData):
                text = ev.text if isinstance(ev, TextDelta) else image_markdown(ev)
                if text:
                    self._open(ev.index, out)
                    out.append(self._chunk(ev.index, {"content": text}, logprobs=probs.pop(ev.index, None)))
                    if self.web_search:
                        self._text.setdefault(ev.index, []).append(text)
            elif isinstance(ev, ThoughtDelta):
                if ev.text:
                    self._open(ev.index, out)
                    out.append(self._chunk(ev.index, {"reasoning_content": ev.text}))
            elif isinstance(ev, ToolCall):
                self._tool_call(ev, out)
            elif isinstance(ev, Finish):
                self._reasons[ev.index] = ev.reason
            elif isinstance(ev, Usage):
                self.usage = ev
        if self.web_search:
            self._annotate(chunk, out)
        return out

    def _annotate(self, chunk: JSON, out: list[bytes]) -> None:
        """Citations as an `annotations` delta once grounding arrives; only new ones if it comes again."""
        for index, meta in candidate_grounding(chunk).items():
            notes = url_citations(meta, "".join(self._text.get(index, ())))
            sent = self._cited.get(index, 0)
            if len(notes) > sent:
                self._cited[index] = len(notes)
                self._open(index, out)
                out.append(self._chunk(index, {"annotations": notes[sent:]}))

    def _tool_call(self, ev: ToolCall, out: list[bytes]) -> None:
        self._open(ev.index, out)
        position = self._tool_index.get(ev.index, 0)
        if self.legacy_functions:
            # The deprecated `functions` API carries one call per choice; later ones are dropped.
            if position == 0:
                self._tool_index[ev.index] = 1
                out.append(self._chunk(ev.index, {"function_call": {"name": ev.name, "arguments": ""}}))
                out.append(self._chunk(ev.index, {"function_call": {"arguments": arguments(ev.args)}}))
            return
        self._tool_index[ev.index] = position + 1
        call_id = tool_call_id(self.request_id, self._calls, ev.call_id)
        self._calls += 1
        # Announced with id and name, then the input (a custom tool's text, or a function's JSON arguments).
        if ev.name in self.customs:
            head: JSON = {"index": position, "id": call_id, "type": "custom", "custom": {"name": ev.name, "input": ""}}
            rest: JSON = {"index": position, "custom": {"input": openai_tools.custom_input(ev.args)}}
        else:
            head = {
                "index": position,
                "id": call_id,
                "type": "function",
                "function": {"name": ev.name, "arguments": ""},
            }
            rest = {"index": position, "function": {"arguments": arguments(ev.args)}}
        out.append(self._chunk(ev.index, {"tool_calls": [head]}))
        out.append(self._chunk(ev.index, {"tool_calls": [rest]}))

    def finish(self) -> list[bytes]:
        out: list[bytes] = []
        indices = sorted(self._started | set(self._reasons) | set(range(self.n)))
        default = "SAFETY" if self._blocked else "STOP"
        for index in indices:
            self._open(index, out)
            reason = finish_reason(self._reasons.get(index, default), index in self._tool_index)
            if reason == "tool_calls" and self.legacy_functions:
                reason = "function_call"
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
