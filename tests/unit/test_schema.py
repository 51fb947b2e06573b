"""Tests for protocols/schema.py: client JSON Schema -> Gemini Schema."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poolgate.protocols.schema import sanitize_schema, sanitize_tool_parameters

# Written out here rather than imported, so the tests are an independent statement of what Gemini accepts.
GEMINI_KEYS = frozenset(
    {
        "type",
        "format",
        "description",
        "nullable",
        "enum",
        "properties",
        "required",
        "propertyOrdering",
        "minProperties",
        "maxProperties",
        "items",
        "minItems",
        "maxItems",
        "minimum",
        "maximum",
        "anyOf",
    }
)
GEMINI_TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object"})


def walk(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every schema node in an output tree; keys under `properties` are names, so only their values recurse."""
    yield schema
    for sub in schema.get("properties", {}).values():
        yield from walk(sub)
    if "items" in schema:
        yield from walk(schema["items"])
    for sub in schema.get("anyOf", []):
        yield from walk(sub)


def assert_gemini_valid(schema: dict[str, Any]) -> None:
    for node in walk(schema):
        assert set(node) <= GEMINI_KEYS, set(node) - GEMINI_KEYS
        assert node.get("type", "string") in GEMINI_TYPES
        if "enum" in node:
            assert node["type"] == "string"
            assert node["enum"] and all(isinstance(v, str) for v in node["enum"])
        assert set(node.get("required", [])) <= set(node.get("properties", {}))
        if node.get("type") == "array":
            assert "type" in node["items"] or "anyOf" in node["items"]
        if "anyOf" in node:
            assert len(node["anyOf"]) >= 2


# --- empty and boolean schemas ----------------------------------------------------------------------------------


@pytest.mark.parametrize("schema", [None, {}, True, False, "string", 3, [], {"title": "Empty", "$schema": "x"}])
def test_empty_or_missing_schema_is_none(schema: object) -> None:
    assert sanitize_schema(schema) is None
    assert sanitize_tool_parameters(schema) is None


def test_boolean_subschemas() -> None:
    out = sanitize_schema(
        {"type": "object", "properties": {"any": True, "never": False, "s": {"type": "string"}}, "required": ["never"]}
    )
    assert out == {"type": "object", "properties": {"any": {}, "s": {"type": "string"}}}


# --- $ref / $defs / definitions ---------------------------------------------------------------------------------


def test_ref_to_defs_and_definitions_and_nested_path() -> None:
    schema = {
        "$defs": {"A": {"type": "string"}},
        "definitions": {"B": {"type": "integer"}, "a/b": {"type": "boolean"}},
        "type": "object",
        "properties": {
            "a": {"$ref": "#/$defs/A"},
            "b": {"$ref": "#/definitions/B"},
            "c": {"$ref": "#/properties/a"},
            "d": {"$ref": "#/definitions/a~1b"},
            "e": {"type": "array", "items": {"type": "number"}},
            "f": {"$ref": "#/properties/e/items"},
        },
    }
    props = sanitize_schema(schema)["properties"]  # type: ignore[index]
    assert props["a"] == {"type": "string"}
    assert props["b"] == {"type": "integer"}
    assert props["c"] == {"type": "string"}
    assert props["d"] == {"type": "boolean"}
    assert props["f"] == {"type": "number"}


def test_ref_siblings_win_over_target() -> None:
    schema = {
        "$defs": {"Color": {"type": "string", "enum": ["red"], "description": "shared"}},
        "properties": {"c": {"$ref": "#/$defs/Color", "description": "local"}},
    }
    assert sanitize_schema(schema)["properties"]["c"] == {  # type: ignore[index]
        "type": "string",
        "enum": ["red"],
        "description": "local",
    }


def test_unresolvable_ref_keeps_siblings() -> None:
    schema = {"properties": {"x": {"$ref": "https://example.com/s.json", "description": "remote"}, "y": {"$ref": 5}}}
    assert sanitize_schema(schema)["properties"] == {"x": {"description": "remote"}, "y": {}}  # type: ignore[index]


def test_self_recursive_ref_is_cut() -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#"}}},
    }
    out = sanitize_schema(schema)
    assert out == {
        "type": "object",
        "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {"type": "object"}}},
    }


