"""Responses input items → hub contents and system texts.

Reasoning items carry the Gemini thought signature in `encrypted_content` (prefixed so a foreign
blob, e.g. from OpenAI itself, is recognised and ignored). Clients such as Codex replay the whole
history with `store: false`; the signature is put back on the first model part after the item,
which is where Gemini expects it.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
from typing import Any

import orjson

from poolgate.errors import invalid
from poolgate.hub.types import Content, Part
from poolgate.protocols import fields, openai_tools
from poolgate.protocols.openai_chat.content import MediaRefs, image_part, part_objects, part_text
from poolgate.protocols.openai_responses.tools import NAMESPACE_SEP

SIGNATURE_PREFIX = "poolgate.sig.v1:"
# Items that describe server-side tool runs or context the upstream cannot use; skipped, not rejected.
_SKIPPED = frozenset(
    {
        "item_reference",
        "web_search_call",
        "file_search_call",
        "computer_call",
        "computer_call_output",
        "image_generation_call",
        "code_interpreter_call",
        "mcp_list_tools",
        "mcp_approval_request",
        "mcp_approval_response",
        "mcp_call",
    }
)


COMPACTION_PREFIX = "poolgate.compaction.v1:"
# What a replayed compaction item of ours becomes: a user turn with this line, then the summary.
COMPACTION_HEADING = "Summary of the conversation so far:"


def encode_compaction(summary: str) -> str:
    """A compaction summary as `encrypted_content` (see compaction.py)."""
    return COMPACTION_PREFIX + base64.b64encode(summary.encode()).decode()


def compaction_summary(blob: object) -> str | None:
    """The summary in a compaction item's `encrypted_content`, if poolgate made it."""
    if not isinstance(blob, str) or not blob.startswith(COMPACTION_PREFIX):
        return None
    try:
        return base64.b64decode(blob[len(COMPACTION_PREFIX) :], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None


def encode_signature(signature: str) -> str:
    return SIGNATURE_PREFIX + signature


def decode_signature(blob: object) -> str | None:
    if isinstance(blob, str) and blob.startswith(SIGNATURE_PREFIX) and len(blob) > len(SIGNATURE_PREFIX):
        return blob[len(SIGNATURE_PREFIX) :]
    return None


class _Builder:
    def __init__(self, refs: MediaRefs) -> None:
        self.refs = refs
        self.contents: list[Content] = []
        self.system: list[str] = []
        self.call_names: dict[str, str] = {}
        self.pending_signature: str | None = None

    def add(self, role: str, parts: list[Part]) -> None:
        if not parts:
            return
        if role == "model" and self.pending_signature:
            parts[0]["thoughtSignature"] = self.pending_signature
            self.pending_signature = None
        elif role == "user":
            self.pending_signature = None
        if self.contents and self.contents[-1].get("role") == role:
            self.contents[-1].setdefault("parts", []).extend(parts)
        else:
            self.contents.append({"role": role, "parts": parts})


def _file_part(part: dict[str, Any], at: str, refs: MediaRefs) -> Part:
    data = part.get("file_data")
    url = part.get("file_url")
    if isinstance(data, str) and data:
        if data.startswith("data:"):
            header, _, payload = data.partition(",")
            mime = header[5:].split(";")[0] or "application/octet-stream"
            return {"inlineData": {"mimeType": mime, "data": payload}}
        # A bare base64 payload: the filename is the only hint of its type.
        name = str(part.get("filename") or "")
        mime = "application/pdf" if name.lower().endswith(".pdf") or not name else "application/octet-stream"
        return {"inlineData": {"mimeType": mime, "data": data}}
    if isinstance(url, str) and url.startswith(("http://", "https://")):
        refs.fields.setdefault(url, f"{at}.file_url")
        guessed = mimetypes.guess_type(url.split("?", 1)[0])[0]
        return {"fileData": {"fileUri": url, "mimeType": guessed or "application/pdf"}}
    if part.get("file_id"):
        raise invalid(f"'{at}.file_id' is not supported; send the file as file_data or file_url.", f"{at}.file_id")
    raise invalid(f"'{at}' needs file_data or file_url.", at)


def content_parts(content: object, where: str, refs: MediaRefs) -> list[Part]:
    """Parts of a message's content: a string or input_text / output_text / input_image / input_file parts;
    `refs` notes the client field of each media URL."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts: list[Part] = []
    for at, part in part_objects(content, where):
        kind = fields.opt_str(part, "type", f"{at}.type")
        if kind in ("input_text", "output_text", "text", "summary_text", "reasoning_text"):
            text = part_text(part, at)
            if text:
                parts.append({"text": text})
        elif kind == "refusal":
            refusal = part.get("refusal")
            if isinstance(refusal, str) and refusal:
                parts.append({"text": refusal})
        elif kind == "input_image":
            if part.get("file_id") and not part.get("image_url"):
                raise invalid(f"'{at}.file_id' is not supported; send image_url.", f"{at}.file_id")
            parts.append(image_part(part.get("image_url"), f"{at}.image_url", refs))
        elif kind == "input_file":
            parts.append(_file_part(part, at, refs))
        elif kind == "input_audio":
            raise invalid(f"Audio input is not supported at '{at}'.", f"{at}.type")
        else:
            raise invalid(f"Unsupported content part type '{kind}' at '{at}.type'.", f"{at}.type")
    return parts


def _call_part(item: dict[str, Any], where: str, b: _Builder) -> Part:
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise invalid(f"'{where}.name' must be a non-empty string.", f"{where}.name")
    ns = item.get("namespace")
    if isinstance(ns, str) and ns:
        name = f"{ns}{NAMESPACE_SEP}{name}"
    raw = item.get("arguments")
    try:
        args = orjson.loads(raw) if isinstance(raw, str) and raw else {}
    except orjson.JSONDecodeError:
        args = {"_raw": raw}
    call: dict[str, Any] = {"name": name, "args": args if isinstance(args, dict) else {"value": args}}
    call_id = item.get("call_id")
    if isinstance(call_id, str) and call_id:
        call["id"] = call_id
        b.call_names[call_id] = name
    return {"functionCall": call}  # type: ignore[typeddict-item]


def _output_parts(item: dict[str, Any], where: str, b: _Builder) -> list[Part]:
    call_id = item.get("call_id")
    if not isinstance(call_id, str) or not call_id:
        raise invalid(f"'{where}.call_id' must be a non-empty string.", f"{where}.call_id")
    output = item.get("output")
    extra: list[Part] = []
    if isinstance(output, str):
        text = output
    elif isinstance(output, list):
        texts: list[str] = []
        for part in content_parts(output, f"{where}.output", b.refs):
            if "text" in part:
                texts.append(part["text"])
            else:
                extra.append(part)
        text = "\n".join(texts)
    else:
        raise invalid(f"'{where}.output' must be a string or an array of content parts.", f"{where}.output")
    try:
        parsed = orjson.loads(text) if text.lstrip().startswith("{") else None
    except orjson.JSONDecodeError:
        parsed = None
    response = parsed if isinstance(parsed, dict) else {"output": text}
    fr: dict[str, Any] = {"name": b.call_names.get(call_id, "tool"), "response": response, "id": call_id}
    return [{"functionResponse": fr}, *extra]  # type: ignore[typeddict-item]


def to_contents(
    raw: object, instructions: str | None, refs: MediaRefs | None = None
) -> tuple[list[Content], list[str]]:
    """Contents (same-role turns merged, signatures restored) and the system texts, in order; `refs`
    collects the client field of each media URL."""
    b = _Builder(refs if refs is not None else MediaRefs())
    if instructions:
        b.system.append(instructions)
    if isinstance(raw, str):
        b.add("user", [{"text": raw}])
        return b.contents, b.system
    if not isinstance(raw, list):
        raise invalid("'input' must be a string or an array of input items.", "input")
    for i, item in enumerate(raw):
        where = f"input[{i}]"
        if isinstance(item, str):
            b.add("user", [{"text": item}])
            continue
        if not isinstance(item, dict):
            raise invalid(f"'{where}' must be an object.", where)
        kind = fields.opt_str(item, "type", f"{where}.type") or ("message" if "role" in item else None)
        if kind == "message":
            role = fields.opt_str(item, "role", f"{where}.role")
            if role in ("system", "developer"):
                text = "\n".join(
                    p["text"] for p in content_parts(item.get("content"), f"{where}.content", b.refs) if "text" in p
                )
                if text:
                    b.system.append(text)
            elif role in ("user", "assistant"):
                b.add(
                    "user" if role == "user" else "model",
                    content_parts(item.get("content"), f"{where}.content", b.refs),
                )
            else:
                raise invalid(f"'{where}.role' must be user, assistant, system or developer.", f"{where}.role")
        elif kind == "function_call":
            b.add("model", [_call_part(item, where, b)])
        elif kind == "function_call_output":
            b.add("user", _output_parts(item, where, b))
        elif kind == "reasoning":
            b.pending_signature = decode_signature(item.get("encrypted_content"))
        elif kind == "compaction":
            # Ours carries the summary that stands for the turns it replaced; OpenAI's is unreadable here.
            summary = compaction_summary(item.get("encrypted_content"))
            if summary:
                b.add("user", [{"text": f"{COMPACTION_HEADING}\n{summary}"}])
        elif kind == "custom_tool_call":
            args = orjson.dumps(openai_tools.custom_args(item.get("input") or "")).decode()
            b.add("model", [_call_part({**item, "arguments": args}, where, b)])
        elif kind == "custom_tool_call_output":
            b.add("user", _output_parts(item, where, b))
        elif kind in _SKIPPED or isinstance(kind, str):
            # Server-side tool records and item kinds newer than this gateway carry nothing Gemini can use.
            continue
        else:
            raise invalid(f"'{where}.type' is missing.", f"{where}.type")
    return b.contents, b.system
