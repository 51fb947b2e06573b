"""Legacy OpenAI completions (`prompt`), built from the chat pieces.

A request may hold several prompts: each becomes its own generateContent request, and the answers
come back as one (`hub.candidates.merged`), prompt i's choices at indices i*n … i*n+n-1, as OpenAI
numbers them. `best_of` asks Gemini for that many candidates and keeps the `n` most likely.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from poolgate.errors import GatewayError, invalid
from poolgate.hub import candidates
from poolgate.hub.events import Finish, TextDelta, Usage, events_from_chunk
from poolgate.hub.types import JSON, Content, GenerateContentRequest
from poolgate.protocols import fields, sse
from poolgate.protocols.openai_chat.errors import stream_error
from poolgate.protocols.openai_chat.options import MAX_CANDIDATES
from poolgate.protocols.openai_chat.request import generation_config
from poolgate.protocols.openai_chat.response import finish_reason, token_logprob, usage_json

# Each prompt is an upstream call made at once with the others; this bounds one request's share of the pool.
MAX_PROMPTS: Final = 32
MAX_LOGPROBS: Final = 5  # OpenAI's own limit for the legacy endpoint


@dataclass(slots=True)
class CompletionRequest:
    model: str
    prompts: list[str]
    hubs: list[GenerateContentRequest]  # one per prompt
    stream: bool = False
    include_usage: bool = False
    n: int = 1  # choices returned per prompt
    best_of: int = 1  # candidates generated per prompt (at least n)
    echo: bool = False
    logprobs: int | None = None  # None: not asked; else alternatives per token

    def echoed(self) -> list[str] | None:
        return self.prompts if self.echo else None

    @property
    def choices(self) -> int:
        return len(self.prompts) * self.n


def to_hub(body: dict[str, Any]) -> CompletionRequest:
    model = fields.req_str(body, "model")
    prompts = _prompts(body.get("prompt"))
    stream = bool(fields.opt_bool(body, "stream"))
    config = generation_config(body)
    n = int(config.get("candidateCount", 1))
    best_of = fields.opt_int(body, "best_of", lo=1) or n
    if best_of < n:
        raise invalid("'best_of' must be at least 'n'.", "best_of")
    if best_of > n:
        if best_of > MAX_CANDIDATES:
            raise invalid(f"'best_of' must be at most {MAX_CANDIDATES}.", "best_of")
        if stream:
            raise invalid(
                "'best_of' cannot be used with 'stream': the best completions are known only at the end.", "best_of"
            )
        config["candidateCount"] = best_of
    logprobs = fields.opt_int(body, "logprobs", lo=0)
    if logprobs is not None:
        if logprobs > MAX_LOGPROBS:
            raise invalid(f"'logprobs' must be at most {MAX_LOGPROBS}.", "logprobs")
        config["responseLogprobs"] = True
        if logprobs:
            config["logprobs"] = logprobs
    echo = bool(fields.opt_bool(body, "echo"))
    if echo and logprobs is not None:
        raise invalid(
            "'echo' with 'logprobs' asks for the prompt's log-probabilities, which Gemini does not return; "
            "send one of the two.",
            "echo",
        )
    suffix = fields.opt_str(body, "suffix")
    system: Content | None = None
    if suffix:
        system = {"parts": [{"text": f"Continue the text so that it ends before: {suffix}"}]}
    hubs: list[GenerateContentRequest] = []
    for prompt in prompts:
        hub: GenerateContentRequest = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
        if system is not None:
            hub["systemInstruction"] = system
        if config:
            hub["generationConfig"] = dict(config)
        hubs.append(hub)
    options = fields.opt_dict(body, "stream_options") or {}
    return CompletionRequest(
        model=model,
        prompts=prompts,
        hubs=hubs,
        stream=stream,
        include_usage=bool(options.get("include_usage")),
        n=n,
        best_of=best_of,
        echo=echo,
        logprobs=logprobs,
    )


def _prompts(prompt: object) -> list[str]:
    if isinstance(prompt, str):
        return [prompt]
    if prompt is None:
        raise invalid("'prompt' is required: a string or an array of strings.", "prompt")
    if not isinstance(prompt, list):
        raise invalid("'prompt' must be a string or an array of strings.", "prompt")
    if not prompt:
        raise invalid("'prompt' must not be an empty array.", "prompt")
    if all(isinstance(p, str) for p in prompt):
        if len(prompt) > MAX_PROMPTS:
            raise invalid(f"'prompt' may hold at most {MAX_PROMPTS} prompts in one request.", "prompt")
        return list(prompt)
    if all(isinstance(p, (int, list)) for p in prompt):
        raise invalid(
            "'prompt' holds token ids, which only OpenAI's own tokenizer can read; send the text instead.", "prompt"
        )
    raise invalid("'prompt' must be a string or an array of strings.", "prompt")


def from_hub(
    answer: JSON,
    *,
    request_id: str,
    model: str,
    created: int,
    echo: list[str] | None = None,
    per_prompt: int = 1,
    choices: int = 1,
    logprobs: bool = False,
) -> tuple[JSON, Usage | None]:
    """The Completion object, with at least `choices` choices. `echo` holds the prompts when they are sent
    back before each choice's text."""
    texts: dict[int, list[str]] = {}
    reasons: dict[int, str] = {}
    usage: Usage | None = None
    answer = candidates.answered(answer, per_prompt)  # a blocked prompt: each choice says so
    for ev in events_from_chunk(answer):
        if isinstance(ev, TextDelta):
            texts.setdefault(ev.index, []).append(ev.text)
        elif isinstance(ev, Finish):
            reasons[ev.index] = ev.reason
        elif isinstance(ev, Usage):
            usage = ev
    probs = _candidate_logprobs(answer, {}) if logprobs else {}
    indices = sorted(set(texts) | set(reasons) | set(range(choices)))
    body: JSON = {
        "id": f"cmpl-{request_id}",
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": i,
                "text": _prompt_of(echo, i, per_prompt) + "".join(texts.get(i, [])),
                "logprobs": probs.get(i, _EMPTY_LOGPROBS) if logprobs else None,
                "finish_reason": finish_reason(reasons.get(i, "STOP"), False),
            }
            for i in indices
        ],
        "usage": usage_json(usage),
    }
    return body, usage


