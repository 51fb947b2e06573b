"""ResponsesEncoder: hub chunks → the Responses API event stream (and, fed once, the final Response).

The grammar follows OpenAI's documented events only: `response.created`, `response.in_progress`,
per output item `response.output_item.added` … `response.output_item.done` with the content,
reasoning-summary and function-call-argument events in between, and exactly one terminal
`response.completed`, `response.incomplete` or `response.failed` (a failure is preceded by an
`error` event). Every event carries a `sequence_number`.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from poolgate.errors import ErrorKind, GatewayError
from poolgate.hub import grounding
from poolgate.hub.events import SAFETY_REASONS, Finish, TextDelta, ThoughtDelta, ToolCall, Usage, events_from_chunk
from poolgate.hub.grounding import citations, first_grounding
from poolgate.hub.types import JSON
from poolgate.protocols import openai_tools, sse
from poolgate.protocols.openai_chat.errors import error_object
from poolgate.protocols.openai_chat.response import candidate_logprobs
from poolgate.protocols.openai_responses.items import encode_signature
from poolgate.protocols.openai_responses.tools import split_name


def usage_json(usage: Usage | None) -> JSON:
    u = usage or Usage()
    return {
        "input_tokens": u.prompt_tokens,
        "input_tokens_details": {"cached_tokens": u.cached_tokens},
        "output_tokens": u.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": u.thought_tokens},
        "total_tokens": u.prompt_tokens + u.completion_tokens,
    }


def failure_code(err: GatewayError) -> str:
    """ResponseError.code is a closed enum; rate limits keep their code, everything else is a server error."""
    if err.kind in (ErrorKind.ALL_COOLING, ErrorKind.UPSTREAM_RATE_LIMITED):
        return "rate_limit_exceeded"
    return "server_error"


class ResponsesEncoder:
    keepalive = sse.COMMENT_KEEPALIVE
    media_type = "text/event-stream"

    def __init__(
        self,
        *,
        response_id: str,
        skeleton: JSON,
        namespaces: set[str] | None = None,
        customs: set[str] | None = None,
        search_sources: bool = False,
        logprobs: bool = False,
    ) -> None:
        """`search_sources`, `logprobs`: the request's `include` asked for `web_search_call.action.sources`,
        for `message.output_text.logprobs`."""
        self.usage: Usage | None = None
        self.response: JSON = {**skeleton, "id": response_id, "object": "response", "status": "in_progress"}
        self.response.update({"error": None, "incomplete_details": None, "output": [], "usage": None})
        self._id = response_id.removeprefix("resp_")
        self._namespaces = namespaces or set()
        self._customs = customs or set()
        self._seq = 0
        self._items = 0
        self._calls = 0
        self._open: JSON | None = None
        # The open item's text so far, joined into the item only when something reads it: appending each
        # delta to the item's string copied the whole text per chunk (0.6 s of event loop for 1 MB).
        self._pieces: list[str] = []
        self._reason = "STOP"
        self._grounding: JSON | None = None
        self._search_sources = search_sources
        self._logprobs = logprobs
        self.finished = False

    # -- framing -------------------------------------------------------------------------------
    def _event(self, kind: str, **fields: Any) -> bytes:
        body = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return sse.event(kind, body)

    def _item_event(self, kind: str, item: JSON, index: int, **fields: Any) -> bytes:
        """An event about one output item: its id and output index come first, as OpenAI orders them."""
        return self._event(kind, item_id=item["id"], output_index=index, **fields)

    def _snapshot(self) -> JSON:
        return orjson.loads(orjson.dumps(self.response))  # type: ignore[no-any-return]

    def _new_id(self, prefix: str) -> str:
        self._items += 1
        return f"{prefix}_{self._id}{self._items:03d}"

    @property
    def _index(self) -> int:
        return len(self.response["output"]) - 1

    # -- items ---------------------------------------------------------------------------------
    def _settle(self) -> None:
        """Join the open item's pending text into it (message text or reasoning summary)."""
        item = self._open
        if not self._pieces or item is None:
            return
        part = item["summary"][0] if item["type"] == "reasoning" else item["content"][0]
        part["text"] += "".join(self._pieces)
        self._pieces.clear()

    def _add(self, item: JSON, out: list[bytes]) -> None:
        self._settle()
        self.response["output"].append(item)
        out.append(self._event("response.output_item.added", output_index=self._index, item=dict(item, **_empty(item))))

    def _open_reasoning(self, out: list[bytes]) -> JSON:
        item: JSON = {"id": self._new_id("rs"), "type": "reasoning", "summary": [], "status": "in_progress"}
        self._add(item, out)
        self._open = item
        return item

    def _open_message(self, out: list[bytes]) -> JSON:
        item: JSON = {
            "id": self._new_id("msg"),
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        self._add(item, out)
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        item["content"].append(part)
        out.append(self._item_event("response.content_part.added", item, self._index, content_index=0, part=part))
        self._open = item
        return item

    def _reasoning_delta(self, item: JSON, text: str, out: list[bytes]) -> None:
        if not item["summary"]:
            item["summary"].append({"type": "summary_text", "text": ""})
            out.append(
                self._item_event(
                    "response.reasoning_summary_part.added",
                    item,
                    self._index,
                    summary_index=0,
                    part={"type": "summary_text", "text": ""},
                )
            )
        self._pieces.append(text)
        out.append(
            self._item_event(
                "response.reasoning_summary_text.delta",
                item,
                self._index,
                summary_index=0,
                delta=text,
            )
        )

    def _close(self, out: list[bytes], status: str = "completed") -> None:
        self._settle()
        item = self._open
        if item is None:
            return
        self._open = None
        index = self._index
        if item["type"] == "reasoning":
            if item["summary"]:
                text = item["summary"][0]["text"]
                out.append(
                    self._item_event(
                        "response.reasoning_summary_text.done",
                        item,
                        index,
                        summary_index=0,
                        text=text,
                    )
                )
                out.append(
                    self._item_event(
                        "response.reasoning_summary_part.done",
                        item,
                        index,
                        summary_index=0,
                        part={"type": "summary_text", "text": text},
                    )
                )
        elif item["type"] == "message":
            part = item["content"][0]
            out.append(
                self._item_event(
                    "response.output_text.done",
                    item,
                    index,
                    content_index=0,
                    text=part["text"],
                    logprobs=part["logprobs"],
                )
            )
            out.append(self._item_event("response.content_part.done", item, index, content_index=0, part=part))
        item["status"] = status
        out.append(self._event("response.output_item.done", output_index=index, item=item))

    def _sign(self, signature: str | None, out: list[bytes]) -> None:
        """Carry a thought signature in a reasoning item placed before the part it belongs to."""
        if not signature:
            return
        if self._open is None or self._open["type"] != "reasoning":
            self._close(out)
            self._open_reasoning(out)
        assert self._open is not None
        self._open["encrypted_content"] = encode_signature(signature)
        self._close(out)

    def _call(self, ev: ToolCall, out: list[bytes]) -> None:
        self._sign(ev.signature, out)
        self._close(out)
        call_id = ev.call_id or f"call_{self._id}{self._calls:03d}"
        self._calls += 1
        if ev.name in self._customs:
            self._custom_call(ev, call_id, out)
            return
        name, namespace = split_name(ev.name, self._namespaces)
        arguments = orjson.dumps(ev.args).decode()
        item: JSON = {
            "id": self._new_id("fc"),
            "type": "function_call",
            "status": "in_progress",
            "call_id": call_id,
            "name": name,
            "arguments": "",
        }
        if namespace:
            item["namespace"] = namespace
        self._add(item, out)
        index = self._index
        out.append(self._item_event("response.function_call_arguments.delta", item, index, delta=arguments))
        item["arguments"] = arguments
        out.append(self._item_event("response.function_call_arguments.done", item, index, arguments=arguments))
        item["status"] = "completed"
        out.append(self._event("response.output_item.done", output_index=index, item=item))

    def _custom_call(self, ev: ToolCall, call_id: str, out: list[bytes]) -> None:
        """A call of a custom tool: its one string argument is the item's `input`."""
        text = openai_tools.custom_input(ev.args)
        item: JSON = {
            "id": self._new_id("ctc"),
            "type": "custom_tool_call",
            "call_id": call_id,
            "name": ev.name,
            "input": text,
        }
        self._add(item, out)
        index = self._index
        out.append(self._item_event("response.custom_tool_call_input.delta", item, index, delta=text))
        out.append(self._item_event("response.custom_tool_call_input.done", item, index, input=text))
        out.append(self._event("response.output_item.done", output_index=index, item=item))

    # -- StreamEncoder -------------------------------------------------------------------------
    def start(self) -> list[bytes]:
        return [
            self._event("response.created", response=self._snapshot()),
            self._event("response.in_progress", response=self._snapshot()),
        ]

    def feed(self, chunk: JSON) -> list[bytes]:
        out: list[bytes] = []
        if (chunk.get("promptFeedback") or {}).get("blockReason"):
            # A blocked prompt has no candidates; it still must not look like an empty success.
            self._reason = "PROHIBITED_CONTENT"
        probs = candidate_logprobs(chunk).get(0) if self._logprobs else None
        for ev in events_from_chunk(chunk):
            if isinstance(ev, ThoughtDelta) and ev.index == 0:
                item = self._open if self._open is not None and self._open["type"] == "reasoning" else None
                if item is None:
                    self._close(out)
                    item = self._open_reasoning(out)
                if ev.text:
                    self._reasoning_delta(item, ev.text, out)
                if ev.signature:
                    item["encrypted_content"] = encode_signature(ev.signature)
            elif isinstance(ev, TextDelta) and ev.index == 0:
                message = self._open if self._open is not None and self._open["type"] == "message" else None
                if message is None:
                    # A signature on the first answer text belongs before it; a later one is optional to Gemini.
                    self._sign(ev.signature, out)
                    if not ev.text:
                        continue
                    self._close(out)
                    message = self._open_message(out)
                if ev.text:
                    self._pieces.append(ev.text)
                    # A chunk's log-probabilities cover all its text: they go with its first delta.
                    tokens: list[JSON] = probs["content"] if probs else []
                    probs = None
                    if tokens:
                        message["content"][0]["logprobs"].extend(tokens)
                    out.append(
                        self._item_event(
                            "response.output_text.delta",
                            message,
                            self._index,
                            content_index=0,
                            delta=ev.text,
                            logprobs=tokens,
                        )
                    )
            elif isinstance(ev, ToolCall) and ev.index == 0:
                self._call(ev, out)
            elif isinstance(ev, Finish) and ev.index == 0:
                self._reason = ev.reason
            elif isinstance(ev, Usage):
                self.usage = ev
        meta = first_grounding(chunk)
        if meta is not None:
            self._grounding = meta
            self._annotate(meta, out)
        return out

    def _annotate(self, meta: JSON, out: list[bytes]) -> None:
        """Google Search grounding as url_citation annotations on the message text each span falls in.

        The spans count over all of the answer's text; an answer split by a function call has several
        message items. Only the open one can still announce them; a closed one gets them in the final
        Response. Grounding sent again adds nothing twice.
        """
        self._settle()
        open_id = self._open["id"] if self._open is not None else None
        messages = [(i, item) for i, item in enumerate(self.response["output"]) if item["type"] == "message"]
        texts = [item["content"][0]["text"] for _, item in messages]
        starts = [sum(len(t) for t in texts[:k]) for k in range(len(texts))]
        for cite in citations(meta, "".join(texts)):
            for (index, item), base, text in zip(messages, starts, texts, strict=True):
                if not base <= cite.start < base + len(text):
                    continue
                part = item["content"][0]
                note = {
                    "type": "url_citation",
                    "start_index": cite.start - base,
                    "end_index": min(cite.end - base, len(text)),
                    "url": cite.url,
                    "title": cite.title,
                }
                if note not in part["annotations"]:
                    part["annotations"].append(note)
                    if item["id"] == open_id:
                        out.append(
                            self._item_event(
                                "response.output_text.annotation.added",
                                item,
                                index,
                                content_index=0,
                                annotation_index=len(part["annotations"]) - 1,
                                annotation=note,
                            )
                        )
                break

    def _searched(self, meta: JSON, out: list[bytes]) -> None:
        """The search Gemini ran, as one completed web_search_call item (`queries` lists them all).

        It follows the answer rather than preceding it: Gemini reports the search with its last chunk.
        """
        queries = grounding.queries(meta)
        if not queries:
            return
        action: JSON = {"type": "search", "query": queries[0], "queries": queries}
        if self._search_sources:
            action["sources"] = [{"type": "url", "url": url} for url, _ in grounding.sources(meta)]
        item: JSON = {"id": self._new_id("ws"), "type": "web_search_call", "status": "in_progress", "action": action}
        self._add(item, out)
        index = self._index
        for phase in ("in_progress", "searching", "completed"):
            out.append(self._item_event(f"response.web_search_call.{phase}", item, index))
        item["status"] = "completed"
        out.append(self._event("response.output_item.done", output_index=index, item=item))

    def finish(self) -> list[bytes]:
        out: list[bytes] = []
        incomplete: str | None = None
        if self._reason == "MAX_TOKENS":
            incomplete = "max_output_tokens"
        elif self._reason in SAFETY_REASONS:
            incomplete = "content_filter"
        self._close(out, "incomplete" if incomplete else "completed")
        if self._grounding is not None:
            self._searched(self._grounding, out)
        self.response["usage"] = usage_json(self.usage)
        self.response["completed_at"] = int(time.time())
        self.finished = True
        if incomplete:
            self.response["status"] = "incomplete"
            self.response["incomplete_details"] = {"reason": incomplete}
            out.append(self._event("response.incomplete", response=self._snapshot()))
        else:
            self.response["status"] = "completed"
            out.append(self._event("response.completed", response=self._snapshot()))
        return out

    def fail(self, err: GatewayError) -> list[bytes]:
        detail = error_object(err)
        code = failure_code(err)
        self._settle()
        if self._open is not None:
            self._open["status"] = "incomplete"
            self._open = None
        self.response["status"] = "failed"
        self.response["error"] = {"code": code, "message": err.message}
        self.response["usage"] = usage_json(self.usage)
        self.finished = True
        return [
            self._event("error", code=detail.get("code") or code, message=err.message, param=detail.get("param")),
            self._event("response.failed", response=self._snapshot()),
        ]


def _empty(item: JSON) -> JSON:
    """The in-progress view of an item in its `output_item.added` event."""
    if item["type"] == "message":
        return {"content": []}
    if item["type"] == "reasoning":
        return {"summary": []}
    if item["type"] == "function_call":
        return {"arguments": ""}
    if item["type"] == "custom_tool_call":
        return {"input": ""}
    return {}