def test_mutual_recursion_terminates() -> None:
    schema = {
        "$defs": {
            "A": {"type": "object", "properties": {"b": {"$ref": "#/$defs/B"}}},
            "B": {"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}, "loop": {"$ref": "#/$defs/C"}}},
            "C": {"$ref": "#/$defs/C"},
        },
        "$ref": "#/$defs/A",
    }
    out = sanitize_schema(schema)
    assert out == {
        "type": "object",
        "properties": {
            "b": {"type": "object", "properties": {"a": {"type": "object"}, "loop": {"type": "object"}}},
        },
    }


def test_shared_definition_is_expanded_at_every_use() -> None:
    schema = {
        "$defs": {"P": {"type": "object", "properties": {"x": {"type": "number"}}}},
        "properties": {"start": {"$ref": "#/$defs/P"}, "end": {"$ref": "#/$defs/P"}},
    }
    props = sanitize_schema(schema)["properties"]  # type: ignore[index]
    assert props["start"] == props["end"] == {"type": "object", "properties": {"x": {"type": "number"}}}


def test_ref_explosion_and_deep_nesting_are_bounded() -> None:
    defs: dict[str, Any] = {"L0": {"type": "string"}}
    for level in range(1, 30):
        defs[f"L{level}"] = {"properties": {str(i): {"$ref": f"#/$defs/L{level - 1}"} for i in range(10)}}
    deep: dict[str, Any] = {"type": "string"}
    for _ in range(5000):
        deep = {"type": "array", "items": deep}
    started = time.monotonic()
    assert sanitize_schema({"$defs": defs, "$ref": "#/$defs/L29"}) is not None
    assert sanitize_schema(deep) is not None
    assert time.monotonic() - started < 5


# --- nullable, unions, allOf ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "schema",
    [
        {"type": ["string", "null"]},
        {"type": ["null", "STRING"]},
        {"anyOf": [{"type": "string"}, {"type": "null"}]},
        {"oneOf": [{"type": "null"}, {"type": "string"}]},
        {"anyOf": [{"type": "string"}, {"const": None}]},
        {"type": "string", "nullable": True},
    ],
)
def test_null_alternative_becomes_nullable(schema: dict[str, Any]) -> None:
    assert sanitize_schema(schema) == {"type": "string", "nullable": True}


def test_union_of_several_types_stays_anyof() -> None:
    out = sanitize_schema(
        {
            "description": "id or name",
            "oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "title": "Name"}, {"type": "null"}],
        }
    )
    assert out == {
        "description": "id or name",
        "anyOf": [
            {"type": "integer", "minimum": 1, "nullable": True},
            {"type": "string", "nullable": True},
        ],
    }


def test_type_list_branches_keep_only_their_own_keywords() -> None:
    out = sanitize_schema({"type": ["string", "integer"], "minLength": 2, "maximum": 9, "description": "x"})
    assert out == {
        "description": "x",
        "anyOf": [{"type": "string", "description": "(minLength: 2)"}, {"type": "integer", "maximum": 9}],
    }


def test_single_alternative_is_inlined_with_outer_description() -> None:
    out = sanitize_schema({"description": "outer", "anyOf": [{"type": "string", "description": "inner"}]})
    assert out == {"type": "string", "description": "outer"}


def test_union_with_any_branch_is_unconstrained() -> None:
    assert sanitize_schema({"description": "d", "anyOf": [{"type": "string"}, {}]}) == {"description": "d"}


def test_shared_part_is_distributed_into_alternatives() -> None:
    out = sanitize_schema(
        {
            "type": "object",
            "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
            "oneOf": [{"required": ["id"]}, {"required": ["name"]}],
        }
    )
    assert out is not None
    assert [alt["required"] for alt in out["anyOf"]] == [["id"], ["name"]]
    assert all(alt["type"] == "object" and set(alt["properties"]) == {"id", "name"} for alt in out["anyOf"])