def _prompt_of(echo: list[str] | None, index: int, per_prompt: int) -> str:
    if not echo:
        return ""
    prompt = index // max(1, per_prompt)
    return echo[prompt] if prompt < len(echo) else ""


_EMPTY_LOGPROBS: Final[JSON] = {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}


def _candidate_logprobs(answer: JSON, offsets: dict[int, int]) -> dict[int, JSON]:
    """Each candidate's logprobsResult in the legacy shape; `offsets` carries text offsets across stream chunks."""
    found: dict[int, JSON] = {}
    for cand in answer.get("candidates") or ():
        if not isinstance(cand, dict) or not isinstance(cand.get("logprobsResult"), dict):
            continue
        index = int(cand.get("index") or 0)
        result = cand["logprobsResult"]
        tops = result.get("topCandidates") or []
        out: JSON = {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}
        offset = offsets.get(index, 0)
        for i, entry in enumerate(result.get("chosenCandidates") or ()):
            token, logprob = token_logprob(entry)
            out["tokens"].append(token)
            out["token_logprobs"].append(logprob)
            out["text_offset"].append(offset)
            offset += len(token)
            top = tops[i] if i < len(tops) and isinstance(tops[i], dict) else {}
            out["top_logprobs"].append(dict(token_logprob(alt) for alt in top.get("candidates") or ()))
        offsets[index] = offset
        found[index] = out
    return found


class CompletionEncoder:
    keepalive = sse.COMMENT_KEEPALIVE
    media_type = "text/event-stream"

    def __init__(
        self,
        *,
        request_id: str,
        model: str,
        created: int,
        include_usage: bool,
        echo: list[str] | None = None,
        per_prompt: int = 1,
        choices: int = 1,
        logprobs: bool = False,
    ) -> None:
        self.include_usage = include_usage
        self._choices = choices
        self.usage: Usage | None = None
        self._base: JSON = {
            "id": f"cmpl-{request_id}",
            "object": "text_completion",
            "created": created,
            "model": model,
        }
        self._echo = echo
        self._per_prompt = per_prompt
        self._logprobs = logprobs
        self._offsets: dict[int, int] = {}
        self._reasons: dict[int, str] = {}
        self._seen: set[int] = set()

    def _chunk(self, index: int, text: str, finish: str | None, logprobs: JSON | None = None) -> bytes:
        body = dict(self._base)
        body["choices"] = [{"index": index, "text": text, "logprobs": logprobs, "finish_reason": finish}]
        return sse.data(body)

    def start(self) -> list[bytes]:
        if not self._echo:
            return []
        out: list[bytes] = []
        for index in range(self._choices):
            self._seen.add(index)
            out.append(self._chunk(index, _prompt_of(self._echo, index, self._per_prompt), None))
        return out

    def feed(self, chunk: JSON) -> list[bytes]:
        out: list[bytes] = []
        chunk = candidates.answered(chunk, self._per_prompt)  # a blocked prompt: each choice says so
        probs = _candidate_logprobs(chunk, self._offsets) if self._logprobs else {}
        for ev in events_from_chunk(chunk):
            if isinstance(ev, TextDelta) and ev.text:
                self._seen.add(ev.index)
                out.append(self._chunk(ev.index, ev.text, None, probs.pop(ev.index, None)))
            elif isinstance(ev, Finish):
                self._reasons[ev.index] = ev.reason
            elif isinstance(ev, Usage):
                self.usage = ev
        return out

    def finish(self) -> list[bytes]:
        out = [
            self._chunk(i, "", finish_reason(self._reasons.get(i, "STOP"), False))
            for i in sorted(self._seen | set(self._reasons) | set(range(self._choices)))
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


def best_choices(answer: JSON, request: CompletionRequest) -> JSON:
    """With `best_of`, the answer cut down to each prompt's `n` most likely candidates."""
    if request.best_of <= request.n:
        return answer
    return candidates.best(answer, request.n, per=request.best_of)
