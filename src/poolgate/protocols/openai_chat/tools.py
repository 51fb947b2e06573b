"""OpenAI tools, tool_choice and assistant tool_calls → Gemini functionDeclarations, toolConfig, functionCall.

`function` tools map one to one; `custom` tools (free-form text input) become functions of one string
(`poolgate.protocols.openai_tools`), and their calls are answered as `custom` tool calls again.
"""

from __future__ import annotations

import re
from typing import Any, Final

import orjson

from poolgate.errors import invalid
from poolgate.hub.types import JSON, Part
from poolgate.protocols import fields, openai_tools

# Gemini's rule for function names; OpenAI's is close but allows names Gemini rejects (too long, leading digit).
NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$")


def declarations(body: dict[str, Any]) -> tuple[list[JSON], frozenset[str]]:
    """The function declarations, and the names of those that are `custom` tools (their calls answer as such)."""
    tools = fields.opt_list(body, "tools") or []
    decls: list[JSON] = []
    customs: set[str] = set()
    seen: set[str] = set()
    for i, tool in enumerate(tools):
        at = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise invalid(f"'{at}' must be an object.", at)
        kind = tool.get("type", "function")
        if kind not in ("function", "custom"):
            raise invalid(
                f"Unsupported tool type {kind!r} at '{at}.type'; 'function' and 'custom' tools are supported.",
                f"{at}.type",
            )
        spec = fields.opt_dict(tool, kind, f"{at}.{kind}")
        if spec is None:
            raise invalid(f"'{at}.{kind}' is required.", f"{at}.{kind}")
        name = fields.req_str(spec, "name", f"{at}.{kind}.name")
        if not NAME.match(name):
            raise invalid(
                f"'{at}.{kind}.name' must start with a letter or underscore and contain only letters, digits, "
                "'_', '.', ':' or '-' (at most 128 characters).",
                f"{at}.{kind}.name",
            )
        if name in seen:
            raise invalid(f"Duplicate tool name {name!r} at '{at}.{kind}.name'.", f"{at}.{kind}.name")
        seen.add(name)
        if kind == "custom":
            decls.append(openai_tools.custom_declaration(spec, name, f"{at}.custom"))
            customs.add(name)
        else:
            decls.append(openai_tools.function_declaration(spec, name, f"{at}.function"))
    return decls, frozenset(customs)


def _tool_name(spec: object, where: str) -> tuple[str, str]:
    """The tool a choice names, and where its name is: `{type: function|custom, <type>: {name}}`."""
    kind = spec.get("type", "function") if isinstance(spec, dict) else "function"
    key = "custom" if kind == "custom" else "function"
    inner = spec.get(key) if isinstance(spec, dict) else None
    if not isinstance(inner, dict) or not isinstance(inner.get("name"), str) or not inner["name"]:
        raise invalid(f"'{where}.{key}.name' is required.", f"{where}.{key}.name")
    return str(inner["name"]), f"{where}.{key}.name"


def tool_config(body: dict[str, Any], decls: list[JSON]) -> tuple[JSON | None, list[JSON]]:
    """(toolConfig or None, declarations possibly narrowed by an `allowed_tools` choice)."""
    choice = body.get("tool_choice")
    if choice is None:
        return None, decls
    names = {d["name"] for d in decls}
    if isinstance(choice, str):
        modes = {"none": "NONE", "auto": "AUTO", "required": "ANY"}
        if choice not in modes:
            raise invalid("'tool_choice' must be 'none', 'auto', 'required' or an object.", "tool_choice")
        if choice == "required" and not decls:
            raise invalid("'tool_choice' is 'required' but no tools were given.", "tool_choice")
        if not decls:
            return None, decls
        return {"functionCallingConfig": {"mode": modes[choice]}}, decls
    if not isinstance(choice, dict):
        raise invalid("'tool_choice' must be a string or an object.", "tool_choice")
    kind = choice.get("type")
    if kind in ("function", "custom"):
        name, at = _tool_name(choice, "tool_choice")
        if name not in names:
            raise invalid(f"'{at}' names {name!r}, which is not in 'tools'.", at)
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}, decls
    if kind == "allowed_tools":
        spec = fields.opt_dict(choice, "allowed_tools", "tool_choice.allowed_tools") or {}
        mode = spec.get("mode", "auto")
        if mode not in ("auto", "required"):
            raise invalid(
                "'tool_choice.allowed_tools.mode' must be 'auto' or 'required'.", "tool_choice.allowed_tools.mode"
            )
        allowed: list[str] = []
        for i, item in enumerate(fields.opt_list(spec, "tools", "tool_choice.allowed_tools.tools") or []):
            at = f"tool_choice.allowed_tools.tools[{i}]"
            name, name_at = _tool_name(item, at)
            if name not in names:
                raise invalid(f"'{name_at}' names {name!r}, which is not in 'tools'.", name_at)
            allowed.append(name)
        if not allowed:
            raise invalid(
                "'tool_choice.allowed_tools.tools' must list at least one tool.", "tool_choice.allowed_tools.tools"
            )
        if mode == "required":
            return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": allowed}}, decls
        # Gemini only restricts names in ANY mode, so "auto among these" declares just these.
        return {"functionCallingConfig": {"mode": "AUTO"}}, [d for d in decls if d["name"] in allowed]
    raise invalid("'tool_choice.type' must be 'function', 'custom' or 'allowed_tools'.", "tool_choice.type")


