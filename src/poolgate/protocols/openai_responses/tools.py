"""Responses `tools` / `tool_choice` → hub tools and toolConfig.

Function tools become function declarations. `namespace` tools (Codex groups sub-agent tools this
way) are flattened to `<namespace>__<name>` declarations and split again on output. `web_search`
becomes Google Search grounding. Alongside functions it is sent only to Gemini 3 and later, with
`toolConfig.includeServerSideToolInvocations` (Google's "tool combination", which rejects the mix
without that flag); Gemini 2.x rejects the combination outright, and Codex always sends both, so for
those models it is dropped.
`custom` tools become functions of one string (`poolgate.protocols.openai_tools`); their calls come back
as `custom_tool_call` items.
Every other built-in kind (file_search, computer, image_generation, mcp, …) has no Gemini
counterpart and is dropped rather than rejected, so one unsupported tool never fails a turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from poolgate.errors import invalid
from poolgate.hub.grounding import add_search
from poolgate.hub.types import JSON
from poolgate.protocols import openai_tools

NAMESPACE_SEP = "__"


@dataclass(slots=True)
class ToolSet:
    hub_tools: list[JSON] = field(default_factory=list)
    tool_config: JSON | None = None
    namespaces: set[str] = field(default_factory=set)
    function_names: set[str] = field(default_factory=set)
    custom_names: set[str] = field(default_factory=set)


def convert_tools(tools: object, tool_choice: object, parallel: object, model: str = "") -> ToolSet:
    """`model` is the upstream model: whether web_search can join function declarations depends on it."""
    out = ToolSet()
    declarations: list[JSON] = []
    wants_search = False
    if tools is not None and not isinstance(tools, list):
        raise invalid("'tools' must be an array.", "tools")
    for i, tool in enumerate(tools or []):
        where = f"tools[{i}]"
        if not isinstance(tool, dict):
            raise invalid(f"'{where}' must be an object.", where)
        kind = tool.get("type")
        if kind in ("function", "custom"):
            name = tool.get("name")
            if not isinstance(name, str) or not name:
                raise invalid(f"'{where}.name' must be a non-empty string.", f"{where}.name")
            declare = openai_tools.function_declaration if kind == "function" else openai_tools.custom_declaration
            declarations.append(declare(tool, name, where))
            out.function_names.add(name)
            if kind == "custom":
                out.custom_names.add(name)
        elif kind == "namespace":
            ns = tool.get("name")
            inner = tool.get("tools")
            if not isinstance(ns, str) or not ns or not isinstance(inner, list):
                continue
            out.namespaces.add(ns)
            for j, sub in enumerate(inner):
                if isinstance(sub, dict) and sub.get("type") == "function" and isinstance(sub.get("name"), str):
                    full = f"{ns}{NAMESPACE_SEP}{sub['name']}"
                    declarations.append(openai_tools.function_declaration(sub, full, f"{where}.tools[{j}]"))
                    out.function_names.add(full)
        elif isinstance(kind, str) and kind.startswith("web_search"):
            wants_search = True
    if declarations:
        out.hub_tools.append({"functionDeclarations": declarations})
    out.tool_config = _tool_config(tool_choice, out, declarations)
    if wants_search:
        out.tool_config = add_search(out.hub_tools, out.tool_config, model)
    return out


def _tool_config(choice: object, tools: ToolSet, declarations: list[JSON]) -> JSON | None:
    if isinstance(choice, dict) and choice.get("type") in ("function", "custom"):
        name = choice.get("name")
        if not isinstance(name, str) or name not in tools.function_names:
            raise invalid(f"'tool_choice.name' names an undeclared tool '{name}'.", "tool_choice.name")
    if choice is None or choice == "auto" or not declarations:
        return None
    if choice == "none":
        return {"functionCallingConfig": {"mode": "NONE"}}
    if choice == "required":
        return {"functionCallingConfig": {"mode": "ANY"}}
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind in ("function", "custom"):
            return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [choice["name"]]}}
        if kind == "allowed_tools":
            # Gemini restricts the callable set only in ANY mode; "auto" over a subset stays plain auto.
            if choice.get("mode") != "required":
                return None
            names = [
                t["name"]
                for t in choice.get("tools") or []
                if isinstance(t, dict) and isinstance(t.get("name"), str) and t["name"] in tools.function_names
            ]
            config: JSON = {"mode": "ANY"}
            if names:
                config["allowedFunctionNames"] = names
            return {"functionCallingConfig": config}
        # Built-in choices (web_search, file_search, mcp, …) have no Gemini mode; the model decides.
        return None
    if isinstance(choice, str):
        raise invalid("'tool_choice' must be none, auto, required or an object.", "tool_choice")
    raise invalid("'tool_choice' must be a string or an object.", "tool_choice")


def split_name(name: str, namespaces: set[str]) -> tuple[str, str | None]:
    """A flattened `<namespace>__<name>` back into its parts, for namespaces this request declared."""
    ns, sep, rest = name.partition(NAMESPACE_SEP)
    if sep and rest and ns in namespaces:
        return rest, ns
    return name, None
