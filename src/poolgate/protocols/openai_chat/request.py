"""OpenAI Chat Completions request → hub (Gemini generateContent) request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from poolgate.errors import invalid
from poolgate.hub.types import JSON, Content, GenerateContentRequest, Part
from poolgate.protocols import fields

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


@dataclass(slots=True)
class ChatRequest:
    model: str
    hub: GenerateContentRequest
    stream: bool = False
    include_usage: bool = False
    n: int = 1
    session_hint: str = ""


def generation_config(body: dict[str, Any]) -> JSON:
    """Sampling fields shared by chat and legacy completions."""
    config: JSON = {}
    temperature = fields.opt_number(body, "temperature", lo=0, hi=2)
    if temperature is not None:
        config["temperature"] = temperature
    top_p = fields.opt_number(body, "top_p", lo=0, hi=1)
    if top_p is not None:
        config["topP"] = top_p
    max_tokens = fields.opt_int(body, "max_completion_tokens", lo=1)
    if max_tokens is None:
        max_tokens = fields.opt_int(body, "max_tokens", lo=1)
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    stop = fields.stop_sequences(body)
    if stop:
        config["stopSequences"] = stop[:5]
    seed = fields.opt_int(body, "seed")
    if seed is not None:
        config["seed"] = seed
    presence = fields.opt_number(body, "presence_penalty", lo=-2, hi=2)
    if presence is not None:
        config["presencePenalty"] = presence
    frequency = fields.opt_number(body, "frequency_penalty", lo=-2, hi=2)
    if frequency is not None:
        config["frequencyPenalty"] = frequency
    n = fields.opt_int(body, "n", lo=1)
    if n is not None and n > 1:
        if n > 8:
            raise invalid("'n' must be at most 8.", "n")
        config["candidateCount"] = n
    return config


def text_of(content: object, where: str) -> str:
    """Plain text of a message content that may be a string or a list of text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts: list[str] = []
        for i, part in enumerate(content):
            if not isinstance(part, dict):
                raise invalid(f"'{where}[{i}]' must be an object.", f"{where}[{i}]")
            if part.get("type") in ("text", "input_text", "output_text"):
                text = part.get("text")
                if not isinstance(text, str):
                    raise invalid(f"'{where}[{i}].text' must be a string.", f"{where}[{i}].text")
                texts.append(text)
        return "\n".join(texts)
    raise invalid(f"'{where}' must be a string or an array of content parts.", where)


def user_parts(content: object, where: str) -> list[Part]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}]
    if not isinstance(content, list):
        raise invalid(f"'{where}' must be a string or an array of content parts.", where)
    parts: list[Part] = []
    for i, item in enumerate(content):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise invalid(f"'{at}' must be an object.", at)
        kind = item.get("type")
        if kind == "text":
            text = item.get("text")
            if not isinstance(text, str):
                raise invalid(f"'{at}.text' must be a string.", f"{at}.text")
            parts.append({"text": text})
        elif kind == "image_url":
            parts.append(image_part(item.get("image_url"), f"{at}.image_url"))
        else:
            raise invalid(f"Unsupported content part type '{kind}' at '{at}.type'.", f"{at}.type")
    return parts


def image_part(spec: object, where: str) -> Part:
    url = spec.get("url") if isinstance(spec, dict) else spec
    if not isinstance(url, str) or not url:
        raise invalid(f"'{where}.url' must be a string.", f"{where}.url")
    if url.startswith("data:"):
        header, _, payload = url.partition(",")
        mime = header[5:].split(";")[0] or "image/png"
        if ";base64" not in header or not payload:
            raise invalid(f"'{where}.url' must be a base64 data URL.", f"{where}.url")
        return {"inlineData": {"mimeType": mime, "data": payload}}
    if url.startswith(("http://", "https://")):
        # Fetched later by the media fetcher (with its SSRF guard); the hub carries it as fileData.
        return {"fileData": {"mimeType": "image/*", "fileUri": url}}
    raise invalid(f"'{where}.url' must be a data: or http(s) URL.", f"{where}.url")


