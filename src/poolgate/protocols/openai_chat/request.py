"""OpenAI Chat Completions request → hub (Gemini generateContent) request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from poolgate.errors import invalid
from poolgate.hub.contents import append_turn
from poolgate.hub.grounding import add_search
from poolgate.hub.types import JSON, Content, FunctionResponse, GenerateContentRequest, Part
from poolgate.protocols import fields
from poolgate.protocols.openai_chat import options, tools
from poolgate.protocols.openai_chat.content import MediaRefs, assistant_text, user_parts

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


@dataclass(slots=True)
class ChatRequest:
    model: str
    hub: GenerateContentRequest
    stream: bool = False
    include_usage: bool = False
    n: int = 1
    session_hint: str = ""
    logprobs: bool = False
    legacy_functions: bool = False  # the client used `functions`: answer with `function_call`
    web_search: bool = False  # `web_search_options` was sent: Google Search grounds the answer
    customs: frozenset[str] = frozenset()  # names of `custom` tools: their calls answer as custom tool calls
    media_fields: dict[str, str] = field(default_factory=dict)


def generation_config(body: dict[str, Any]) -> JSON:
    """Sampling fields shared by chat and legacy completions."""
    return options.sampling(body)


def text_of(content: object, where: str) -> str:
    """Plain text of a message content that may be a string or a list of text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts: list[str] = []
        for i, part in enumerate(content):
            if not isinstance(part, dict):
                raise invalid(f"'{where}[{i}]' must be an object.", f"{where}[{i}]")
            if part.get("type") in ("text", "input_text", "output_text"):
                text = part.get("text")
                if not isinstance(text, str):
                    raise invalid(f"'{where}[{i}].text' must be a string.", f"{where}[{i}].text")
                texts.append(text)
        return "\n".join(texts)
    raise invalid(f"'{where}' must be a string or an array of content parts.", where)


def _tool_response(text: str) -> dict[str, Any]:
    """A tool result as Gemini's response object: a JSON object as is, anything else under `result`."""
    try:
        value = orjson.loads(text) if text.strip() else ""
    except orjson.JSONDecodeError:
        return {"result": text}
    return value if isinstance(value, dict) else {"result": value}


class _Converter:
    def __init__(self, refs: MediaRefs) -> None:
        self.refs = refs
        self.system: list[str] = []
        self.contents: list[Content] = []
        self.call_names: dict[str, str] = {}

    def message(self, message: object, where: str) -> None:
        if not isinstance(message, dict):
            raise invalid(f"'{where}' must be an object.", where)
        role = message.get("role")
        if not isinstance(role, str) or role not in ROLES:
            raise invalid(f"'{where}.role' must be one of {', '.join(sorted(ROLES))}.", f"{where}.role")
        content = message.get("content")
        if role in ("system", "developer"):
            text = text_of(content, f"{where}.content")
            if text:
                self.system.append(text)
        elif role == "user":
            append_turn(self.contents, "user", user_parts(content, f"{where}.content", self.refs))
        elif role == "assistant":
            self.assistant(message, where)
        else:
            self.tool_result(message, role, where)

    def assistant(self, message: dict[str, Any], where: str) -> None:
        # reasoning_content is not replayed: Gemini ignores client-sent thoughts; signatures carry the state.
        parts: list[Part] = []
        text = assistant_text(message.get("content"), f"{where}.content")
        if text:
            parts.append({"text": text})
        calls = tools.call_parts(message, where)
        for part in calls:
            call = part["functionCall"]
            if "id" in call:
                self.call_names[call["id"]] = call["name"]
        parts.extend(calls)
        append_turn(self.contents, "model", parts)

    def tool_result(self, message: dict[str, Any], role: str, where: str) -> None:
        text = text_of(message.get("content"), f"{where}.content")
        if role == "tool":
            call_id = fields.req_str(message, "tool_call_id", f"{where}.tool_call_id")
            name = self.call_names.get(call_id)
        else:
            call_id = ""
            name = fields.opt_str(message, "name", f"{where}.name")
        if not name:
            # A result whose call is not in the history (a client that trimmed it): Gemini would reject a
            # functionResponse without its functionCall, so the model reads it as text instead.
            append_turn(self.contents, "user", [{"text": f"[Tool result for call {call_id or '?'}]: {text}"}])
            return
        response: FunctionResponse = {"name": name, "response": _tool_response(text)}
        if call_id:
            response["id"] = call_id
        append_turn(self.contents, "user", [{"functionResponse": response}])


