"""What the simulator answers: the deterministic default reply, and a script step's overrides of it."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any, Final

import orjson

from poolgate.simulator import pictures, speech
from poolgate.simulator.script import FunctionCallSpec, Step

THINKING_TEXT: Final = "Let me think about that."
_CALL_TOOL = re.compile(r"CALL_TOOL[ \t]+(\S+)[ \t]+(.*)$", re.MULTILINE)
# `REPLY_WITH <text>` in the last user text makes the answer exactly <text> (for clients that wrap the prompt).
_REPLY_WITH = re.compile(r"REPLY_WITH[ \t]+(.*?)[ \t]*$", re.MULTILINE)
# Gemini's per-image rate; any inline blob is counted as one image.
_BLOB_TOKENS: Final = 258
_ECHO_LIMIT: Final = 200
_JSON_ECHO_LIMIT: Final = 40
_SCHEMA_DEPTH: Final = 8


@dataclass(frozen=True, slots=True)
class Reply:
    """The content of one answer, before it is laid out as a response body or stream chunks."""

    text: str
    thoughts: str | None = None
    function_calls: tuple[FunctionCallSpec, ...] = ()
    finish_reason: str = "STOP"
    usage: dict[str, Any] | None = None
    candidate_count: int = 1
    logprobs: int | None = None  # None: not asked; else alternatives per token
    grounding: dict[str, Any] | None = None  # Google Search metadata, when the request offered search
    media: dict[str, Any] | None = None  # the inlineData part of a drawn picture or of spoken audio


def reply_for(model: str, body: dict[str, Any], step: Step | None) -> Reply:
    """The default reply, with whatever the step overrides."""
    text, calls = _default_answer(model, body)
    thoughts = THINKING_TEXT if _wants_thoughts(body) else None
    finish = "STOP"
    usage: dict[str, Any] | None = None
    if step is not None:
        if step.text is not None or step.function_calls is not None:
            text = step.text or ""
            calls = step.function_calls or ()
        if step.thoughts is not None:
            thoughts = step.thoughts
        if step.finish_reason is not None:
            finish = step.finish_reason
        usage = step.usage
    media, media_tokens = None, 0
    # A scripted text or finish reason stands for a refusal: pictures and speech are made only when neither is set.
    unscripted = step is None or (step.text is None and step.finish_reason is None)
    if unscripted and pictures.wants_image(model, body):
        media, media_tokens = pictures.draw(body), pictures.IMAGE_TOKENS
    elif unscripted and speech.wants_speech(model, body):
        media, media_tokens = speech.speak(body)
    if media is not None:
        text, calls = "", ()
    if usage is None:
        usage = compute_usage(body, text, calls, thoughts)
        if media is not None:
            usage["candidatesTokenCount"] = media_tokens
            usage["totalTokenCount"] = usage["promptTokenCount"] + media_tokens
    grounding = grounding_for(_last_user_text(_contents(body)), text) if _offers_search(body) else None
    return Reply(text, thoughts, calls, finish, usage, _candidate_count(body), wants_logprobs(body), grounding, media)


def grounding_for(query: str, text: str) -> dict[str, Any] | None:
    """What Gemini attaches to a searched answer: the query, two sources, and the answer text backed by both.

    The sources are under example.com (nothing is fetched); offsets count UTF-8 bytes, as Gemini's do.
    """
    query = " ".join(query.split())[:_ECHO_LIMIT]
    if not query or not text:
        return None
    slug = re.sub(r"[^a-z0-9]+", "-", query.lower()).strip("-")[:40] or "q"
    return {
        "webSearchQueries": [query],
        "groundingChunks": [
            {"web": {"uri": f"https://example.com/search/{slug}/1", "title": "example.com"}},
            {"web": {"uri": f"https://news.example.com/search/{slug}/2", "title": "news.example.com"}},
        ],
        "groundingSupports": [
            {"segment": {"endIndex": len(text.encode()), "text": text}, "groundingChunkIndices": [0, 1]},
        ],
    }


def prompt_tokens(body: dict[str, Any]) -> int:
    """A cheap stand-in for a tokenizer: a quarter of the request's characters (text, calls, tools), 258 per blob."""
    chars = 0
    for content in _contents(body):
        for part in _parts(content):
            text = part.get("text")
            if isinstance(text, str):
                chars += len(text)
    blobs = prompt_blobs(body)
    for content in _contents(body):
        for part in _parts(content):
            for key in ("functionCall", "functionResponse"):
                if isinstance(part.get(key), dict):
                    chars += len(orjson.dumps(part[key]))
    system = body.get("systemInstruction") or body.get("system_instruction")
    if isinstance(system, dict):
        for part in _parts(system):
            text = part.get("text")
            if isinstance(text, str):
                chars += len(text)
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        chars += len(orjson.dumps(tools))
    return max(1, chars // 4 + blobs * _BLOB_TOKENS)


def prompt_blobs(body: dict[str, Any]) -> int:
    return len(_blob_mimes(body))


def _blob_mimes(body: dict[str, Any]) -> list[str]:
    mimes: list[str] = []
    for content in _contents(body):
        for part in _parts(content):
            blob = part.get("inlineData") or part.get("fileData")
            if isinstance(blob, dict):
                mimes.append(str(blob.get("mimeType") or ""))
    return mimes


def _modality(mime: str) -> str:
    kind = mime.split("/", 1)[0]
    return {"image": "IMAGE", "audio": "AUDIO", "video": "VIDEO"}.get(kind, "DOCUMENT")


def compute_usage(
    body: dict[str, Any], text: str, calls: tuple[FunctionCallSpec, ...], thoughts: str | None
) -> dict[str, Any]:
    prompt = prompt_tokens(body)
    answer_chars = len(text) + sum(len(c.name) + len(orjson.dumps(c.args)) for c in calls)
    candidates = max(1, answer_chars // 4)
    usage: dict[str, Any] = {"promptTokenCount": prompt, "candidatesTokenCount": candidates}
    mimes = _blob_mimes(body)
    if mimes:
        per_kind: dict[str, int] = {}
        for mime in mimes:
            per_kind[_modality(mime)] = per_kind.get(_modality(mime), 0) + _BLOB_TOKENS
        details = [{"modality": "TEXT", "tokenCount": prompt - len(mimes) * _BLOB_TOKENS}]
        usage["promptTokensDetails"] = details + [{"modality": k, "tokenCount": v} for k, v in per_kind.items()]
    total = prompt + candidates
    if thoughts:
        usage["thoughtsTokenCount"] = max(1, len(thoughts) // 4)
        total += usage["thoughtsTokenCount"]
    usage["totalTokenCount"] = total
    return usage


def _default_answer(model: str, body: dict[str, Any]) -> tuple[str, tuple[FunctionCallSpec, ...]]:
    contents = _contents(body)
    if contents:
        for part in _parts(contents[-1]):
            response = part.get("functionResponse")
            if isinstance(response, dict):
                return "Tool result: " + orjson.dumps(response.get("response")).decode(), ()
    user_text = _last_user_text(contents)
    heard = _audio_answer(contents[-1], user_text) if contents else None
    if heard is not None:
        return heard, ()
    calls = _tool_calls(user_text, body)
    if calls:
        return "", calls
    config = _generation_config(body)
    reply = _REPLY_WITH.search(user_text)
    if reply is not None and reply.group(1):
        return reply.group(1), ()
    mime = config.get("responseMimeType") or config.get("response_mime_type")
    if mime == "application/json":
        return _json_answer(config, user_text), ()
    return f"Hello from the simulator (model {model}). You said: {user_text[:_ECHO_LIMIT]}", ()


def _audio_answer(content: dict[str, Any], user_text: str) -> str | None:
    """What the simulator 'hears' in an audio part: its size and type (or the text REPLY_WITH names)."""
    for part in _parts(content):
        blob = part.get("inlineData")
        if isinstance(blob, dict) and str(blob.get("mimeType") or "").startswith("audio/"):
            reply = _REPLY_WITH.search(user_text)
            if reply is not None and reply.group(1):
                return reply.group(1)
            size = len(base64.b64decode(str(blob.get("data") or "")))
            what = "English translation" if "into English" in user_text else "Transcript"
            return f"{what} of {size} bytes of {blob.get('mimeType')} audio."
    return None


def _tool_calls(user_text: str, body: dict[str, Any]) -> tuple[FunctionCallSpec, ...]:
    """One call per `CALL_TOOL <name> <json>` line naming a declared function: several lines, parallel calls."""
    declared = _declared_functions(body)
    calls: list[FunctionCallSpec] = []
    for match in _CALL_TOOL.finditer(user_text):
        name, raw_args = match.group(1), match.group(2).strip()
        if name not in declared:
            continue
        try:
            args = orjson.loads(raw_args) if raw_args else {}
        except orjson.JSONDecodeError:
            continue
        calls.append(FunctionCallSpec(name=name, args=args if isinstance(args, dict) else {"value": args}))
    return tuple(calls)


def wants_logprobs(body: dict[str, Any]) -> int | None:
    """None unless responseLogprobs is set; then how many alternatives per token were asked for."""
    config = _generation_config(body)
    if config.get("responseLogprobs") is not True:
        return None
    top = config.get("logprobs")
    return top if isinstance(top, int) and not isinstance(top, bool) and top > 0 else 0


def missing_signature(model: str, body: dict[str, Any]) -> str | None:
    """Gemini 3's check: the first call of each model step in the current turn must carry its signature."""
    if not model.startswith("gemini-3"):
        return None
    contents = _contents(body)
    start = 0
    for i, content in enumerate(contents):
        if content.get("role", "user") != "model" and any("functionResponse" not in p for p in _parts(content)):
            start = i + 1
    for i, content in enumerate(contents[start:], start):
        if content.get("role") != "model":
            continue
        for part in _parts(content):
            if "functionCall" in part:
                if not part.get("thoughtSignature"):
                    return (
                        f"Function call is missing a thought_signature in functionCall parts. This is required "
                        f"for tools to work correctly, and missing thought_signature may lead to degraded model "
                        f"performance. Additional data, function call `default_api:{part['functionCall'].get('name')}` "
                        f", position {i + 1}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures "
                        f"for more details."
                    )
                break
    return None


def _declared_functions(body: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    tools = body.get("tools")
    if not isinstance(tools, list):
        return names
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        decls = tool.get("functionDeclarations") or tool.get("function_declarations") or []
        for decl in decls if isinstance(decls, list) else []:
            if isinstance(decl, dict) and isinstance(decl.get("name"), str):
                names.add(decl["name"])
    return names


def _offers_search(body: dict[str, Any]) -> bool:
    tools = body.get("tools")
    return isinstance(tools, list) and any(
        isinstance(t, dict) and ("googleSearch" in t or "google_search" in t) for t in tools
    )


def _json_answer(config: dict[str, Any], user_text: str) -> str:
    schema = config.get("responseJsonSchema") or config.get("responseSchema") or config.get("response_schema")
    if isinstance(schema, dict):
        value = sample_for_schema(schema)
        if value is not None:
            return orjson.dumps(value).decode()
    return orjson.dumps({"answer": user_text[:_JSON_ECHO_LIMIT]}).decode()


def sample_for_schema(schema: dict[str, Any], depth: int = 0) -> Any:
    """A plausible value for a JSON schema or Gemini OpenAPI-subset schema (types in either case)."""
    if depth > _SCHEMA_DEPTH:
        return None
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for combo in ("anyOf", "oneOf", "allOf"):
        options = schema.get(combo)
        if isinstance(options, list) and options and isinstance(options[0], dict):
            return sample_for_schema(options[0], depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if isinstance(k, str) and k.lower() != "null"), None)
    kind = kind.lower() if isinstance(kind, str) else ("object" if "properties" in schema else None)
    if kind == "string":
        return "x"
    if kind in ("number", "integer"):
        return 1
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        props = schema.get("properties")
        props = props if isinstance(props, dict) else {}
        required = schema.get("required")
        names = [n for n in required if n in props] if isinstance(required, list) else list(props)
        return {
            name: sample_for_schema(props[name], depth + 1) if isinstance(props[name], dict) else None for name in names
        }
    return None


def _contents(body: dict[str, Any]) -> list[dict[str, Any]]:
    contents = body.get("contents")
    if not isinstance(contents, list):
        return []
    return [c for c in contents if isinstance(c, dict)]


def _parts(content: dict[str, Any]) -> list[dict[str, Any]]:
    parts = content.get("parts")
    if not isinstance(parts, list):
        return []
    return [p for p in parts if isinstance(p, dict)]


def _last_user_text(contents: list[dict[str, Any]]) -> str:
    for content in reversed(contents):
        if content.get("role", "user") != "user":
            continue
        texts = [p["text"] for p in _parts(content) if isinstance(p.get("text"), str) and not p.get("thought")]
        if texts:
            return "\n".join(texts)
    return ""


def _generation_config(body: dict[str, Any]) -> dict[str, Any]:
    config = body.get("generationConfig") or body.get("generation_config")
    return config if isinstance(config, dict) else {}


def _wants_thoughts(body: dict[str, Any]) -> bool:
    thinking = _generation_config(body).get("thinkingConfig")
    return isinstance(thinking, dict) and thinking.get("includeThoughts") is True


def _candidate_count(body: dict[str, Any]) -> int:
    count = _generation_config(body).get("candidateCount")
    return count if isinstance(count, int) and not isinstance(count, bool) and 1 <= count <= 8 else 1
