"""Responses request → hub request, plus what the Response object echoes back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from poolgate.errors import invalid
from poolgate.hub.types import JSON, MAX_OUTPUT_TOKENS, Content, GenerateContentRequest
from poolgate.protocols import fields
from poolgate.protocols.openai_chat.content import MediaRefs
from poolgate.protocols.openai_chat.options import ACCEPTED_EFFORTS, MAX_TOP_LOGPROBS, thinking_config
from poolgate.protocols.openai_responses.items import to_contents
from poolgate.protocols.openai_responses.tools import convert_tools
from poolgate.protocols.schema import sanitize_schema

LOGPROBS_INCLUDE: Final = "message.output_text.logprobs"
SOURCES_INCLUDE: Final = "web_search_call.action.sources"

# State kept at OpenAI that a request can only name: served silently, the model would answer without it.
_OPENAI_HELD: Final = (
    (
        "conversation",
        "'conversation' names a conversation stored at OpenAI, which poolgate cannot read; continue one with "
        "'previous_response_id' (poolgate stores its responses) or send the whole input.",
    ),
    (
        "prompt",
        "'prompt' names a prompt template stored at OpenAI, which poolgate cannot read; send 'instructions' and "
        "'input' instead.",
    ),
)


@dataclass(slots=True)
class ResponsesRequest:
    model: str
    input_items: list[Any]  # the stored conversation's items, then the request's
    hub: GenerateContentRequest
    stream: bool = False
    store: bool = True
    previous_response_id: str | None = None
    session_hint: str = ""
    echo: JSON = field(default_factory=dict)
    namespaces: set[str] = field(default_factory=set)
    customs: set[str] = field(default_factory=set)  # custom tools: their calls are custom_tool_call items
    logprobs: bool = False  # `include` asked for message.output_text.logprobs
    search_sources: bool = False  # `include` asked for web_search_call.action.sources
    new_items: list[Any] = field(default_factory=list)  # the request's own input items
    media_fields: dict[str, str] = field(default_factory=dict)  # media URL → the client field it came from


def input_items(body: dict[str, Any]) -> list[Any]:
    """The request's `input` as a list of items (a string becomes one user message)."""
    raw = body.get("input")
    if isinstance(raw, str):
        return [{"type": "message", "role": "user", "content": raw}]
    if isinstance(raw, list):
        return list(raw)
    if raw is None:
        return []
    raise invalid("'input' must be a string or an array of input items.", "input")


def _thinking(reasoning: object, model: str) -> JSON | None:
    """`reasoning.effort` by the upstream model's family (the chat table); thoughts only when summarised."""
    if reasoning is None:
        return None
    if not isinstance(reasoning, dict):
        raise invalid("'reasoning' must be an object.", "reasoning")
    config: JSON = {}
    effort = reasoning.get("effort")
    if effort is not None:
        if effort not in ACCEPTED_EFFORTS:
            raise invalid(f"'reasoning.effort' must be one of {', '.join(ACCEPTED_EFFORTS)}.", "reasoning.effort")
        mapped = thinking_config("high" if effort == "xhigh" else effort, model) or {}
        config.update({k: v for k, v in mapped.items() if k != "includeThoughts"})
    summary = reasoning.get("summary") or reasoning.get("generate_summary")
    if summary is not None and effort != "none":
        # OpenAI returns reasoning summaries only on request; Gemini's thought text plays that part.
        config["includeThoughts"] = True
    return config or None


def _text_format(text: object, config: JSON) -> None:
    if text is None:
        return
    if not isinstance(text, dict):
        raise invalid("'text' must be an object.", "text")
    fmt = text.get("format")
    if fmt is None:
        return
    if not isinstance(fmt, dict):
        raise invalid("'text.format' must be an object.", "text.format")
    kind = fmt.get("type")
    if kind == "json_schema":
        schema = fmt.get("schema")
        if not isinstance(schema, dict):
            raise invalid("'text.format.schema' must be an object.", "text.format.schema")
        config["responseMimeType"] = "application/json"
        cleaned = sanitize_schema(schema)
        if cleaned is not None:
            config["responseSchema"] = cleaned
    elif kind == "json_object":
        config["responseMimeType"] = "application/json"
    elif kind not in ("text", None):
        raise invalid("'text.format.type' must be text, json_schema or json_object.", "text.format.type")


