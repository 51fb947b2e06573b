"""Anthropic messages and content blocks → Gemini contents (parts in the client's order)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

import orjson

from poolgate.errors import invalid
from poolgate.hub.contents import append_turn
from poolgate.hub.types import Content, Part
from poolgate.protocols import fields
from poolgate.protocols.anthropic import signatures

# Claude Code writes this placeholder for an assistant turn that had no text; it is not model output.
NO_CONTENT = "(no content)"
_IGNORED_BLOCKS = frozenset({"server_tool_use", "web_search_tool_result", "web_fetch_tool_result"})
MAX_REPLAYED_RESULTS = 10


def searched_text(block: dict[str, Any], query: str) -> str | None:
    """A replayed web_search_tool_result as text the model can read: its sources (their content is opaque).

    Gemini cannot take Anthropic's server-tool blocks back, and dropping them would lose which pages an
    earlier answer relied on.
    """
    content = block.get("content")
    label = f'"{query}"' if query else "the earlier query"
    if isinstance(content, dict):
        code = content.get("error_code")
        return f"[Web search for {label} failed: {code}]" if isinstance(code, str) else None
    if not isinstance(content, list):
        return None
    lines: list[str] = []
    for result in content[:MAX_REPLAYED_RESULTS]:
        if isinstance(result, dict) and isinstance(result.get("url"), str):
            title = result.get("title") if isinstance(result.get("title"), str) else ""
            lines.append(
                f"{len(lines) + 1}. {title} <{result['url']}>" if title else f"{len(lines) + 1}. <{result['url']}>"
            )
    if not lines:
        return None
    return f"[Web search results for {label}]\n" + "\n".join(lines)


@dataclass(slots=True)
class Conversation:
    contents: list[Content] = field(default_factory=list)
    system: list[str] = field(default_factory=list)
    tool_names: dict[str, str] = field(default_factory=dict)
    # Media URL → the client field it came from, so a refused or failed download names what was sent.
    media_fields: dict[str, str] = field(default_factory=dict)


def _obj(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(f"'{where}' must be an object.", where)
    return value


def _str(block: dict[str, Any], key: str, where: str, *, allow_empty: bool = True) -> str:
    value = block.get(key)
    if not isinstance(value, str) or (not allow_empty and not value):
        raise invalid(f"'{where}.{key}' must be a {'non-empty ' if not allow_empty else ''}string.", f"{where}.{key}")
    return value


def system_texts(system: object, where: str = "system") -> list[str]:
    """`system` as a string or a list of text blocks (cache_control and citations are ignored)."""
    if system is None:
        return []
    if isinstance(system, str):
        return [system] if system else []
    if not isinstance(system, list):
        raise invalid(f"'{where}' must be a string or an array of text blocks.", where)
    texts: list[str] = []
    for i, block in enumerate(system):
        at = f"{where}[{i}]"
        block = _obj(block, at)
        if block.get("type") != "text":
            raise invalid(f"'{at}.type' must be 'text'.", f"{at}.type")
        text = _str(block, "text", at)
        if text:
            texts.append(text)
    return texts


def _base64(data: str, where: str) -> str:
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(f"'{where}' is not valid base64.", where) from None
    return data


def media_part(block: dict[str, Any], where: str, default_mime: str, refs: dict[str, str] | None = None) -> Part:
    """An image or document block: base64 → inlineData; URL → fileData (fetched later behind the SSRF guard,
    `refs` noting which field it came from)."""
    source = _obj(block.get("source"), f"{where}.source")
    kind = source.get("type")
    at = f"{where}.source"
    if kind == "base64":
        mime = _str(source, "media_type", at, allow_empty=False)
        data = _base64(_str(source, "data", at, allow_empty=False), f"{at}.data")
        return {"inlineData": {"mimeType": mime, "data": data}}
    if kind == "url":
        url = _str(source, "url", at, allow_empty=False)
        if not url.startswith(("http://", "https://")):
            raise invalid(f"'{at}.url' must be an http(s) URL.", f"{at}.url")
        if refs is not None:
            refs[url] = f"{at}.url"
        return {"fileData": {"fileUri": url, "mimeType": default_mime}}
    if kind == "text" and block.get("type") == "document":
        return {"text": _str(source, "data", at)}
    if kind == "content" and block.get("type") == "document":
        return {"text": "\n".join(_block_texts(source.get("content"), f"{at}.content"))}
    if kind == "file":
        raise invalid(
            f"'{at}' names an uploaded file (Files API), which poolgate does not keep; send the content as "
            "base64 or a URL instead.",
            f"{at}.type",
        )
    raise invalid(f"Unsupported {block.get('type')} source type '{kind}' at '{at}.type'.", f"{at}.type")


def _block_texts(content: object, where: str) -> list[str]:
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        raise invalid(f"'{where}' must be a string or an array of blocks.", where)
    texts: list[str] = []
    for i, block in enumerate(content):
        block = _obj(block, f"{where}[{i}]")
        if block.get("type") == "text":
            texts.append(_str(block, "text", f"{where}[{i}]"))
    return texts


def tool_result_parts(
    block: dict[str, Any], where: str, names: dict[str, str], refs: dict[str, str] | None = None
) -> list[Part]:
    """A functionResponse, plus any images or documents of the result as parts right after it."""
    tool_use_id = _str(block, "tool_use_id", where, allow_empty=False)
    content = block.get("content")
    texts: list[str] = []
    extra: list[Part] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for i, item in enumerate(content):
            at = f"{where}.content[{i}]"
            item = _obj(item, at)
            kind = fields.opt_str(item, "type", f"{at}.type")
            if kind == "text":
                texts.append(_str(item, "text", at))
            elif kind == "image":
                extra.append(media_part(item, at, "image/*", refs))
            elif kind == "document":
                extra.append(media_part(item, at, "application/pdf", refs))
            elif kind in ("search_result", "tool_reference"):
                texts.append(orjson.dumps(item).decode())
            else:
                raise invalid(f"Unsupported tool_result content type '{kind}' at '{at}.type'.", f"{at}.type")
    elif content is not None:
        raise invalid(f"'{where}.content' must be a string or an array of blocks.", f"{where}.content")
    text = "\n".join(texts)
    # Gemini's documented keys: "output" for a result, "error" for a failure.
    response = {"error": text} if block.get("is_error") is True else {"output": text}
    name = names.get(tool_use_id, tool_use_id)
    part: Part = {"functionResponse": {"name": name, "response": response, "id": tool_use_id}}
    return [part, *extra]


class _Assistant:
    """Builds one model turn; a `next` signature waits for the part it belongs to."""

    def __init__(self) -> None:
        self.parts: list[Part] = []
        self.pending: str | None = None

    def add(self, part: Part) -> None:
        if self.pending is not None:
            part["thoughtSignature"] = self.pending
            self.pending = None
        self.parts.append(part)

    def thinking(self, block: dict[str, Any], where: str) -> None:
        text = block.get("thinking")
        if not isinstance(text, str):
            raise invalid(f"'{where}.thinking' must be a string.", f"{where}.thinking")
        found = signatures.unwrap(block.get("signature"))
        if found is None:
            # Unsigned or foreign thinking: Gemini cannot verify it, and replaying it as text would
            # put words in the model's mouth, so it is left out.
            return
        kind, signature = found
        if kind == signatures.NEXT:
            self.pending = signature
        elif text:
            self.parts.append({"text": text, "thought": True, "thoughtSignature": signature})


def _user_parts(content: list[Any], where: str, conv: Conversation) -> list[Part]:
    parts: list[Part] = []
    for i, raw in enumerate(content):
        at = f"{where}[{i}]"
        block = _obj(raw, at)
        kind = fields.opt_str(block, "type", f"{at}.type")
        if kind == "text":
            text = _str(block, "text", at)
            if text:
                parts.append({"text": text})
        elif kind == "image":
            parts.append(media_part(block, at, "image/*", conv.media_fields))
        elif kind == "document":
            parts.append(media_part(block, at, "application/pdf", conv.media_fields))
        elif kind == "tool_result":
            parts.extend(tool_result_parts(block, at, conv.tool_names, conv.media_fields))
        elif kind == "search_result":
            parts.append({"text": "\n".join(_block_texts(block.get("content"), f"{at}.content"))})
        elif kind in ("thinking", "redacted_thinking") or kind in _IGNORED_BLOCKS:
            continue
        else:
            raise invalid(f"Unsupported content block type '{kind}' at '{at}.type'.", f"{at}.type")
    return parts


def _assistant_parts(content: list[Any], where: str, conv: Conversation) -> list[Part]:
    turn = _Assistant()
    queries: dict[str, str] = {}  # server_tool_use id → its query, for the result block that follows
    for i, raw in enumerate(content):
        at = f"{where}[{i}]"
        block = _obj(raw, at)
        kind = fields.opt_str(block, "type", f"{at}.type")
        if kind == "text":
            text = _str(block, "text", at)
            if text and text != NO_CONTENT:
                turn.add({"text": text})
        elif kind == "thinking":
            turn.thinking(block, at)
        elif kind == "tool_use":
            call_id = _str(block, "id", at, allow_empty=False)
            name = _str(block, "name", at, allow_empty=False)
            args = block.get("input")
            if args is None:
                args = {}
            if not isinstance(args, dict):
                raise invalid(f"'{at}.input' must be an object.", f"{at}.input")
            conv.tool_names[call_id] = name
            turn.add({"functionCall": {"name": name, "args": args, "id": call_id}})
        elif kind == "server_tool_use":
            args = block.get("input")
            query = args.get("query") if isinstance(args, dict) else None
            if isinstance(block.get("id"), str) and isinstance(query, str):
                queries[block["id"]] = query
        elif kind == "web_search_tool_result":
            replayed = searched_text(block, queries.get(str(block.get("tool_use_id")), ""))
            if replayed:
                turn.add({"text": replayed})
        elif kind == "redacted_thinking" or kind in _IGNORED_BLOCKS:
            continue
        elif kind in ("image", "document"):
            turn.add(media_part(block, at, "image/*" if kind == "image" else "application/pdf", conv.media_fields))
        else:
            raise invalid(f"Unsupported content block type '{kind}' at '{at}.type'.", f"{at}.type")
    return turn.parts


def convert(messages: list[Any]) -> Conversation:
    """Messages → contents; `system` messages inside the list (Claude Code sends one) join the system text."""
    conv = Conversation()
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        message = _obj(message, where)
        role = message.get("role")
        content = message.get("content")
        at = f"{where}.content"
        if role == "system":
            conv.system.extend(system_texts(content, at))
            continue
        if role not in ("user", "assistant"):
            raise invalid(f"'{where}.role' must be 'user' or 'assistant'.", f"{where}.role")
        if isinstance(content, str):
            blocks: list[Any] = [{"type": "text", "text": content}]
        elif isinstance(content, list):
            blocks = content
        else:
            raise invalid(f"'{at}' must be a string or an array of content blocks.", at)
        if role == "user":
            append_turn(conv.contents, "user", _user_parts(blocks, at, conv))
        else:
            append_turn(conv.contents, "model", _assistant_parts(blocks, at, conv))
    return conv
