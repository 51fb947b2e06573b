"""OpenAI message content parts (text, images, audio, files) → hub parts, or a 400 naming the part."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from poolgate.errors import invalid
from poolgate.hub.types import Part
from poolgate.protocols import fields

# OpenAI's input_audio formats → the MIME types Gemini documents for audio.
AUDIO_MIME: Final = {
    "wav": "audio/wav",
    "mp3": "audio/mp3",
    "aiff": "audio/aiff",
    "aac": "audio/aac",
    "ogg": "audio/ogg",
    "flac": "audio/flac",
    "m4a": "audio/mp4",
    "webm": "audio/webm",
    "pcm16": "audio/pcm",
}
# Extensions clients give as `filename` when a file's data URL carries no useful type.
FILE_MIME: Final = {
    "pdf": "application/pdf",
    "txt": "text/plain",
    "md": "text/markdown",
    "csv": "text/csv",
    "html": "text/html",
    "json": "application/json",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
}
TEXT_TYPES: Final = frozenset({"text", "input_text", "output_text"})


@dataclass(slots=True)
class MediaRefs:
    """URL → the client field it came from, so a failed download names what the client sent."""

    fields: dict[str, str] = field(default_factory=dict)


def _base64(data: object, where: str) -> str:
    if not isinstance(data, str) or not data.strip():
        raise invalid(f"'{where}' must be a non-empty base64 string.", where)
    if any(c.isspace() for c in data[:4096]) or any(c.isspace() for c in data[-4096:]):
        data = "".join(data.split())  # some clients wrap base64 at 76 columns
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(f"'{where}' is not valid base64.", where) from None
    return data


def data_url(url: str, where: str) -> tuple[str, str]:
    """(mime, base64 payload) of a `data:` URL."""
    header, _, payload = url.partition(",")
    if ";base64" not in header:
        raise invalid(f"'{where}' must be a base64 data URL (data:<mime>;base64,...).", where)
    mime = header[5:].split(";")[0].strip().lower()
    return mime, _base64(payload, where)


def image_part(spec: object, where: str, refs: MediaRefs) -> Part:
    url = spec.get("url") if isinstance(spec, dict) else spec
    at = f"{where}.url" if isinstance(spec, dict) else where
    if not isinstance(url, str) or not url:
        raise invalid(f"'{at}' must be a non-empty string.", at)
    if url.startswith("data:"):
        mime, payload = data_url(url, at)
        return {"inlineData": {"mimeType": mime or "image/png", "data": payload}}
    if url.lower().startswith(("http://", "https://")):
        # Downloaded before the upstream call by upstream/media.py, under its SSRF guard.
        refs.fields.setdefault(url, at)
        return {"fileData": {"mimeType": "image/*", "fileUri": url}}
    # Anything else (a local path, file://) is refused: the gateway never reads its own disk for a client.
    raise invalid(f"'{at}' must be a data: URL or an http(s) URL.", at)


def audio_part(spec: object, where: str) -> Part:
    if not isinstance(spec, dict):
        raise invalid(f"'{where}' must be an object with 'data' and 'format'.", where)
    fmt = spec.get("format")
    if not isinstance(fmt, str) or fmt.lower() not in AUDIO_MIME:
        raise invalid(f"'{where}.format' must be one of {', '.join(sorted(AUDIO_MIME))}.", f"{where}.format")
    return {"inlineData": {"mimeType": AUDIO_MIME[fmt.lower()], "data": _base64(spec.get("data"), f"{where}.data")}}


def file_part(spec: object, where: str, refs: MediaRefs) -> Part:
    if not isinstance(spec, dict):
        raise invalid(f"'{where}' must be an object.", where)
    data = spec.get("file_data")
    if data is None:
        if spec.get("file_id") is not None:
            raise invalid(
                f"'{where}.file_id' is not supported: OpenAI file ids cannot be resolved here; send 'file_data'.",
                f"{where}.file_id",
            )
        raise invalid(f"'{where}.file_data' is required.", f"{where}.file_data")
    if not isinstance(data, str) or not data:
        raise invalid(f"'{where}.file_data' must be a non-empty string.", f"{where}.file_data")
    filename = spec.get("filename")
    ext = filename.rsplit(".", 1)[-1].lower() if isinstance(filename, str) and "." in filename else ""
    if data.startswith("data:"):
        mime, payload = data_url(data, f"{where}.file_data")
    elif data.lower().startswith(("http://", "https://")):
        refs.fields.setdefault(data, f"{where}.file_data")
        return {"fileData": {"mimeType": FILE_MIME.get(ext, "application/octet-stream"), "fileUri": data}}
    else:
        mime, payload = "", _base64(data, f"{where}.file_data")
    if not mime or mime == "application/octet-stream":
        mime = FILE_MIME.get(ext, "application/pdf")
    return {"inlineData": {"mimeType": mime, "data": payload}}


def part_objects(content: object, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, part) for each entry of a content-part array, or a 400 naming the first bad entry."""
    if not isinstance(content, list):
        raise invalid(f"'{where}' must be a string or an array of content parts.", where)
    for i, item in enumerate(content):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise invalid(f"'{at}' must be an object.", at)
        yield at, item


def part_text(part: dict[str, Any], at: str) -> str:
    text = part.get("text")
    if not isinstance(text, str):
        raise invalid(f"'{at}.text' must be a string.", f"{at}.text")
    return text


def user_parts(content: object, where: str, refs: MediaRefs) -> list[Part]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts: list[Part] = []
    for at, item in part_objects(content, where):
        kind = fields.opt_str(item, "type", f"{at}.type")
        if kind in TEXT_TYPES:
            text = part_text(item, at)
            if text:
                parts.append({"text": text})
        elif kind in ("image_url", "input_image"):
            parts.append(image_part(item.get("image_url"), f"{at}.image_url", refs))
        elif kind == "input_audio":
            parts.append(audio_part(item.get("input_audio"), f"{at}.input_audio"))
        elif kind == "file":
            parts.append(file_part(item.get("file"), f"{at}.file", refs))
        else:
            raise invalid(f"Unsupported content part type {kind!r} at '{at}.type'.", f"{at}.type")
    return parts


def assistant_text(content: object, where: str) -> str:
    """The text of an assistant message: a string, or text/refusal parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts: list[str] = []
    for at, item in part_objects(content, where):
        kind = fields.opt_str(item, "type", f"{at}.type")
        key = "refusal" if kind == "refusal" else "text"
        if kind not in TEXT_TYPES and kind != "refusal":
            raise invalid(
                f"Unsupported content part type {kind!r} in an assistant message at '{at}.type'.", f"{at}.type"
            )
        value: Any = item.get(key)
        if not isinstance(value, str):
            raise invalid(f"'{at}.{key}' must be a string.", f"{at}.{key}")
        texts.append(value)
    return "".join(texts)
