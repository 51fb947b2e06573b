"""OpenAI's tools as Gemini function declarations, shared by Chat Completions and the Responses API.

`function` tools map one to one (name, description, parameters through the schema sanitizer).
`custom` tools (free-form text input, optionally held to a grammar) have no Gemini counterpart, so each
becomes a declaration with one string parameter, `input`; a grammar goes into that parameter's
description, since Gemini cannot hold a call's argument to one. A call's `input` is that argument.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from poolgate.errors import invalid
from poolgate.hub.types import JSON
from poolgate.protocols import fields
from poolgate.protocols.schema import sanitize_tool_parameters

INPUT: Final = "input"


def function_declaration(spec: dict[str, Any], name: str, where: str) -> JSON:
    """A function tool's declaration: `where` is the place of its `description` and `parameters`."""
    decl: JSON = {"name": name}
    description = fields.opt_str(spec, "description", f"{where}.description")
    if description:
        decl["description"] = description
    params = spec.get("parameters")
    if params is not None and not isinstance(params, dict):
        raise invalid(f"'{where}.parameters' must be a JSON Schema object.", f"{where}.parameters")
    cleaned = sanitize_tool_parameters(params)
    if cleaned is not None:
        decl["parameters"] = cleaned
    return decl


def custom_declaration(tool: dict[str, Any], name: str, where: str) -> JSON:
    """A custom tool as a function of one string, `input`, whose description carries the tool's format.

    The grammar is `format.definition` / `format.syntax` in the Responses API and
    `format.grammar.definition` / `format.grammar.syntax` in Chat Completions; both are read.
    """
    description = tool.get("description")
    fmt = tool.get("format")
    if fmt is not None and not isinstance(fmt, dict):
        raise invalid(f"'{where}.format' must be an object.", f"{where}.format")
    about = "The tool's whole input, as free text."
    if fmt and fmt.get("type") == "grammar":
        grammar, at = fmt, f"{where}.format"
        if isinstance(fmt.get("grammar"), dict):
            grammar, at = fmt["grammar"], f"{where}.format.grammar"
        definition, syntax = grammar.get("definition"), grammar.get("syntax")
        if not isinstance(definition, str) or not definition:
            raise invalid(f"'{at}.definition' must be a non-empty string.", f"{at}.definition")
        about = f"The tool's whole input, as text that matches this {syntax or 'lark'} grammar:\n{definition}"
    elif fmt and fmt.get("type") not in ("text", None):
        raise invalid(f"'{where}.format.type' must be text or grammar.", f"{where}.format.type")
    decl: JSON = {
        "name": name,
        "parameters": {
            "type": "object",
            "properties": {INPUT: {"type": "string", "description": about}},
            "required": [INPUT],
        },
    }
    if isinstance(description, str) and description:
        decl["description"] = description
    return decl


def custom_input(args: dict[str, Any]) -> str:
    """A call's input: its one string argument, or all its arguments as JSON if the model sent others."""
    value = args.get(INPUT)
    return value if isinstance(value, str) else orjson.dumps(args).decode()


def custom_args(text: str) -> JSON:
    """A replayed custom call's input as the function arguments it was declared with."""
    return {INPUT: text}