def test_all_of_merges_properties_and_required() -> None:
    out = sanitize_schema(
        {
            "$defs": {"Base": {"properties": {"id": {"type": "string"}}, "required": ["id"]}},
            "allOf": [
                {"$ref": "#/$defs/Base"},
                {"properties": {"id": {"description": "the id"}, "n": {"type": "integer"}}, "required": ["n", "id"]},
            ],
        }
    )
    assert out == {
        "type": "object",
        "properties": {"id": {"type": "string", "description": "the id"}, "n": {"type": "integer"}},
        "required": ["id", "n"],
    }


# --- enum and const ---------------------------------------------------------------------------------------------


def test_const_becomes_single_string_enum() -> None:
    assert sanitize_schema({"const": "fixed"}) == {"type": "string", "enum": ["fixed"]}
    assert sanitize_schema({"type": "string", "const": 5}) == {"type": "string", "enum": ["5"]}


def test_enum_values_are_strings_on_string_type() -> None:
    out = sanitize_schema({"type": "string", "enum": ["a", 1, True, "a", None]})
    assert out == {"type": "string", "enum": ["a", "1", "true"], "nullable": True}


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "integer", "enum": [1, 2, 3]}, {"type": "integer", "description": "(allowed values: 1, 2, 3)"}),
        ({"enum": [1.5, 2]}, {"type": "number", "description": "(allowed values: 1.5, 2)"}),
        ({"const": True}, {"type": "boolean", "description": "(allowed values: true)"}),
        ({"enum": ["a", 1]}, {"description": "(allowed values: a, 1)"}),
    ],
)
def test_non_string_enum_moves_to_description(schema: dict[str, Any], expected: dict[str, Any]) -> None:
    assert sanitize_schema(schema) == expected


# --- dropped, hinted and kept keywords --------------------------------------------------------------------------

DROPPED = [
    "$schema",
    "$id",
    "$comment",
    "additionalProperties",
    "title",
    "examples",
    "example",
    "patternProperties",
    "unevaluatedProperties",
    "dependentSchemas",
    "dependentRequired",
    "if",
    "then",
    "else",
    "not",
    "contentEncoding",
    "contentMediaType",
    "readOnly",
    "writeOnly",
    "deprecated",
    "propertyNames",
    "uniqueItems",
    "contains",
    "x-vendor",
]


@pytest.mark.parametrize("keyword", DROPPED)
def test_unsupported_keyword_is_dropped(keyword: str) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string", keyword: {"type": "string"}}}, keyword: True}
    assert sanitize_schema(schema) == {"type": "object", "properties": {"a": {"type": "string"}}}


@pytest.mark.parametrize(
    ("schema", "description"),
    [
        ({"type": "string", "pattern": "^a+$"}, "(pattern: ^a+$)"),
        ({"type": "string", "minLength": 1, "maxLength": 5}, "(minLength: 1; maxLength: 5)"),
        ({"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.5}, "(exclusiveMinimum: 0; multipleOf: 0.5)"),
        ({"type": "integer", "default": 3, "description": "Count."}, "Count. (default: 3)"),
        ({"type": "string", "format": "email"}, "(format: email)"),
        ({"type": "string", "pattern": "x" * 200}, "(pattern: " + "x" * 79 + "…)"),
    ],
)
def test_informative_constraints_become_description_hints(schema: dict[str, Any], description: str) -> None:
    out = sanitize_schema(schema)
    assert out is not None
    assert out["description"] == description


def test_null_default_and_draft4_exclusive_flag_add_no_hint() -> None:
    assert sanitize_schema({"type": "number", "minimum": 0, "exclusiveMinimum": True, "default": None}) == {
        "type": "number",
        "minimum": 0,
    }


def test_supported_bounds_are_kept() -> None:
    schema = {
        "type": "object",
        "minProperties": 1,
        "maxProperties": 3,
        "properties": {
            "n": {"type": "number", "minimum": -1.5, "maximum": 10},
            "l": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 4},
        },
    }
    assert sanitize_schema(schema) == schema


@pytest.mark.parametrize(
    ("kind", "fmt", "kept"),
    [
        ("string", "date-time", True),
        ("string", "enum", True),
        ("number", "float", True),
        ("number", "double", True),
        ("integer", "int32", True),
        ("integer", "int64", True),
        ("string", "uri", False),
        ("string", "int64", False),
        ("integer", "float", False),
    ],
)
def test_format_kept_only_where_gemini_supports_it(kind: str, fmt: str, kept: bool) -> None:
    out = sanitize_schema({"type": kind, "format": fmt})
    assert out == ({"type": kind, "format": fmt} if kept else {"type": kind, "description": f"(format: {fmt})"})


# --- types, objects, arrays -------------------------------------------------------------------------------------


def test_gemini_sdk_upper_case_types_are_normalized() -> None:
    schema = {
        "type": "OBJECT",
        "properties": {
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}},
            "n": {"type": "Integer", "format": "int32"},
        },
        "required": ["tags"],
    }
    assert sanitize_schema(schema) == {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"type": "string"}},
            "n": {"type": "integer", "format": "int32"},
        },
        "required": ["tags"],
    }


