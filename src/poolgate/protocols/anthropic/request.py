"""Anthropic Messages request → hub (Gemini generateContent) request."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from poolgate.errors import invalid
from poolgate.hub.grounding import add_search, add_server_tool
from poolgate.hub.types import JSON, MAX_OUTPUT_TOKENS, GenerateContentRequest
from poolgate.protocols import fields
from poolgate.protocols.anthropic import client_tools, content
from poolgate.protocols.schema import sanitize_schema, sanitize_tool_parameters

# Adaptive thinking with an effort level → a Gemini thinking budget (-1 lets the model decide).
EFFORT_BUDGETS = {"low": 1024, "medium": 8192, "high": -1, "max": 32_768}
_TOOL_CHOICE_MODES = {"auto": "AUTO", "any": "ANY", "tool": "ANY", "none": "NONE"}

Recall = Callable[[str, str, dict[str, Any]], str | None]


@dataclass(slots=True)
class MessagesRequest:
    model: str
    hub: GenerateContentRequest
    stream: bool = False
    thinking: bool = False
    stop_sequences: list[str] = field(default_factory=list)
    session_hint: str = ""
    max_tokens: int | None = None
    web_search: bool = False  # Google Search is in the upstream tools: its grounding comes back as search blocks
    media_fields: dict[str, str] = field(default_factory=dict)  # media URL → the client field it came from


@dataclass(slots=True)
class ServerTools:
    """Anthropic's server tools in a request, by the names the client gave them."""

    searches: set[str] = field(default_factory=set)  # web_search → Google Search
    fetches: set[str] = field(default_factory=set)  # web_fetch → Gemini's URL context

    @property
    def names(self) -> set[str]:
        return self.searches | self.fetches


def tools_to_hub(tools: list[Any]) -> tuple[list[JSON], set[str], ServerTools]:
    """Function declarations for Gemini, their names, and the server tools among the tools."""
    declarations: list[JSON] = []
    names: set[str] = set()
    server = ServerTools()
    for i, tool in enumerate(tools):
        at = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise invalid(f"'{at}' must be an object.", at)
        kind = tool.get("type")
        if isinstance(kind, str) and kind.startswith(("web_search", "web_fetch")):
            name = tool.get("name")
            default = "web_search" if kind.startswith("web_search") else "web_fetch"
            found = server.searches if default == "web_search" else server.fetches
            found.add(name if isinstance(name, str) and name else default)
            continue
        if kind not in (None, "custom") and not client_tools.known(kind):
            raise invalid(f"Tool type '{kind}' at '{at}.type' is not supported; declare it as a custom tool.", at)
        name = fields.req_str(tool, "name", f"{at}.name")
        builtin = client_tools.declaration(kind, name)
        if builtin is not None:
            declarations.append(builtin)
            names.add(name)
            continue
        schema = tool.get("input_schema")
        if schema is not None and not isinstance(schema, dict):
            raise invalid(f"'{at}.input_schema' must be an object.", f"{at}.input_schema")
        decl: JSON = {"name": name}
        description = tool.get("description")
        if isinstance(description, str) and description:
            decl["description"] = description
        parameters = sanitize_tool_parameters(schema) if schema else None
        if parameters:
            decl["parameters"] = parameters
        declarations.append(decl)
        names.add(name)
    hub_tools: list[JSON] = []
    if declarations:
        hub_tools.append({"functionDeclarations": declarations})
    return hub_tools, names, server


def tool_config(choice: object, names: set[str], server_tools: Collection[str] = ()) -> JSON | None:
    if choice is None:
        return None
    if (
        not isinstance(choice, dict)
        or not isinstance(choice.get("type"), str)
        or choice["type"] not in _TOOL_CHOICE_MODES
    ):
        raise invalid("'tool_choice.type' must be one of auto, any, tool, none.", "tool_choice.type")
    kind = choice["type"]
    config: JSON = {"mode": _TOOL_CHOICE_MODES[kind]}
    if kind == "tool":
        name = fields.req_str(choice, "name", "tool_choice.name")
        if name in server_tools and name not in names:
            # Claude Code's WebSearch asks for its search this way. Gemini cannot be made to search (or
            # fetch), only offered it; what can be honoured is that no function is called instead.
            return {"functionCallingConfig": {"mode": "NONE"}} if names else None
        if name not in names:
            raise invalid(f"'tool_choice.name' names '{name}', which is not in 'tools'.", "tool_choice.name")
        config["allowedFunctionNames"] = [name]
    elif not names:
        return None
    return {"functionCallingConfig": config}


def _forbids_tools(choice: object) -> bool:
    return isinstance(choice, dict) and choice.get("type") == "none"


def thinking_config(body: dict[str, Any]) -> JSON | None:
    thinking = fields.opt_dict(body, "thinking")
    output = fields.opt_dict(body, "output_config") or {}
    effort = output.get("effort")
    if thinking is None or thinking.get("type") == "disabled":
        return None
    kind = thinking.get("type")
    # display "omitted" asks for signed thinking blocks without their text; Gemini then need not send thoughts.
    show = thinking.get("display") != "omitted"
    if kind == "enabled":
        budget = fields.opt_int(thinking, "budget_tokens", "thinking.budget_tokens", lo=0)
        return {"includeThoughts": show, "thinkingBudget": -1 if budget is None else budget}
    if kind == "adaptive":
        budget = EFFORT_BUDGETS.get(effort, -1) if isinstance(effort, str) else -1
        return {"includeThoughts": show, "thinkingBudget": budget}
    raise invalid("'thinking.type' must be one of enabled, adaptive, disabled.", "thinking.type")