NO_RESULT: Final = "No result was provided for this call (the client did not send one)."


def answer_unanswered_calls(contents: list[Content]) -> None:
    """Give every call a response in the next user turn.

    Gemini rejects a turn whose function responses do not match the preceding calls one to one, which
    happens when a user interrupts a tool run and just types on. The missing results are stated, not
    invented, so the model knows the call did not complete.
    """
    for i in range(len(contents) - 1):
        calls = [p["functionCall"] for p in contents[i].get("parts", []) if "functionCall" in p]
        following = contents[i + 1]
        if contents[i].get("role") != "model" or not calls or following.get("role") != "user":
            continue
        parts = following.setdefault("parts", [])
        answered_ids = {p["functionResponse"].get("id") for p in parts if "functionResponse" in p}
        answered_names = [p["functionResponse"].get("name") for p in parts if "functionResponse" in p]
        missing: list[Part] = []
        for call in calls:
            call_id = call.get("id")
            if call_id and call_id in answered_ids:
                continue
            if not call_id and call["name"] in answered_names:
                answered_names.remove(call["name"])
                continue
            response: FunctionResponse = {"name": call["name"], "response": {"error": NO_RESULT}}
            if call_id:
                response["id"] = call_id
            missing.append({"functionResponse": response})
        parts[:0] = missing


def messages_to_contents(messages: list[Any], refs: MediaRefs | None = None) -> tuple[list[Content], list[str]]:
    """Contents (same-role turns merged) and the system texts, from OpenAI messages."""
    converter = _Converter(refs or MediaRefs())
    for i, message in enumerate(messages):
        converter.message(message, f"messages[{i}]")
    answer_unanswered_calls(converter.contents)
    return converter.contents, converter.system


def _session_hint(body: dict[str, Any]) -> str:
    for key in ("prompt_cache_key", "user", "safety_identifier"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return f"{key}:{value}"
    return ""


def to_hub(body: dict[str, Any], resolve: Callable[[str], str] = lambda m: m) -> ChatRequest:
    """`resolve` maps the client model to the upstream one: reasoning settings depend on the family."""
    model = fields.req_str(body, "model")
    legacy = body.get("functions") is not None and body.get("tools") is None
    if legacy:
        body = tools.legacy_to_tools(body)
    messages = fields.opt_list(body, "messages")
    if not messages:
        raise invalid("'messages' must be a non-empty array.", "messages")
    refs = MediaRefs()
    contents, system = messages_to_contents(messages, refs)
    if not contents:
        # OpenAI accepts a conversation of empty messages; Gemini rejects empty contents and empty text.
        contents = [{"role": "user", "parts": [{"text": " "}]}]
    hub: GenerateContentRequest = {"contents": contents}
    if system:
        hub["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    # Most requests carry neither key; both readers answer "nothing" for a missing one.
    decls, customs = tools.declarations(body) if "tools" in body else ([], frozenset())
    tool_config, decls = tools.tool_config(body, decls) if "tool_choice" in body else (None, decls)
    upstream_model = resolve(model)
    search = "web_search_options" in body and fields.opt_dict(body, "web_search_options") is not None
    hub_tools: list[JSON] = [{"functionDeclarations": decls}] if decls else []
    if search:
        tool_config = add_search(hub_tools, tool_config, upstream_model)
    if hub_tools:
        hub["tools"] = hub_tools
    if tool_config is not None:
        hub["toolConfig"] = tool_config
    config = options.generation_config(body, upstream_model)
    if config:
        hub["generationConfig"] = config
    stream = "stream" in body and bool(fields.opt_bool(body, "stream"))
    stream_options = (fields.opt_dict(body, "stream_options") if "stream_options" in body else None) or {}
    return ChatRequest(
        model=model,
        hub=hub,
        stream=stream,
        include_usage=bool(stream_options.get("include_usage")),
        n=int(config.get("candidateCount", 1)),
        session_hint=_session_hint(body),
        logprobs=bool(config.get("responseLogprobs")),
        legacy_functions=legacy,
        web_search=search,
        media_fields=refs.fields,
        customs=customs,
    )
