"""Legacy OpenAI completions (`prompt`), built from the chat pieces."""

from __future__ import annotations

from typing import Any

from poolgate.errors import GatewayError, invalid
from poolgate.hub.events import Finish, TextDelta, Usage, events_from_chunk
from poolgate.hub.types import JSON, GenerateContentRequest
from poolgate.protocols import fields, sse
from poolgate.protocols.openai_chat.errors import stream_error
from poolgate.protocols.openai_chat.request import ChatRequest, generation_config
from poolgate.protocols.openai_chat.response import finish_reason, usage_json


def to_hub(body: dict[str, Any]) -> ChatRequest:
    model = fields.req_str(body, "model")
    prompt = body.get("prompt")
    if isinstance(prompt, list) and all(isinstance(p, str) for p in prompt):
        if len(prompt) != 1:
            raise invalid("'prompt' arrays must hold exactly one string here.", "prompt")
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise invalid("'prompt' must be a string.", "prompt")
    hub: GenerateContentRequest = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
    suffix = fields.opt_str(body, "suffix")
    if suffix:
        hub["systemInstruction"] = {"parts": [{"text": f"Continue the text so that it ends before: {suffix}"}]}
    config = generation_config(body)
    if config:
        hub["generationConfig"] = config
    options = fields.opt_dict(body, "stream_options") or {}
    return ChatRequest(
        model=model,
        hub=hub,
        stream=bool(fields.opt_bool(body, "stream")),
        include_usage=bool(options.get("include_usage")),
        n=int(config.get("candidateCount", 1)),
    )


def from_hub(answer: JSON, *, request_id: str, model: str, created: int) -> tuple[JSON, Usage | None]:
    texts: dict[int, list[str]] = {}
    reasons: dict[int, str] = {}
    usage: Usage | None = None
    for ev in events_from_chunk(answer):
        if isinstance(ev, TextDelta):
            texts.setdefault(ev.index, []).append(ev.text)
        elif isinstance(ev, Finish):
            reasons[ev.index] = ev.reason
        elif isinstance(ev, Usage):
            usage = ev
    indices = sorted(set(texts) | set(reasons)) or [0]
    body: JSON = {
        "id": f"cmpl-{request_id}",
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": i,
                "text": "".join(texts.get(i, [])),
                "logprobs": None,
                "finish_reason": finish_reason(reasons.get(i, "STOP"), False),
            }
            for i in indices
        ],
        "usage": usage_json(usage),
    }
    return body, usage


class CompletionEncoder:
    keepalive = sse.COMMENT_KEEPALIVE
    media_type = "text/event-stream"

    def __init__(self, *, request_id: str, model: str, created: int, include_usage: bool) -> None:
        self.include_usage = include_usage
        self.usage: Usage | None = None
        self._base: JSON = {
            "id": f"cmpl-{request_id}",
            "object": "text_completion",
            "created": created,
            "model": model,
        }
        self._reasons: dict[int, str] = {}
        self._seen: set[int] = set()

    def _chunk(self, index: int, text: str, finish: str | None) -> bytes:
        body = dict(self._base)
        body["choices"] = [{"index": index, "text": text, "logprobs": None, "finish_reason": finish}]
        return sse.data(body)

    def start(self) -> list[bytes]:
        return []

    def feed(self, chunk: JSON) -> list[bytes]:
        out: list[bytes] = []
        for ev in events_from_chunk(chunk):
            if isinstance(ev, TextDelta) and ev.text:
                self._seen.add(ev.index)
                out.append(self._chunk(ev.index, ev.text, None))
            elif isinstance(ev, Finish):
                self._reasons[ev.index] = ev.reason
            elif isinstance(ev, Usage):
                self.usage = ev
        return out

    def finish(self) -> list[bytes]:
        out = [
            self._chunk(i, "", finish_reason(self._reasons.get(i, "STOP"), False))
            for i in sorted(self._seen | set(self._reasons)) or [0]
        ]
        if self.include_usage:
            body = dict(self._base)
            body["choices"] = []
            body["usage"] = usage_json(self.usage)
            out.append(sse.data(body))
        out.append(sse.DONE)
        return out

    def fail(self, err: GatewayError) -> list[bytes]:
        return [stream_error(err)]
