"""A checker for the subset of Gemini's GenerateContentRequest schema that poolgate emits.

Written from Google's REST reference (Content, Part, Tool, FunctionDeclaration, Schema, ToolConfig,
GenerationConfig): unknown keys, wrong types and one-of violations fail with the offending path.
"""

from __future__ import annotations

import re
from typing import Any

PART_DATA = (
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
)
PART_KEYS = {*PART_DATA, "thought", "thoughtSignature", "videoMetadata"}
SCHEMA_TYPES = {"string", "number", "integer", "boolean", "array", "object", "null"}
SCHEMA_KEYS = {
    "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties",
    "required", "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example", "anyOf",
    "propertyOrdering", "default", "items", "minimum", "maximum",
}  # fmt: skip
GEN_KEYS = {
    "stopSequences", "responseMimeType", "responseSchema", "responseJsonSchema", "candidateCount",
    "maxOutputTokens", "temperature", "topP", "topK", "seed", "presencePenalty", "frequencyPenalty",
    "responseLogprobs", "logprobs", "thinkingConfig", "responseModalities", "mediaResolution",
}  # fmt: skip
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$")


def _obj(value: Any, where: str, keys: set[str]) -> dict[str, Any]:
    assert isinstance(value, dict), f"{where}: expected an object"
    unknown = set(value) - keys
    assert not unknown, f"{where}: unknown keys {sorted(unknown)}"
    return value


def check_schema(node: Any, where: str, depth: int = 0) -> None:
    assert depth < 64, f"{where}: too deep"
    node = _obj(node, where, SCHEMA_KEYS)
    kind = node.get("type")
    if kind is not None:
        assert isinstance(kind, str) and kind.lower() in SCHEMA_TYPES, f"{where}.type: {kind!r}"
    if "enum" in node:
        assert isinstance(node["enum"], list) and all(isinstance(v, str) for v in node["enum"]), f"{where}.enum"
    props = node.get("properties")
    if props is not None:
        assert isinstance(props, dict), f"{where}.properties"
        for name, sub in props.items():
            check_schema(sub, f"{where}.properties.{name}", depth + 1)
    required = node.get("required")
    if required is not None:
        assert isinstance(required, list) and set(required) <= set(props or {}), f"{where}.required"
    if "items" in node:
        check_schema(node["items"], f"{where}.items", depth + 1)
    for i, sub in enumerate(node.get("anyOf") or []):
        check_schema(sub, f"{where}.anyOf[{i}]", depth + 1)
    for key in ("description", "title", "format", "pattern"):
        if key in node:
            assert isinstance(node[key], str), f"{where}.{key}"
    if "nullable" in node:
        assert isinstance(node["nullable"], bool), f"{where}.nullable"


def check_part(part: Any, where: str) -> None:
    part = _obj(part, where, PART_KEYS)
    data = [k for k in PART_DATA if k in part]
    assert len(data) == 1, f"{where}: exactly one data field expected, got {data}"
    if "text" in part:
        assert isinstance(part["text"], str) and part["text"], f"{where}.text: Gemini rejects empty text"
    if "thought" in part:
        assert isinstance(part["thought"], bool), f"{where}.thought"
    if "thoughtSignature" in part:
        sig = part["thoughtSignature"]
        assert isinstance(sig, str) and sig, f"{where}.thoughtSignature"
        assert sig not in ("skip_thought_signature_validator", "context_engineering_is_the_way_to_go"), where
    if "inlineData" in part:
        blob = _obj(part["inlineData"], f"{where}.inlineData", {"mimeType", "data"})
        assert isinstance(blob.get("mimeType"), str) and "/" in blob["mimeType"], f"{where}.inlineData.mimeType"
        assert isinstance(blob.get("data"), str), f"{where}.inlineData.data"
    if "fileData" in part:
        fd = _obj(part["fileData"], f"{where}.fileData", {"mimeType", "fileUri"})
        assert isinstance(fd.get("fileUri"), str), f"{where}.fileData.fileUri"
    if "functionCall" in part:
        fc = _obj(part["functionCall"], f"{where}.functionCall", {"name", "args", "id"})
        assert isinstance(fc.get("name"), str) and fc["name"], f"{where}.functionCall.name"
        assert isinstance(fc.get("args", {}), dict), f"{where}.functionCall.args"
    if "functionResponse" in part:
        fr = _obj(part["functionResponse"], f"{where}.functionResponse", {"name", "response", "id"})
        assert isinstance(fr.get("name"), str) and fr["name"], f"{where}.functionResponse.name"
        assert isinstance(fr.get("response"), dict), f"{where}.functionResponse.response"