def test_unknown_type_name_is_dropped() -> None:
    assert sanitize_schema({"type": "any", "description": "d"}) == {"description": "d"}


def test_properties_without_type_make_an_object() -> None:
    assert sanitize_schema({"properties": {"a": {"type": "string"}}}) == {
        "type": "object",
        "properties": {"a": {"type": "string"}},
    }


def test_object_without_properties_stays_plain_object() -> None:
    assert sanitize_schema({"type": "object", "additionalProperties": {"type": "string"}}) == {"type": "object"}


def test_required_is_filtered_to_existing_properties() -> None:
    out = sanitize_schema({"properties": {"a": {}, "b": {}}, "required": ["b", "zzz", "b", 3]})
    assert out == {"type": "object", "properties": {"a": {}, "b": {}}, "required": ["b"]}


def test_property_ordering_kept_only_when_complete() -> None:
    props = {"a": {"type": "string"}, "b": {"type": "string"}}
    full = sanitize_schema({"properties": props, "propertyOrdering": ["b", "a"]})
    partial = sanitize_schema({"properties": props, "propertyOrdering": ["b"]})
    assert full is not None and full["propertyOrdering"] == ["b", "a"]
    assert partial is not None and "propertyOrdering" not in partial


@pytest.mark.parametrize(
    ("schema", "items"),
    [
        ({"type": "array", "items": {"type": "integer"}}, {"type": "integer"}),
        ({"type": "array", "items": [{"type": "integer"}, {"type": "string"}]}, {"type": "integer"}),
        ({"prefixItems": [{"type": "boolean"}], "items": {"type": "string"}}, {"type": "boolean"}),
        ({"type": "array"}, {"type": "string"}),
        ({"type": "array", "items": {"description": "anything"}}, {"type": "string", "description": "anything"}),
        ({"type": "array", "items": False}, {"type": "string"}),
    ],
)
def test_items(schema: dict[str, Any], items: dict[str, Any]) -> None:
    out = sanitize_schema(schema)
    assert out is not None
    assert out["type"] == "array"
    assert out["items"] == items


def test_property_names_that_look_like_keywords_are_kept() -> None:
    names = ["pattern", "title", "format", "default", "type", "$ref", "items", "properties", "required", "enum"]
    schema = {"type": "object", "properties": {name: {"type": "string"} for name in names}, "required": names}
    assert sanitize_schema(schema) == schema


# --- tool parameters ----------------------------------------------------------------------------------------------


def test_tool_parameters_wrap_non_object_schemas() -> None:
    assert sanitize_tool_parameters({"type": "string", "enum": ["a"]}) == {
        "type": "object",
        "properties": {"value": {"type": "string", "enum": ["a"]}},
        "required": ["value"],
    }


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {}, "required": []},
        {"type": "object", "additionalProperties": False, "$schema": "http://json-schema.org/draft-07/schema#"},
        {"type": "object", "properties": {"never": False}},
    ],
)
def test_tool_parameters_without_arguments_are_omitted(schema: dict[str, Any]) -> None:
    assert sanitize_tool_parameters(schema) is None


def test_tool_parameters_drop_top_level_nullable() -> None:
    out = sanitize_tool_parameters({"type": ["object", "null"], "properties": {"q": {"type": "string"}}})
    assert out == {"type": "object", "properties": {"q": {"type": "string"}}}


# --- real-world schemas -------------------------------------------------------------------------------------------