def stop_sequences(body: dict[str, Any]) -> list[str]:
    value = fields.opt_list(body, "stop_sequences")
    if value is None:
        return []
    if not all(isinstance(v, str) for v in value):
        raise invalid("'stop_sequences' must be an array of strings.", "stop_sequences")
    return [v for v in value if v]


def generation_config(body: dict[str, Any], max_tokens: int | None) -> JSON:
    config: JSON = fields.temperature_top_p(body)
    top_k = fields.opt_int(body, "top_k", lo=1)
    if top_k is not None:
        config["topK"] = top_k
    if max_tokens is not None:
        config["maxOutputTokens"] = min(max_tokens, MAX_OUTPUT_TOKENS)
    thinking = thinking_config(body)
    if thinking is not None:
        config["thinkingConfig"] = thinking
    output_format(body, config)
    return config


def output_format(body: dict[str, Any], config: JSON) -> None:
    """Structured outputs: `output_config.format` (and the beta's top-level `output_format`) → a JSON answer.

    The anthropic SDK's `messages.parse(output_format=Model)` sends the model's JSON schema this way and
    parses the text block; Gemini is held to the same schema with `responseSchema`.
    """
    output = fields.opt_dict(body, "output_config") or {}
    where = "output_config.format"
    spec = fields.opt_dict(output, "format", where)
    if spec is None:
        where = "output_format"
        spec = fields.opt_dict(body, "output_format")
    if spec is None:
        return
    if spec.get("type") != "json_schema":
        raise invalid(f"'{where}.type' must be 'json_schema'.", f"{where}.type")
    schema = spec.get("schema")
    if not isinstance(schema, dict):
        raise invalid(f"'{where}.schema' must be an object.", f"{where}.schema")
    config["responseMimeType"] = "application/json"
    cleaned = sanitize_schema(schema)
    if cleaned is not None:
        config["responseSchema"] = cleaned


def session_hint(body: dict[str, Any]) -> str:
    metadata = body.get("metadata")
    user = metadata.get("user_id") if isinstance(metadata, dict) else None
    return f"user_id:{user}" if isinstance(user, str) and user else ""


def to_hub(
    body: dict[str, Any], *, for_count: bool = False, resolve: Callable[[str], str] = lambda m: m
) -> MessagesRequest:
    """Parse a Messages (or count_tokens) body; `for_count` relaxes what counting does not need.

    `resolve` maps the client model to the upstream one: whether search may join functions depends on it.
    """
    model = fields.req_str(body, "model")
    max_tokens = fields.opt_int(body, "max_tokens", lo=1)
    if max_tokens is None and not for_count:
        raise invalid("'max_tokens' is required.", "max_tokens")
    messages = fields.opt_list(body, "messages")
    if not messages:
        raise invalid("'messages' must be a non-empty array.", "messages")
    conv = content.convert(messages)
    if not conv.contents and not for_count:
        raise invalid("'messages' must contain at least one user or assistant message with content.", "messages")
    hub: GenerateContentRequest = {"contents": conv.contents}
    system = content.system_texts(body.get("system")) + conv.system
    if system:
        hub["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    hub_tools, names, server = tools_to_hub(fields.opt_list(body, "tools") or [])
    choice = tool_config(body.get("tool_choice"), names, server.names)
    if not _forbids_tools(body.get("tool_choice")):
        if server.searches:
            choice = add_search(hub_tools, choice, resolve(model))
        if server.fetches:
            choice = add_server_tool(hub_tools, choice, resolve(model), {"urlContext": {}})
    if hub_tools:
        hub["tools"] = hub_tools
    if choice is not None:
        hub["toolConfig"] = choice
    config = generation_config(body, max_tokens)
    if config:
        hub["generationConfig"] = config
    return MessagesRequest(
        model=model,
        hub=hub,
        stream=bool(fields.opt_bool(body, "stream")),
        thinking="thinkingConfig" in config,
        stop_sequences=stop_sequences(body),
        session_hint=session_hint(body),
        max_tokens=max_tokens,
        web_search=any("googleSearch" in tool for tool in hub_tools),
        media_fields=conv.media_fields,
    )


def restore_signatures(hub: GenerateContentRequest, recall: Recall) -> int:
    """Put server-kept signatures back on replayed function calls the client returned unsigned."""
    restored = 0
    for turn in hub.get("contents") or ():
        if turn.get("role") != "model":
            continue
        for part in turn.get("parts") or ():
            call = part.get("functionCall")
            if call is None or part.get("thoughtSignature"):
                continue
            signature = recall(call.get("id", ""), call.get("name", ""), call.get("args", {}))
            if signature:
                part["thoughtSignature"] = signature
                restored += 1
    return restored