def legacy_to_tools(body: dict[str, Any]) -> dict[str, Any]:
    """The deprecated `functions` / `function_call` request fields, rewritten as `tools` / `tool_choice`."""
    if body.get("functions") is None or body.get("tools") is not None:
        return body
    functions = fields.opt_list(body, "functions") or []
    rewritten = dict(body)
    rewritten["tools"] = [{"type": "function", "function": f} for f in functions]
    choice = body.get("function_call")
    if isinstance(choice, dict):
        rewritten["tool_choice"] = {"type": "function", "function": choice}
    elif choice is not None:
        rewritten["tool_choice"] = choice
    return rewritten


def call_parts(message: dict[str, Any], where: str) -> list[Part]:
    """An assistant message's tool_calls as functionCall parts; the arguments are never rewritten."""
    parts: list[Part] = []
    calls = fields.opt_list(message, "tool_calls", f"{where}.tool_calls") or []
    specs: list[tuple[object, str]] = [(call, f"{where}.tool_calls[{i}]") for i, call in enumerate(calls)]
    legacy = fields.opt_dict(message, "function_call", f"{where}.function_call")
    if legacy is not None and not calls:
        specs = [({"function": legacy}, f"{where}.function_call")]
    for call, at in specs:
        if not isinstance(call, dict):
            raise invalid(f"'{at}' must be an object.", at)
        name, args = _custom_call(call, at) if call.get("type") == "custom" else _function_call(call, at)
        part: Part = {"functionCall": {"name": name, "args": args}}
        call_id = call.get("id")
        if isinstance(call_id, str) and call_id:
            part["functionCall"]["id"] = call_id
        parts.append(part)
    return parts


def _function_call(call: dict[str, Any], at: str) -> tuple[str, dict[str, Any]]:
    """A function call's name and arguments (`at` ends in `.function_call` for the deprecated field)."""
    if at.endswith(".function_call"):
        fn: dict[str, Any] | None = call["function"]
        fn_at = at
    else:
        fn = fields.opt_dict(call, "function", f"{at}.function")
        fn_at = f"{at}.function"
    if fn is None:
        raise invalid(f"'{fn_at}' is required.", fn_at)
    name = fields.req_str(fn, "name", f"{fn_at}.name")
    raw = fn.get("arguments")
    args: Any
    if raw is None or raw == "":
        args = {}
    elif isinstance(raw, str):
        try:
            args = orjson.loads(raw)
        except orjson.JSONDecodeError:
            # Models sometimes emit broken JSON; refusing the replay would brick the conversation for good.
            args = {"value": raw}
    elif isinstance(raw, dict):
        args = raw
    else:
        raise invalid(f"'{fn_at}.arguments' must be a JSON string.", f"{fn_at}.arguments")
    if not isinstance(args, dict):
        # Gemini's args is an object; a bare JSON value travels under one key and is never reshaped otherwise.
        args = {"value": args}
    return name, args


def _custom_call(call: dict[str, Any], at: str) -> tuple[str, dict[str, Any]]:
    """A custom tool call's name, and its text input as the arguments it was declared with."""
    spec = fields.opt_dict(call, "custom", f"{at}.custom")
    if spec is None:
        raise invalid(f"'{at}.custom' is required.", f"{at}.custom")
    name = fields.req_str(spec, "name", f"{at}.custom.name")
    text = fields.opt_str(spec, "input", f"{at}.custom.input") or ""
    return name, openai_tools.custom_args(text)