PYDANTIC_V2 = {
    "$defs": {
        "Address": {
            "properties": {
                "street": {"title": "Street", "type": "string"},
                "zip": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None, "title": "Zip"},
            },
            "required": ["street"],
            "title": "Address",
            "type": "object",
        },
        "Role": {"enum": ["admin", "user"], "title": "Role", "type": "string"},
    },
    "properties": {
        "name": {"description": "Full name", "maxLength": 50, "title": "Name", "type": "string"},
        "age": {"default": 18, "minimum": 0, "title": "Age", "type": "integer"},
        "role": {"$ref": "#/$defs/Role", "default": "user"},
        "addresses": {"items": {"$ref": "#/$defs/Address"}, "title": "Addresses", "type": "array"},
        "manager": {"anyOf": [{"$ref": "#/$defs/Address"}, {"type": "null"}], "default": None},
    },
    "required": ["name", "addresses"],
    "title": "User",
    "type": "object",
}


def test_pydantic_v2_model() -> None:
    address = {
        "type": "object",
        "properties": {"street": {"type": "string"}, "zip": {"type": "string", "nullable": True}},
        "required": ["street"],
    }
    assert sanitize_tool_parameters(PYDANTIC_V2) == {
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "Full name (maxLength: 50)"},
            "age": {"type": "integer", "minimum": 0, "description": "(default: 18)"},
            "role": {"type": "string", "enum": ["admin", "user"], "description": "(default: user)"},
            "addresses": {"type": "array", "items": address},
            "manager": {**address, "nullable": True},
        },
        "required": ["name", "addresses"],
    }


ZOD = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "minLength": 1, "description": "Search text"},
        "limit": {"type": "number", "exclusiveMinimum": 0, "maximum": 50, "default": 10},
        "filters": {
            "type": "object",
            "properties": {"lang": {"type": "string", "enum": ["en", "de"]}},
            "additionalProperties": False,
        },
        "mode": {"anyOf": [{"type": "string", "const": "fast"}, {"type": "string", "const": "slow"}]},
    },
    "required": ["query"],
    "additionalProperties": False,
    "$schema": "http://json-schema.org/draft-07/schema#",
}


def test_zod_to_json_schema_output() -> None:
    assert sanitize_tool_parameters(ZOD) == {
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "Search text (minLength: 1)"},
            "limit": {"type": "number", "maximum": 50, "description": "(exclusiveMinimum: 0; default: 10)"},
            "filters": {"type": "object", "properties": {"lang": {"type": "string", "enum": ["en", "de"]}}},
            "mode": {"anyOf": [{"type": "string", "enum": ["fast"]}, {"type": "string", "enum": ["slow"]}]},
        },
        "required": ["query"],
    }


def test_mcp_tool_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "File path"},
            "encoding": {"type": ["string", "null"], "default": None},
            "lines": {"type": "array", "items": {"type": ["integer", "null"]}},
        },
        "required": ["path"],
        "additionalProperties": False,
        "$schema": "http://json-schema.org/draft-07/schema#",
    }
    assert sanitize_tool_parameters(schema) == {
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "File path"},
            "encoding": {"type": "string", "nullable": True},
            "lines": {"type": "array", "items": {"type": "integer", "nullable": True}},
        },
        "required": ["path"],
    }


def test_recursive_tree_schema() -> None:
    schema = {
        "$defs": {
            "TreeNode": {
                "type": "object",
                "properties": {
                    "value": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/TreeNode"}},
                },
                "required": ["value"],
            }
        },
        "type": "object",
        "properties": {"root": {"$ref": "#/$defs/TreeNode"}},
    }
    out = sanitize_tool_parameters(schema)
    assert out is not None
    assert out["properties"]["root"]["properties"]["children"]["items"] == {"type": "object"}
    assert_gemini_valid(out)


def test_valid_gemini_schemas_pass_through_unchanged() -> None:
    for schema in (PYDANTIC_V2, ZOD):
        once = sanitize_schema(schema)
        assert once is not None
        assert_gemini_valid(once)
        assert sanitize_schema(once) == once


def test_input_is_not_mutated() -> None:
    for schema in (PYDANTIC_V2, ZOD):
        before = copy.deepcopy(schema)
        sanitize_tool_parameters(schema)
        assert schema == before


