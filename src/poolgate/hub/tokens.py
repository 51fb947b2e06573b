"""Counting a request's input tokens: the upstream countTokens body for a hub request, and the estimate
used without one (Anthropic's count_tokens, the Responses API's input_tokens).

The estimate errs high on purpose (Claude Code and Codex compact a conversation when the count nears the
context window, so undercounting is the harmful direction): three characters per token for text,
tool declarations and call arguments, 1,600 tokens per image (Claude's ceiling for one image) and
258 per PDF page (Gemini's rate) with at least one page per document.
"""

from __future__ import annotations

import base64
import binascii
import re

import orjson

from poolgate.hub.types import JSON, GenerateContentRequest

CHARS_PER_TOKEN = 3
IMAGE_TOKENS = 1600
PDF_PAGE_TOKENS = 258
_PAGE = re.compile(rb"/Type\s*/Page(?!s)")


def count_body(hub: GenerateContentRequest, model: str) -> JSON:
    """Gemini's countTokens request: the whole generateContent request, so system and tools count too."""
    inner: JSON = {"model": f"models/{model}", "contents": hub.get("contents") or []}
    for key in ("systemInstruction", "tools", "toolConfig"):
        if key in hub:
            inner[key] = hub[key]  # type: ignore[literal-required]
    return {"generateContentRequest": inner}


def _blob_tokens(mime: str, data: str) -> int:
    if mime.startswith("image/"):
        return IMAGE_TOKENS
    if mime == "application/pdf":
        try:
            raw = base64.b64decode(data)
        except (binascii.Error, ValueError):
            raw = b""
        return PDF_PAGE_TOKENS * max(1, len(_PAGE.findall(raw)))
    return len(data) * 3 // 4 // CHARS_PER_TOKEN + 1


def _part_tokens(part: JSON) -> int:
    chars = 0
    tokens = 0
    if isinstance(part.get("text"), str):
        chars += len(part["text"])
    for key in ("functionCall", "functionResponse"):
        if key in part:
            chars += len(orjson.dumps(part[key]))
    blob = part.get("inlineData")
    if isinstance(blob, dict):
        tokens += _blob_tokens(str(blob.get("mimeType") or ""), str(blob.get("data") or ""))
    if isinstance(part.get("fileData"), dict):
        tokens += IMAGE_TOKENS
    return tokens + (chars + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def estimate(hub: GenerateContentRequest) -> int:
    total = 0
    for content in hub.get("contents") or ():
        total += 3  # role and turn framing
        for part in content.get("parts") or ():
            total += _part_tokens(dict(part))
    for part in (hub.get("systemInstruction") or {}).get("parts") or ():
        total += _part_tokens(dict(part))
    for tool in hub.get("tools") or ():
        total += (len(orjson.dumps(tool)) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN
    return max(1, total)