def to_hub(
    body: dict[str, Any], history: list[Any] | None = None, resolve: Callable[[str], str] = lambda m: m
) -> ResponsesRequest:
    """Parse a create request; `history` is the stored conversation a previous_response_id points at.

    `resolve` maps the client model to the upstream one: reasoning settings depend on its family.
    """
    model = fields.req_str(body, "model")
    for key, why in _OPENAI_HELD:
        if body.get(key) is not None:
            raise invalid(why, key)
    instructions = fields.opt_str(body, "instructions")
    items = input_items(body)
    all_items = [*(history or []), *items]
    contents: list[Content]
    refs = MediaRefs()
    contents, system = to_contents(all_items, instructions, refs)
    if not contents:
        raise invalid("'input' must contain at least one message or tool output.", "input")
    hub: GenerateContentRequest = {"contents": contents}
    if system:
        hub["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    upstream = resolve(model)
    tools = convert_tools(body.get("tools"), body.get("tool_choice"), body.get("parallel_tool_calls"), upstream)
    if tools.hub_tools:
        hub["tools"] = tools.hub_tools  # type: ignore[typeddict-item]
    if tools.tool_config:
        hub["toolConfig"] = tools.tool_config  # type: ignore[typeddict-item]
    config: JSON = fields.temperature_top_p(body)
    max_out = fields.opt_int(body, "max_output_tokens", lo=1)
    if max_out is not None:
        config["maxOutputTokens"] = min(max_out, MAX_OUTPUT_TOKENS)
    thinking = _thinking(body.get("reasoning"), upstream)
    if thinking:
        config["thinkingConfig"] = thinking
    _text_format(body.get("text"), config)
    include = _includes(body)
    logprobs = _logprobs(body, config, LOGPROBS_INCLUDE in include)
    fields.opt_int(body, "max_tool_calls", lo=1)  # only reported back: Gemini has no such limit
    if config:
        hub["generationConfig"] = config  # type: ignore[typeddict-item]
    previous = fields.opt_str(body, "previous_response_id")
    store = fields.opt_bool(body, "store")
    hint = ""
    for key in ("prompt_cache_key", "safety_identifier", "user"):
        value = body.get(key)
        if isinstance(value, str) and value:
            hint = f"{key}:{value}"
            break
    return ResponsesRequest(
        model=model,
        input_items=all_items,
        hub=hub,
        stream=bool(fields.opt_bool(body, "stream")),
        store=True if store is None else store,
        previous_response_id=previous,
        session_hint=hint,
        echo=echo_fields(body, model, instructions, previous, store),
        namespaces=tools.namespaces,
        customs=tools.custom_names,
        logprobs=logprobs,
        search_sources=SOURCES_INCLUDE in include,
        new_items=items,
        media_fields=refs.fields,
    )


def _includes(body: dict[str, Any]) -> list[str]:
    raw = body.get("include")
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise invalid("'include' must be an array of strings.", "include")
    return raw


def _logprobs(body: dict[str, Any], config: JSON, included: bool) -> bool:
    """Token log-probabilities come back only when `include` asks for them (`included`); `top_logprobs` says
    how many alternatives each token lists (OpenAI returns none without the include, and so does poolgate)."""
    top = fields.opt_int(body, "top_logprobs", lo=0)
    if top is not None and top > MAX_TOP_LOGPROBS:
        raise invalid(f"'top_logprobs' must be at most {MAX_TOP_LOGPROBS}.", "top_logprobs")
    if not included:
        return False
    config["responseLogprobs"] = True
    if top:
        config["logprobs"] = top
    return True


def echo_fields(
    body: dict[str, Any], model: str, instructions: str | None, previous: str | None, store: object
) -> JSON:
    """The request settings a Response object reports back."""
    raw_reasoning, raw_text = body.get("reasoning"), body.get("text")
    reasoning: dict[str, Any] = raw_reasoning if isinstance(raw_reasoning, dict) else {}
    text: dict[str, Any] = raw_text if isinstance(raw_text, dict) else {}
    parallel = body.get("parallel_tool_calls")
    return {
        "created_at": 0,
        "model": model,
        "instructions": instructions,
        "max_output_tokens": body.get("max_output_tokens"),
        "parallel_tool_calls": True if parallel is None else bool(parallel),
        "previous_response_id": previous,
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "store": True if store is None else bool(store),
        "temperature": body.get("temperature", 1.0),
        "text": {"format": text.get("format") or {"type": "text"}, **_verbosity(text)},
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0),
        "top_logprobs": body.get("top_logprobs"),
        "max_tool_calls": body.get("max_tool_calls"),
        "truncation": "disabled",
        "metadata": body.get("metadata") or {},
        "prompt_cache_key": body.get("prompt_cache_key"),
        # Accepted, but the answer is always made while the client waits: it comes back completed.
        "background": bool(body.get("background")),
    }


def _verbosity(text: dict[str, Any]) -> JSON:
    # Gemini has no verbosity setting; the Response reports what was asked, as OpenAI's does.
    verbosity = text.get("verbosity")
    return {"verbosity": verbosity} if isinstance(verbosity, str) else {}
