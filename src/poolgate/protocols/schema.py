"""Clean client JSON Schemas into the OpenAPI-3.0 subset Gemini accepts for tools and `responseSchema`.

Clients send full JSON Schema (Pydantic, zod, MCP servers, hand-written), and Gemini rejects the whole request
over one keyword it does not know. So the output is built anew from an allow-list, not by deleting known-bad
keys from a copy: whatever JSON Schema grows next cannot leak through, and the input is never mutated.
Constraints Gemini cannot express become short hints in `description`, where the model still reads them.
Only schemas pass through here; tool-call arguments are never touched.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote

JSON = dict[str, Any]

# Recursive refs are cut where they repeat, but a schema can still be very deep, or explode through shared
# definitions that are each inlined at every use, so both depth and total work are bounded.
_MAX_DEPTH: Final = 32
_MAX_NODES: Final = 10_000
_CUT: Final[JSON] = {"type": "object"}  # stands in for a recursive repeat and for anything past the caps

_TYPES: Final = frozenset({"string", "number", "integer", "boolean", "array", "object", "null"})
_FORMATS: Final[dict[str, tuple[str, ...]]] = {
    "string": ("enum", "date-time"),
    "number": ("float", "double"),
    "integer": ("int32", "int64"),
}
# Keywords that annotate without constraining: they never turn a union alternative into something else.
_ANNOTATIONS: Final = frozenset(
    "description title default examples example $comment $schema $id deprecated readOnly writeOnly nullable"
    " $defs definitions".split()
)
# Dropped keywords worth telling the model about, in the order their hints are written, with the types they
# apply to (None: any), so a ["string", "integer"] union does not tell its integer branch about minLength.
_STRING: Final = frozenset({"string"})
_NUMERIC: Final = frozenset({"number", "integer"})
_HINTED: Final[tuple[tuple[str, frozenset[str] | None], ...]] = (
    ("pattern", _STRING),
    ("minLength", _STRING),
    ("maxLength", _STRING),
    ("exclusiveMinimum", _NUMERIC),
    ("exclusiveMaximum", _NUMERIC),
    ("multipleOf", _NUMERIC),
    ("default", None),
)
_HINT_CHARS: Final = 80
_INT64: Final = 2**63  # orjson refuses integers outside 64 bits, and so does Gemini's int64 fields


@dataclass
class _Ctx:
    """Per-call state: the document `$ref`s point into, and a work counter against ref explosions."""

    root: JSON
    nodes: int = 0


def sanitize_schema(schema: object) -> dict[str, Any] | None:
    """Return the Gemini Schema for a client JSON Schema, or None when it constrains nothing."""
    if not isinstance(schema, dict):
        return None
    # "#" starts as seen: a root that refers to itself is already being expanded.
    out = _clean(schema, _Ctx(schema), 0, frozenset({"#"}))
    return out or None


def sanitize_tool_parameters(schema: object) -> dict[str, Any] | None:
    """Like `sanitize_schema`, but the result is an object schema with properties, or None to omit it."""
    out = sanitize_schema(schema)
    if out is None:
        return None
    if out.get("type") != "object":
        # Gemini only takes OBJECT parameters, so a bare value becomes the single argument `value`.
        return {"type": "object", "properties": {"value": out}, "required": ["value"]}
    out.pop("nullable", None)
    # Gemini rejects OBJECT parameters with empty properties; no `parameters` is how it spells "no arguments".
    return out if out.get("properties") else None


def _clean(node: object, ctx: _Ctx, depth: int, refs: frozenset[str]) -> JSON | None:
    """Sanitize one schema; None means it matches nothing (`false`) and the caller drops it."""
    if node is False:
        return None
    if not isinstance(node, dict):
        return {}  # `true`, or junk where a schema belongs: anything goes
    ctx.nodes += 1
    if depth > _MAX_DEPTH or ctx.nodes > _MAX_NODES:
        return dict(_CUT)
    flat, refs = _expand(node, ctx, refs, depth)
    if flat is None:
        return dict(_CUT)
    alternatives = [alt for key in ("anyOf", "oneOf") if isinstance(flat.get(key), list) for alt in flat[key]]
    if alternatives:
        return _clean_union(flat, alternatives, ctx, depth, refs)
    types = _types(flat.get("type"))
    concrete = [t for t in types if t != "null"]
    if len(concrete) > 1:
        # ["string", "integer"] is a union with one branch per type; each branch keeps only its own keywords.
        meta = {k: v for k, v in flat.items() if k in _ANNOTATIONS}
        base = {k: v for k, v in flat.items() if k not in _ANNOTATIONS and k != "type"}
        if "null" in types:
            meta["nullable"] = True
        return _clean_union(meta, [{**base, "type": t} for t in concrete], ctx, depth, refs)
    return _clean_single(flat, concrete[0] if concrete else None, "null" in types, ctx, depth, refs)


def _expand(node: JSON, ctx: _Ctx, refs: frozenset[str], depth: int) -> tuple[JSON | None, frozenset[str]]:
    """Inline `$ref` and merge `allOf` at the top of `node`; None means a ref repeats an enclosing one.

    The returned refs are the ones now enclosing the node's children, so a recursive type is cut one level
    down instead of looping, while a definition used by two siblings is still expanded for both.
    """
    while "$ref" in node:
        ref = node["$ref"]
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        if isinstance(ref, str) and ref in refs:
            return None, refs
        target = _resolve(ctx.root, ref) if isinstance(ref, str) else None
        if isinstance(target, dict) and isinstance(ref, str):
            refs = refs | {ref}
            node = _merge(siblings, target)  # siblings first: a local description beats the shared one
        else:
            node = siblings  # remote, anchor or dangling refs cannot be followed without I/O
    parts = node.get("allOf")
    if not isinstance(parts, list):
        return node, refs
    merged = {k: v for k, v in node.items() if k != "allOf"}
    for part in parts:
        ctx.nodes += 1
        if not isinstance(part, dict) or depth > _MAX_DEPTH or ctx.nodes > _MAX_NODES:
            continue
        flat, refs = _expand(part, ctx, refs, depth + 1)
        if flat is not None:
            merged = _merge(merged, flat)
    return merged, refs


def _resolve(root: JSON, ref: str) -> object:
    """Follow a local JSON Pointer ref (`#/$defs/X`, `#/definitions/X`, any nested path) into `root`."""
    if not ref.startswith("#"):
        return None
    pointer = unquote(ref[1:])
    if not pointer:
        return root
    if not pointer.startswith("/"):
        return None
    target: object = root
    for token in pointer[1:].split("/"):
        key = token.replace("~1", "/").replace("~0", "~")
        if isinstance(target, dict):
            target = target.get(key)
        elif isinstance(target, list) and key.isdigit() and int(key) < len(target):
            target = target[int(key)]
        else:
            return None
    return target


def _merge(first: JSON, second: JSON) -> JSON:
    """Approximate allOf: `first` wins conflicts, properties and required are unioned."""
    out = dict(first)
    for key, value in second.items():
        mine = out.get(key)
        if key not in out:
            out[key] = value
        elif key == "properties" and isinstance(mine, dict) and isinstance(value, dict):
            props = dict(mine)
            for name, sub in value.items():
                # A property both sides define must satisfy both; cleaning it merges the pair in turn.
                props[name] = {"allOf": [props[name], sub]} if name in props else sub
            out[key] = props
        elif key == "required" and isinstance(mine, list) and isinstance(value, list):
            out[key] = mine + [name for name in value if name not in mine]
    return out


def _clean_union(node: JSON, alternatives: list[object], ctx: _Ctx, depth: int, refs: frozenset[str]) -> JSON | None:
    """anyOf/oneOf: null alternatives become `nullable`, one survivor is inlined, several stay an anyOf."""
    rest = {k: v for k, v in node.items() if k not in ("anyOf", "oneOf")}
    nullable = rest.get("nullable") is True
    options: list[tuple[JSON, frozenset[str]]] = []
    for alt in alternatives:
        if alt is False:
            continue
        if not isinstance(alt, dict):
            return _clean({**rest, "nullable": nullable}, ctx, depth, refs)  # a `true` branch admits anything
        flat, alt_refs = _expand(alt, ctx, refs, depth)
        if flat is not None and _is_null(flat):
            nullable = True
        else:
            options.append((dict(_CUT) if flat is None else flat, alt_refs))
    meta = {k: v for k, v in rest.items() if k in _ANNOTATIONS and k != "nullable"}
    structural = {k: v for k, v in rest.items() if k not in _ANNOTATIONS}
    if not options:
        return _clean({**rest, "nullable": nullable}, ctx, depth, refs)
    if structural:
        # {type: object, properties: …, anyOf: [{required: [a]}, …]} means each branch AND the shared part.
        options = [(_merge(alt, structural), alt_refs) for alt, alt_refs in options]
    if len(options) == 1:
        alt, alt_refs = options[0]
        return _clean({**_merge(meta, alt), "nullable": nullable or alt.get("nullable") is True}, ctx, depth, alt_refs)
    cleaned: list[JSON] = []
    for alt, alt_refs in options:
        branch = _clean(alt, ctx, depth + 1, alt_refs)
        if branch == {}:
            return _clean_single({**meta, "nullable": nullable}, None, False, ctx, depth, refs)
        if branch is None:
            continue
        nested = branch.get("anyOf")
        cleaned.extend(nested if isinstance(nested, list) and set(branch) == {"anyOf"} else [branch])
    if nullable:
        # OpenAPI 3.0 ignores `nullable` beside no `type`, so it goes on every branch rather than the union.
        cleaned = [{**branch, "nullable": True} for branch in cleaned]
    if len(cleaned) < 2:
        head = _clean_single({**meta, "nullable": nullable and not cleaned}, None, False, ctx, depth, refs)
        return _merge(head, cleaned[0]) if cleaned else head
    return {**_clean_single(meta, None, False, ctx, depth, refs), "anyOf": cleaned}


def _is_null(node: JSON) -> bool:
    if "const" in node:
        return node["const"] is None
    enum = node.get("enum")
    if isinstance(enum, list) and enum:
        return all(value is None for value in enum)
    return _types(node.get("type")) == ["null"]


def _types(value: object) -> list[str]:
    """Normalize `type` ("STRING" from Gemini SDKs, or a JSON Schema list) to known lower-case names."""
    names: list[str] = []
    for raw in value if isinstance(value, list) else [value]:
        name = raw.strip().lower() if isinstance(raw, str) else ""
        if name in _TYPES and name not in names:
            names.append(name)
    return names


def _clean_single(node: JSON, kind: str | None, nullable: bool, ctx: _Ctx, depth: int, refs: frozenset[str]) -> JSON:
    """Build the output for a schema of at most one non-null type, keeping only what that type allows."""
    values = [node["const"]] if "const" in node else node.get("enum")
    values = list(values) if isinstance(values, list) else []
    if None in values:
        nullable = True
        values = [value for value in values if value is not None]
    kind = kind or _infer_type(node, values)
    out: JSON = {"type": kind} if kind else {}
    hints: list[str] = []
    fmt = node.get("format")
    if isinstance(fmt, str) and fmt:
        if fmt in _FORMATS.get(kind or "", ()):
            out["format"] = fmt
        else:
            hints.append(_hint("format", fmt))
    if values and kind == "string":
        out["enum"] = list(dict.fromkeys(_text(value) for value in values))
    elif values:
        # Gemini enums are strings only; for other types the allowed values survive as prose.
        hints.append(_hint("allowed values", ", ".join(_text(value) for value in values)))
    if kind == "object":
        out.update(_object_fields(node, ctx, depth, refs))
    elif kind == "array":
        out.update(_array_fields(node, ctx, depth, refs))
    elif kind in ("number", "integer"):
        out.update({k: node[k] for k in ("minimum", "maximum") if _is_number(node.get(k))})
    for key, kinds in _HINTED:
        value = node.get(key)
        # Draft-4 boolean exclusiveMinimum only modifies `minimum`, which is already kept; a null default
        # (Pydantic writes one for every Optional field) says no more than `nullable` does.
        if value is None or (key.startswith("exclusive") and isinstance(value, bool)):
            continue
        if not (kind and kinds and kind not in kinds):
            hints.append(_hint(key, value))
    text = node.get("description")
    text = text.strip() if isinstance(text, str) else ""
    if hints:
        text = f"{text} ({'; '.join(hints)})".strip()
    if text:
        out["description"] = text
    if nullable or node.get("nullable") is True:
        out["nullable"] = True
    return out


def _infer_type(node: JSON, values: list[Any]) -> str | None:
    """A type for schemas that leave it implicit, so type-specific keywords are not thrown away."""
    if isinstance(node.get("properties"), dict):
        return "object"
    if "items" in node or "prefixItems" in node:
        return "array"
    if not values:
        return None
    if all(isinstance(value, str) for value in values):
        return "string"
    if all(isinstance(value, bool) for value in values):
        return "boolean"
    if all(isinstance(value, int) and not isinstance(value, bool) for value in values):
        return "integer"
    if all(_is_number(value) for value in values):
        return "number"
    return None


def _object_fields(node: JSON, ctx: _Ctx, depth: int, refs: frozenset[str]) -> JSON:
    out: JSON = {}
    props: JSON = {}
    raw = node.get("properties")
    if isinstance(raw, dict):
        # Keys here are property names, never keywords: a property called `pattern` or `title` stays.
        for name, sub in raw.items():
            cleaned = _clean(sub, ctx, depth + 1, refs) if isinstance(name, str) else None
            if cleaned is not None:
                props[name] = cleaned
    if props:
        out["properties"] = props
        required = _names(node.get("required"), props)
        if required:
            out["required"] = required
        ordering = _names(node.get("propertyOrdering"), props)
        if len(ordering) == len(props):  # Gemini wants every property listed, so a partial order is dropped
            out["propertyOrdering"] = ordering
    out.update({k: node[k] for k in ("minProperties", "maxProperties") if _is_count(node.get(k))})
    return out


def _array_fields(node: JSON, ctx: _Ctx, depth: int, refs: frozenset[str]) -> JSON:
    raw = node.get("items")
    prefix = node.get("prefixItems")
    if isinstance(prefix, list) and prefix:
        raw = prefix[0]  # tuples have no Gemini form; the first position is the best single guess
    elif isinstance(raw, list):
        raw = raw[0] if raw else None
    items = (_clean(raw, ctx, depth + 1, refs) if raw is not None else None) or {}
    if "type" not in items and "anyOf" not in items:
        # Gemini rejects ARRAY schemas whose items are missing or untyped ("items: missing field").
        items = {"type": "string", **items}
    out: JSON = {"items": items}
    out.update({k: node[k] for k in ("minItems", "maxItems") if _is_count(node.get(k))})
    return out


def _names(value: object, props: JSON) -> list[str]:
    if not isinstance(value, list):
        return []
    return list(dict.fromkeys(name for name in value if isinstance(name, str) and name in props))


def _is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -_INT64 <= value < _INT64
    return isinstance(value, float) and math.isfinite(value)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < _INT64


def _hint(key: str, value: object) -> str:
    text = _text(value)
    if len(text) > _HINT_CHARS:
        text = text[: _HINT_CHARS - 1] + "…"
    return f"{key}: {text}"


def _text(value: object) -> str:
    """Render a JSON value for an enum or a hint: strings as they are, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str, skipkeys=True)
    except (ValueError, TypeError, RecursionError):
        return str(value)
