"""JSON-schema sanitizer: client tool schemas → the OpenAPI subset Gemini's `Schema` accepts.

Clients send full JSON Schema (`$schema`, `additionalProperties`, `type: ["string", "null"]`, `$ref`)
or Gemini's own upper-case types (`"OBJECT"`); both backends (API key and Cloud Code) accept only
the subset below, with lower-case types, and reject the rest with a 400 naming the field.
"""

from __future__ import annotations

from typing import Any

# Keys Gemini's Schema message knows; everything else is dropped rather than rejected upstream.
_ALLOWED = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "maxItems",
        "minItems",
        "properties",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "anyOf",
        "propertyOrdering",
        "default",
        "items",
        "minimum",
        "maximum",
    }
)
_MAX_DEPTH = 32


def _resolve_ref(node: dict[str, Any], defs: dict[str, Any], depth: int) -> dict[str, Any]:
    ref = node.get("$ref")
    if not isinstance(ref, str) or depth > _MAX_DEPTH:
        return node
    target = defs.get(ref.rsplit("/", 1)[-1])
    if not isinstance(target, dict):
        return {k: v for k, v in node.items() if k != "$ref"}
    merged = dict(target)
    merged.update({k: v for k, v in node.items() if k != "$ref"})
    return _resolve_ref(merged, defs, depth + 1)


def _clean(node: Any, defs: dict[str, Any], depth: int) -> Any:
    if not isinstance(node, dict) or depth > _MAX_DEPTH:
        return node
    node = _resolve_ref(node, defs, depth)
    out: dict[str, Any] = {}
    kind = node.get("type")
    if isinstance(kind, list):
        names = [k for k in kind if isinstance(k, str)]
        if any(k.lower() == "null" for k in names):
            out["nullable"] = True
        names = [k for k in names if k.lower() != "null"]
        kind = names[0] if names else None
    if isinstance(kind, str):
        out["type"] = kind.lower()
    if "const" in node and "enum" not in node:
        out["enum"] = [node["const"]]
    options = node.get("anyOf") or node.get("oneOf")
    for key, value in node.items():
        if key in ("type", "anyOf") or key not in _ALLOWED:
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _clean(sub, defs, depth + 1) for name, sub in value.items()}
        elif key == "items":
            out[key] = _clean(value, defs, depth + 1)
        elif key == "enum" and isinstance(value, list):
            out[key] = [v if isinstance(v, str) else str(v) for v in value if v is not None]
        else:
            out[key] = value
    if isinstance(options, list):
        cleaned = [_clean(o, defs, depth + 1) for o in options if isinstance(o, dict)]
        if cleaned:
            out["anyOf"] = cleaned
    if isinstance(out.get("required"), list) and isinstance(out.get("properties"), dict):
        out["required"] = [name for name in out["required"] if name in out["properties"]]
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    return out


def sanitize_schema(schema: Any) -> Any:
    """A cleaned copy; never mutates its argument and never raises on odd input."""
    if not isinstance(schema, dict):
        return schema
    defs: dict[str, Any] = {}
    for key in ("$defs", "definitions"):
        found = schema.get(key)
        if isinstance(found, dict):
            defs.update(found)
    return _clean(schema, defs, 0)


def sanitize_tool_parameters(schema: Any) -> dict[str, Any]:
    """A function's parameters: always an object schema, even when the client sent none."""
    cleaned = sanitize_schema(schema) if isinstance(schema, dict) else {}
    if not isinstance(cleaned, dict) or not cleaned:
        return {"type": "object", "properties": {}}
    if "type" not in cleaned and "anyOf" not in cleaned:
        cleaned["type"] = "object"
    return cleaned
