"""OpenAI tools, tool_choice and assistant tool_calls → Gemini functionDeclarations, toolConfig, functionCall."""

from __future__ import annotations

import re
from typing import Any, Final

import orjson

from poolgate.errors import invalid
from poolgate.hub.types import JSON, Part
from poolgate.protocols import fields
from poolgate.protocols.schema import sanitize_tool_parameters

# Gemini's rule for function names; OpenAI's is close but allows names Gemini rejects (too long, leading digit).
NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$")


def declarations(body: dict[str, Any]) -> list[JSON]:
    tools = fields.opt_list(body, "tools") or []
    decls: list[JSON] = []
    seen: set[str] = set()
    for i, tool in enumerate(tools):
        at = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise invalid(f"'{at}' must be an object.", at)
        kind = tool.get("type", "function")
        if kind != "function":
            raise invalid(
                f"Unsupported tool type {kind!r} at '{at}.type'; only 'function' tools are supported.", f"{at}.type"
            )
        fn = fields.opt_dict(tool, "function", f"{at}.function")
        if fn is None:
            raise invalid(f"'{at}.function' is required.", f"{at}.function")
        name = fields.req_str(fn, "name", f"{at}.function.name")
        if not NAME.match(name):
            raise invalid(
                f"'{at}.function.name' must start with a letter or underscore and contain only letters, digits, "
                "'_', '.', ':' or '-' (at most 128 characters).",
                f"{at}.function.name",
            )
        if name in seen:
            raise invalid(f"Duplicate function name {name!r} at '{at}.function.name'.", f"{at}.function.name")
        seen.add(name)
        decl: JSON = {"name": name}
        description = fields.opt_str(fn, "description", f"{at}.function.description")
        if description:
            decl["description"] = description
        params = fn.get("parameters")
        if params is not None and not isinstance(params, dict):
            raise invalid(f"'{at}.function.parameters' must be a JSON Schema object.", f"{at}.function.parameters")
        cleaned = sanitize_tool_parameters(params)
        if cleaned is not None:
            decl["parameters"] = cleaned
        decls.append(decl)
    return decls


def _function_name(spec: object, where: str) -> str:
    fn = spec.get("function") if isinstance(spec, dict) else None
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
        raise invalid(f"'{where}.function.name' is required.", f"{where}.function.name")
    return str(fn["name"])


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
    if kind == "function":
        name = _function_name(choice, "tool_choice")
        if name not in names:
            raise invalid(
                f"'tool_choice.function.name' names {name!r}, which is not in 'tools'.", "tool_choice.function.name"
            )
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
            name = _function_name(item, at)
            if name not in names:
                raise invalid(f"'{at}.function.name' names {name!r}, which is not in 'tools'.", f"{at}.function.name")
            allowed.append(name)
        if not allowed:
            raise invalid(
                "'tool_choice.allowed_tools.tools' must list at least one tool.", "tool_choice.allowed_tools.tools"
            )
        if mode == "required":
            return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": allowed}}, decls
        # Gemini only restricts names in ANY mode, so "auto among these" declares just these.
        return {"functionCallingConfig": {"mode": "AUTO"}}, [d for d in decls if d["name"] in allowed]
    raise invalid("'tool_choice.type' must be 'function' or 'allowed_tools'.", "tool_choice.type")


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
        part: Part = {"functionCall": {"name": name, "args": args}}
        call_id = call.get("id")
        if isinstance(call_id, str) and call_id:
            part["functionCall"]["id"] = call_id
        parts.append(part)
    return parts
