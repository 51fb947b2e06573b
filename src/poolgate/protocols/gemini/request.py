"""Gemini-native requests: the client's body, edited only where the upstream needs it.

Everything else (fields poolgate does not know, safety settings, cached content, future additions)
is forwarded untouched: the body is copied on write, so untouched subtrees are the client's objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from poolgate.errors import ErrorKind, GatewayError, invalid
from poolgate.hub.signatures import PLACEHOLDERS, SignatureStore
from poolgate.hub.types import JSON
from poolgate.protocols.gemini.embed import BATCH_EMBED, EMBED
from poolgate.protocols.schema import sanitize_tool_parameters

GENERATE, STREAM, COUNT = "generateContent", "streamGenerateContent", "countTokens"
METHODS = frozenset({GENERATE, STREAM, COUNT, EMBED, BATCH_EMBED})


@dataclass(frozen=True, slots=True)
class Action:
    model: str
    method: str


def parse_action(tail: str) -> Action:
    """`gemini-2.5-flash:generateContent` (the path after `models/`) → model and method.

    Token counting is also accepted as `gemini-2.5-flash/countTokens`, a spelling some clients use.
    """
    model, slash, last = tail.rpartition("/")
    if slash and last == COUNT and model and "/" not in model and ":" not in model:
        return Action(model, COUNT)
    model, sep, method = tail.rpartition(":")
    if not sep or not model or "/" in model:
        raise GatewayError(
            ErrorKind.NOT_FOUND,
            f"Unknown route models/{tail}. Expected models/MODEL:generateContent, :streamGenerateContent, "
            ":countTokens, :embedContent or :batchEmbedContents.",
        )
    if method not in METHODS:
        raise GatewayError(
            ErrorKind.NOT_FOUND,
            f"Method '{method}' is not supported.{_WHY_NOT.get(method, '')} Use generateContent, "
            "streamGenerateContent, countTokens, embedContent or batchEmbedContents.",
        )
    return Action(model, method)


_JOBS = (
    " It starts a job that one upstream account keeps and is polled for later, which a pool that spreads"
    " requests over accounts cannot follow."
)
# Methods a client may well try, and why the pool does not serve them.
_WHY_NOT = {
    "batchGenerateContent": _JOBS,
    "asyncBatchEmbedContent": _JOBS,
    "predictLongRunning": _JOBS,
    "predict": " Imagen's predict is not served here; OpenAI's POST /v1/images/generations draws with Gemini's image models.",
}


def _sanitize_declaration(decl: Any) -> Any:
    if not isinstance(decl, dict):
        return decl
    if "parameters" not in decl and "parametersJsonSchema" not in decl:
        return decl
    out = {k: v for k, v in decl.items() if k not in ("parameters", "parametersJsonSchema")}
    # parametersJsonSchema becomes `parameters` once cleaned: the Cloud Code backend knows only that.
    source = decl["parameters"] if "parameters" in decl else decl["parametersJsonSchema"]
    cleaned = sanitize_tool_parameters(source)
    if cleaned is not None:  # None: takes no arguments, which Gemini spells as no `parameters`
        out["parameters"] = cleaned
    return out


def sanitize_tools(tools: Any) -> Any:
    if not isinstance(tools, list):
        return tools
    out: list[Any] = []
    for tool in tools:
        decls = tool.get("functionDeclarations") if isinstance(tool, dict) else None
        if isinstance(decls, list):
            tool = dict(tool)
            tool["functionDeclarations"] = [_sanitize_declaration(d) for d in decls]
        out.append(tool)
    return out


def _restored_part(part: Any, store: SignatureStore, session: str) -> Any:
    if not isinstance(part, dict):
        return part
    call = part.get("functionCall")
    if not isinstance(call, dict):
        return part
    current = part.get("thoughtSignature") or part.get("thought_signature")
    if current and current not in PLACEHOLDERS:
        return part
    found = store.recall_call(session, call.get("id"), str(call.get("name") or ""), call.get("args"))
    if found is None:
        return part
    out = {k: v for k, v in part.items() if k != "thought_signature"}
    out["thoughtSignature"] = found
    return out


def restore_signatures(contents: Any, store: SignatureStore, session: str) -> Any:
    """Model-turn function calls replayed without their signature (or with a placeholder) get it back."""
    if not isinstance(contents, list):
        return contents
    out: list[Any] = []
    for content in contents:
        parts = content.get("parts") if isinstance(content, dict) else None
        if isinstance(parts, list) and content.get("role") == "model":
            new_parts = [_restored_part(p, store, session) for p in parts]
            if any(a is not b for a, b in zip(new_parts, parts, strict=True)):
                content = dict(content)
                content["parts"] = new_parts
        out.append(content)
    return out


def _check_content(content: Any, where: str) -> None:
    if not isinstance(content, dict):
        raise invalid(f"'{where}' must be a Content object.", where)
    parts = content.get("parts")
    if parts is None:
        return
    if not isinstance(parts, list):
        raise invalid(f"'{where}.parts' must be a list of Part objects.", f"{where}.parts")
    for n, part in enumerate(parts):
        if not isinstance(part, dict):
            raise invalid(f"'{where}.parts[{n}]' must be a Part object.", f"{where}.parts[{n}]")
        if "text" in part and not isinstance(part["text"], str):
            raise invalid(f"'{where}.parts[{n}].text' must be a string.", f"{where}.parts[{n}].text")


def validate(body: JSON) -> None:
    """The shapes poolgate itself reads (session key, signatures); the rest is the upstream's to judge."""
    contents = body.get("contents")
    if contents is not None:
        if not isinstance(contents, list):
            raise invalid("'contents' must be a list of Content objects.", "contents")
        for n, content in enumerate(contents):
            _check_content(content, f"contents[{n}]")
    system = body.get("systemInstruction")
    if system is not None:
        _check_content(system, "systemInstruction")
    inner = body.get("generateContentRequest")
    if inner is not None:
        if not isinstance(inner, dict):
            raise invalid("'generateContentRequest' must be an object.", "generateContentRequest")
        validate(inner)


def prepare(body: JSON) -> JSON:
    """The upstream body for generateContent and streamGenerateContent (call `validate` first).

    Signatures on the top-level contents are restored by the shared pipeline (`pipeline.make_call`).
    """
    out = dict(body)
    if "tools" in out:
        out["tools"] = sanitize_tools(out["tools"])
    return out


def prepare_count(body: JSON, model: str, store: SignatureStore, session: str) -> JSON:
    """countTokens: a nested generateContentRequest names the model too, so it must name the routed one.

    The pipeline restores signatures on the top-level contents only, so the nested request's are restored here.
    """
    out = prepare(body)
    inner = out.get("generateContentRequest")
    if isinstance(inner, dict):
        inner = prepare(inner)
        if "contents" in inner:
            inner["contents"] = restore_signatures(inner["contents"], store, session)
        inner["model"] = f"models/{model}"
        out["generateContentRequest"] = inner
    return out