def check_content(content: Any, where: str, system: bool = False) -> None:
    content = _obj(content, where, {"role", "parts"})
    if not system:
        assert content.get("role") in ("user", "model"), f"{where}.role"
    parts = content.get("parts")
    assert isinstance(parts, list) and parts, f"{where}.parts: expected a non-empty list"
    for i, part in enumerate(parts):
        check_part(part, f"{where}.parts[{i}]")
        if system:
            assert "text" in part, f"{where}.parts[{i}]: system instructions are text"


def check_request(req: Any) -> None:
    req = _obj(
        req, "request", {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig", "safetySettings"}
    )
    contents = req.get("contents")
    assert isinstance(contents, list) and contents, "contents: expected a non-empty list"
    for i, content in enumerate(contents):
        check_content(content, f"contents[{i}]")
    if "systemInstruction" in req:
        check_content(req["systemInstruction"], "systemInstruction", system=True)
    names: set[str] = set()
    for i, tool in enumerate(req.get("tools") or []):
        tool = _obj(tool, f"tools[{i}]", {"functionDeclarations", "googleSearch", "codeExecution", "urlContext"})
        for j, decl in enumerate(tool.get("functionDeclarations") or []):
            at = f"tools[{i}].functionDeclarations[{j}]"
            decl = _obj(decl, at, {"name", "description", "parameters", "parametersJsonSchema", "response"})
            assert isinstance(decl.get("name"), str) and NAME.match(decl["name"]), f"{at}.name"
            assert decl["name"] not in names, f"{at}.name: duplicate"
            names.add(decl["name"])
            if "parameters" in decl:
                check_schema(decl["parameters"], f"{at}.parameters")
                assert decl["parameters"].get("type") == "object", f"{at}.parameters.type"
    if "toolConfig" in req:
        tc = _obj(req["toolConfig"], "toolConfig", {"functionCallingConfig"})
        fcc = _obj(tc["functionCallingConfig"], "toolConfig.functionCallingConfig", {"mode", "allowedFunctionNames"})
        assert fcc.get("mode") in ("AUTO", "ANY", "NONE", "VALIDATED"), "toolConfig mode"
        if "allowedFunctionNames" in fcc:
            assert fcc["mode"] == "ANY", "allowedFunctionNames only with ANY"
            assert set(fcc["allowedFunctionNames"]) <= names, "allowedFunctionNames must be declared"
    if "generationConfig" in req:
        gen = _obj(req["generationConfig"], "generationConfig", GEN_KEYS)
        if "thinkingConfig" in gen:
            tc = _obj(gen["thinkingConfig"], "thinkingConfig", {"thinkingBudget", "thinkingLevel", "includeThoughts"})
            assert not ("thinkingBudget" in tc and "thinkingLevel" in tc), "thinkingConfig: budget or level, not both"
        if "candidateCount" in gen:
            assert 1 <= gen["candidateCount"] <= 8
        if "logprobs" in gen:
            assert gen.get("responseLogprobs") is True and 0 <= gen["logprobs"] <= 20
        if "responseSchema" in gen:
            check_schema(gen["responseSchema"], "generationConfig.responseSchema")
        for key in ("stopSequences",):
            if key in gen:
                assert isinstance(gen[key], list) and len(gen[key]) <= 5
