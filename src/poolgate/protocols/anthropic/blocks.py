"""BlockAssembler: hub events → Anthropic content-block events, shared by the stream and the JSON answer.

Blocks follow the upstream's part order. Thinking blocks appear only when the client asked for
thinking; Gemini signatures ride in their `signature` (see `signatures`). Stop sequences are matched
here rather than upstream, because Gemini strips the sequence and does not say which one ended the
answer; text that could still grow into a sequence is held back until it cannot.

A web search shows as Anthropic shows it — `server_tool_use` and `web_search_tool_result` blocks, and
`web_search_result_location` citations on the text — but after the text, not before it: Gemini says
what it searched for only with the answer's last chunk, when the text has already been streamed.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

import orjson

from poolgate.hub import grounding
from poolgate.hub.events import (
    SAFETY_REASONS,
    Finish,
    HubEvent,
    TextDelta,
    ThoughtDelta,
    ToolCall,
    Usage,
)
from poolgate.hub.types import JSON
from poolgate.protocols.anthropic import signatures

RecordCall = Callable[[str, str, dict[str, Any], str], None]
_TOOL_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


_CITED_TEXT_LIMIT = 150  # Anthropic's cited_text holds at most this many characters


def usage_json(usage: Usage | None, searches: int = 0) -> JSON:
    u = usage or Usage()
    out: JSON = {
        "input_tokens": max(0, u.prompt_tokens - u.cached_tokens),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": u.cached_tokens,
        "output_tokens": u.completion_tokens,
    }
    if searches:
        out["server_tool_use"] = {"web_search_requests": searches}
    return out


def _opaque(value: str) -> str:
    """Stands where Anthropic puts encrypted data; clients only carry it back, and poolgate ignores it then."""
    return base64.urlsafe_b64encode(value.encode()).decode()


def _start(index: int, block: JSON) -> JSON:
    return {"type": "content_block_start", "index": index, "content_block": block}


def _delta(index: int, delta: JSON) -> JSON:
    return {"type": "content_block_delta", "index": index, "delta": delta}


class BlockAssembler:
    def __init__(
        self,
        *,
        request_id: str,
        thinking: bool,
        stop_sequences: list[str] | None = None,
        record_call: RecordCall | None = None,
        web_search: bool = False,
    ) -> None:
        self.request_id = request_id
        self.web_search = web_search
        self.thinking = thinking
        self.stops = [s for s in stop_sequences or () if s]
        self.record_call = record_call
        self.index = -1
        self.open: str | None = None  # the type of the started, not yet stopped block
        self.open_signed = False
        self.in_text = False
        self.held = ""
        self.pending_signature: str | None = None
        self.stop_sequence: str | None = None
        self.reason: str | None = None
        self.tool_used = False
        self.usage: Usage | None = None
        self.done = False
        self._calls = 0
        self.grounding: JSON | None = None
        self.searches = 0  # web searches shown, for usage.server_tool_use
        self._answer: list[str] = []  # the candidate's text as Gemini counts it (grounding spans index it)
        self._shown = 0  # characters of it in text blocks so far
        self._block_start = 0  # where the open text block starts in it

    @property
    def stop_reason(self) -> str:
        if self.stop_sequence is not None:
            return "stop_sequence"
        if self.tool_used:
            return "tool_use"
        if self.reason == "MAX_TOKENS":
            return "max_tokens"
        if self.reason in SAFETY_REASONS:
            return "refusal"
        return "end_turn"

    def feed(self, events: list[HubEvent], grounding: JSON | None = None) -> list[JSON]:
        """`grounding`: the chunk's Google Search metadata (see hub.grounding.first_grounding), kept for finish()."""
        if grounding is not None and self.web_search:
            self.grounding = grounding
        out: list[JSON] = []
        for ev in events:
            if isinstance(ev, Usage):
                self.usage = ev
            elif ev.index != 0 or self.done:
                continue  # Anthropic answers have one candidate; after a stop sequence nothing more is shown
            elif isinstance(ev, ThoughtDelta):
                self._thought(ev, out)
            elif isinstance(ev, TextDelta):
                self._text(ev, out)
            elif isinstance(ev, ToolCall):
                self._tool(ev, out)
            elif isinstance(ev, Finish):
                self.reason = ev.reason
        return out

    def finish(self) -> list[JSON]:
        out: list[JSON] = []
        self._flush(out)
        if self.grounding is not None and self.open == "text":
            self._cite(self.grounding, out)
        self._close(out)
        if self.grounding is not None:
            self._searched(self.grounding, out)
        return out

    def _cite(self, meta: JSON, out: list[JSON]) -> None:
        """The open text block's citations; spans in blocks already closed cannot be announced any more."""
        text = "".join(self._answer)
        for c in grounding.citations(meta, text):
            if c.start < self._block_start or c.end > self._shown:
                continue
            citation: JSON = {
                "type": "web_search_result_location",
                "url": c.url,
                "title": c.title or None,
                "encrypted_index": _opaque(f"{c.url}#{c.start}-{c.end}"),
                "cited_text": text[c.start : c.end][:_CITED_TEXT_LIMIT],
            }
            out.append(_delta(self.index, {"type": "citations_delta", "citation": citation}))

    def _searched(self, meta: JSON, out: list[JSON]) -> None:
        """One server_tool_use + web_search_tool_result pair per query Gemini ran.

        Gemini does not say which query found which source, so the first result lists them all.
        """
        results: list[JSON] = [
            {
                "type": "web_search_result",
                "url": url,
                "title": title,
                "encrypted_content": _opaque(url),
                "page_age": None,
            }
            for url, title in grounding.sources(meta)
        ]
        queries = grounding.queries(meta) or ([""] if results else [])
        for n, query in enumerate(queries):
            tool_id = f"srvtoolu_{self.request_id[-16:]}{n + 1:02d}"
            self._begin({"type": "server_tool_use", "id": tool_id, "name": "web_search", "input": {}}, out)
            out.append(
                _delta(
                    self.index, {"type": "input_json_delta", "partial_json": orjson.dumps({"query": query}).decode()}
                )
            )
            self._close(out)
            content = results if n == 0 else []
            self._begin({"type": "web_search_tool_result", "tool_use_id": tool_id, "content": content}, out)
            self._close(out)
        self.searches = len(queries)

    def _begin(self, block: JSON, out: list[JSON]) -> None:
        self._close(out)
        self.index += 1
        self.open = str(block["type"])
        self.open_signed = False
        out.append(_start(self.index, block))

    def _flush(self, out: list[JSON]) -> None:
        if self.in_text:
            self.in_text = False
            held, self.held = self.held, ""
            self._emit_text(held, out)

    def _close(self, out: list[JSON]) -> None:
        self._flush(out)
        if self.open is not None:
            out.append({"type": "content_block_stop", "index": self.index})
            self.open = None

    def _sign(self, kind: signatures.Kind, signature: str, out: list[JSON]) -> None:
        out.append(_delta(self.index, {"type": "signature_delta", "signature": signatures.wrap(kind, signature)}))
        self.open_signed = True

    def _carry(self, signature: str, out: list[JSON]) -> None:
        """A signature that belongs to the next answer part rides on the thinking block before it."""
        if not self.thinking:
            return
        if self.in_text:
            self._close(out)
        if self.open != "thinking" or self.open_signed:
            self._begin({"type": "thinking", "thinking": "", "signature": ""}, out)
        self._sign(signatures.NEXT, signature, out)
        self._close(out)

    def _thought(self, ev: ThoughtDelta, out: list[JSON]) -> None:
        if not self.thinking:
            return
        if self.open != "thinking" or self.open_signed or self.in_text:
            self._begin({"type": "thinking", "thinking": "", "signature": ""}, out)
        if ev.text:
            out.append(_delta(self.index, {"type": "thinking_delta", "thinking": ev.text}))
        if ev.signature:
            self._sign(signatures.OWN, ev.signature, out)

    def _text(self, ev: TextDelta, out: list[JSON]) -> None:
        signature = ev.signature or None
        if not ev.text:
            # An empty signed part signs what comes next (Gemini ends some answers with one).
            if signature:
                self.pending_signature = signature
            return
        if signature is None and self.pending_signature is not None:
            signature, self.pending_signature = self.pending_signature, None
        if signature:
            self._carry(signature, out)
        if not self.in_text:
            self._close(out)
            self.in_text = True
        if self.web_search:
            self._answer.append(ev.text)
        self._scan(ev.text, out)

    def _emit_text(self, text: str, out: list[JSON]) -> None:
        if not text:
            return
        if self.open != "text":
            self.index += 1
            self.open = "text"
            self._block_start = self._shown
            out.append(_start(self.index, {"type": "text", "text": ""}))
        self._shown += len(text)
        out.append(_delta(self.index, {"type": "text_delta", "text": text}))

    def _scan(self, text: str, out: list[JSON]) -> None:
        if not self.stops:
            self._emit_text(text, out)
            return
        buffer = self.held + text
        hits = [(buffer.find(s), -len(s), s) for s in self.stops if s in buffer]
        if hits:
            at, _, sequence = min(hits)
            self.held = ""
            self._emit_text(buffer[:at], out)
            self.stop_sequence = sequence
            self.done = True
            self.in_text = False
            self._close(out)
            return
        keep = 0
        for s in self.stops:
            for n in range(min(len(s) - 1, len(buffer)), keep, -1):
                if buffer.endswith(s[:n]):
                    keep = n
                    break
        self.held = buffer[len(buffer) - keep :] if keep else ""
        self._emit_text(buffer[: len(buffer) - keep], out)

    def _tool_id(self, call_id: str | None) -> str:
        self._calls += 1
        if call_id and _TOOL_ID.match(call_id):
            return call_id
        return f"toolu_{self.request_id[-16:]}{self._calls:02d}"

    def _tool(self, ev: ToolCall, out: list[JSON]) -> None:
        signature = ev.signature or self.pending_signature
        self.pending_signature = None
        tool_id = self._tool_id(ev.call_id)
        if signature:
            if self.record_call is not None:
                self.record_call(tool_id, ev.name, ev.args, signature)
            self._carry(signature, out)
        self._begin({"type": "tool_use", "id": tool_id, "name": ev.name, "input": {}}, out)
        out.append(_delta(self.index, {"type": "input_json_delta", "partial_json": orjson.dumps(ev.args).decode()}))
        self._close(out)
        self.tool_used = True


def apply(content: list[JSON], event: JSON, partial: dict[int, str]) -> None:
    """Fold one block event into a message's content list (what a client-side accumulator does)."""
    kind = event["type"]
    index = event["index"]
    if kind == "content_block_start":
        content.append(dict(event["content_block"]))
        return
    block = content[index]
    if kind == "content_block_delta":
        delta = event["delta"]
        dtype = delta["type"]
        if dtype == "text_delta":
            block["text"] += delta["text"]
        elif dtype == "thinking_delta":
            block["thinking"] += delta["thinking"]
        elif dtype == "signature_delta":
            block["signature"] = delta["signature"]
        elif dtype == "input_json_delta":
            partial[index] = partial.get(index, "") + delta["partial_json"]
        elif dtype == "citations_delta":
            block.setdefault("citations", []).append(delta["citation"])
    elif kind == "content_block_stop" and index in partial:
        block["input"] = orjson.loads(partial.pop(index) or "{}")