# --- property-based -----------------------------------------------------------------------------------------------

NAMES = st.sampled_from(["a", "b", "pattern", "title", "type", "default", "$ref", "items", "properties"])
TYPE_NAMES = st.sampled_from(
    ["string", "number", "integer", "boolean", "array", "object", "null", "STRING", "OBJECT", "Array", "any", ""]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
JSON_VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
)
REFS = st.sampled_from(
    ["#", "#/$defs/A", "#/$defs/B", "#/definitions/C", "#/properties/a", "#/$defs/missing", "other.json#/x", "#anchor"]
)
FORMATS = st.sampled_from(["date-time", "enum", "float", "int32", "int64", "email", "uri", ""])


def schema_nodes(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    keywords: dict[str, st.SearchStrategy[Any]] = {
        "type": TYPE_NAMES | st.lists(TYPE_NAMES, max_size=3),
        "properties": st.dictionaries(NAMES, children, max_size=3),
        "required": st.lists(NAMES | st.integers(), max_size=3),
        "items": children | st.lists(children, max_size=2),
        "prefixItems": st.lists(children, max_size=2),
        "anyOf": st.lists(children, max_size=3),
        "oneOf": st.lists(children, max_size=3),
        "allOf": st.lists(children, max_size=3),
        "not": children,
        "if": children,
        "then": children,
        "else": children,
        "additionalProperties": children,
        "patternProperties": st.dictionaries(st.text(max_size=3), children, max_size=2),
        "$ref": REFS | SCALARS,
        "enum": st.lists(JSON_VALUES, max_size=4),
        "const": JSON_VALUES,
        "format": FORMATS | SCALARS,
        "description": st.text(max_size=10) | SCALARS,
        "nullable": st.booleans(),
        "propertyOrdering": st.lists(NAMES, max_size=3),
        "default": JSON_VALUES,
        "examples": st.lists(JSON_VALUES, max_size=2),
        "title": st.text(max_size=5),
        "$schema": st.text(max_size=5),
        "pattern": st.text(max_size=5),
        "minLength": SCALARS,
        "maximum": SCALARS,
        "minimum": SCALARS,
        "minItems": SCALARS,
        "maxProperties": SCALARS,
        "exclusiveMinimum": SCALARS,
        "multipleOf": SCALARS,
        "readOnly": st.booleans(),
    }

    # Drawing a few keywords, then their values, is far cheaper for hypothesis than 30 optional keys.
    @st.composite
    def node(draw: st.DrawFn) -> dict[str, Any]:
        keys = draw(st.lists(st.sampled_from(sorted(keywords)), max_size=5, unique=True))
        return {key: draw(keywords[key]) for key in keys}

    return node()


SCHEMAS = st.recursive(st.booleans() | schema_nodes(st.just(True)), schema_nodes, max_leaves=25)
DOCUMENTS = st.builds(
    lambda node, a, b, c: (
        {**node, "$defs": {"A": a, "B": b}, "definitions": {"C": c}} if isinstance(node, dict) else node
    ),
    SCHEMAS,
    SCHEMAS,
    SCHEMAS,
    SCHEMAS,
)
PROPERTY_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(DOCUMENTS)
def test_property_output_is_valid_gemini_json_and_input_untouched(schema: Any) -> None:
    before = copy.deepcopy(schema)
    out = sanitize_schema(schema)
    assert schema == before  # deepcopy keeps float objects, so a NaN still compares equal by identity
    if out is not None:
        assert out
        assert_gemini_valid(out)
        orjson.dumps(out)


@PROPERTY_SETTINGS
@given(DOCUMENTS)
def test_property_tool_parameters_are_objects_with_properties(schema: Any) -> None:
    out = sanitize_tool_parameters(schema)
    if out is not None:
        assert out["type"] == "object"
        assert out["properties"]
        assert "nullable" not in out
        assert_gemini_valid(out)
        orjson.dumps(out)


@PROPERTY_SETTINGS
@given(DOCUMENTS)
def test_property_sanitizing_is_idempotent(schema: Any) -> None:
    once = sanitize_schema(schema)
    assert sanitize_schema(once) == once