def _tool_calls(message: dict[str, Any], where: str) -> list[Part]:
    parts: list[Part] = []
    calls = fields.opt_list(message, "tool_calls", f"{where}.tool_calls") or []
    for i, call in enumerate(calls):
        at = f"{where}.tool_calls[{i}]"
        if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
            raise invalid(f"'{at}.function' must be an object.", f"{at}.function")
        fn = call["function"]
        name = fields.req_str(fn, "name", f"{at}.function.name")
        raw_args = fn.get("arguments") or "{}"
        try:
            args = orjson.loads(raw_args) if isinstance(raw_args, str) else raw_args
        except orjson.JSONDecodeError:
            args = {"_raw": raw_args}
        part: Part = {"functionCall": {"name": name, "args": args if isinstance(args, dict) else {"value": args}}}
        if isinstance(call.get("id"), str):
            part["functionCall"]["id"] = call["id"]
        parts.append(part)
    return parts


def _append(contents: list[Content], role: str, parts: list[Part]) -> None:
    if not parts:
        return
    if contents and contents[-1].get("role") == role:
        contents[-1].setdefault("parts", []).extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def messages_to_contents(messages: list[Any]) -> tuple[list[Content], list[str]]:
    """Contents (same-role turns merged) and the system texts, from OpenAI messages."""
    system: list[str] = []
    contents: list[Content] = []
    call_names: dict[str, str] = {}
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise invalid(f"'{where}' must be an object.", where)
        role = message.get("role")
        if role not in ROLES:
            raise invalid(f"'{where}.role' must be one of {', '.join(sorted(ROLES))}.", f"{where}.role")
        content = message.get("content")
        if role in ("system", "developer"):
            text = text_of(content, f"{where}.content")
            if text:
                system.append(text)
        elif role == "user":
            _append(contents, "user", user_parts(content, f"{where}.content"))
        elif role == "assistant":
            parts: list[Part] = []
            text = text_of(content, f"{where}.content")
            if text:
                parts.append({"text": text})
            calls = _tool_calls(message, where)
            for part in calls:
                fc = part["functionCall"]
                if "id" in fc:
                    call_names[fc["id"]] = fc["name"]
            parts.extend(calls)
            _append(contents, "model", parts)
        else:
            call_id = message.get("tool_call_id") if role == "tool" else None
            name = message.get("name") or (call_names.get(call_id, "") if isinstance(call_id, str) else "")
            text = text_of(content, f"{where}.content")
            try:
                response = orjson.loads(text) if text else {}
            except orjson.JSONDecodeError:
                response = None
            if not isinstance(response, dict):
                response = {"result": text if response is None else response}
            fr: dict[str, Any] = {"name": str(name or "tool"), "response": response}
            if isinstance(call_id, str):
                fr["id"] = call_id
            _append(contents, "user", [{"functionResponse": fr}])  # type: ignore[typeddict-item]
    return contents, system


def to_hub(body: dict[str, Any]) -> ChatRequest:
    model = fields.req_str(body, "model")
    messages = fields.opt_list(body, "messages")
    if not messages:
        raise invalid("'messages' must be a non-empty array.", "messages")
    contents, system = messages_to_contents(messages)
    if not contents:
        raise invalid("'messages' must contain at least one user or assistant message.", "messages")
    hub: GenerateContentRequest = {"contents": contents}
    if system:
        hub["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    config = generation_config(body)
    if config:
        hub["generationConfig"] = config
    stream = bool(fields.opt_bool(body, "stream"))
    options = fields.opt_dict(body, "stream_options") or {}
    hint = ""
    for key in ("prompt_cache_key", "user", "safety_identifier"):
        value = body.get(key)
        if isinstance(value, str) and value:
            hint = f"{key}:{value}"
            break
    return ChatRequest(
        model=model,
        hub=hub,
        stream=stream,
        include_usage=bool(options.get("include_usage")),
        n=int(config.get("candidateCount", 1)),
        session_hint=hint,
    )
