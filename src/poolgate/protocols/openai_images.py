"""OpenAI Images (`/v1/images/generations`, `/v1/images/edits`) ↔ hub: one image per upstream call.

Gemini's image models draw with `generateContent`: the prompt (and, for an edit, the source images) as
the user turn, `generationConfig.imageConfig` for the shape, and the picture back as an `inlineData`
part. They make one image per call, so `n` images are `n` calls.
"""

from __future__ import annotations

import base64
import math
import struct
from dataclasses import dataclass, field
from typing import Any, Final

from poolgate.errors import ErrorKind, GatewayError, invalid
from poolgate.hub.events import Usage, prompt_tokens_of, usage_from
from poolgate.hub.types import JSON, GenerateContentRequest, Part
from poolgate.protocols import fields
from poolgate.protocols.multipart import FormFile
from poolgate.protocols.openai_chat.content import data_url

DEFAULT_MODEL: Final = "gpt-image-1"
MAX_IMAGES: Final = 10
# Every aspect ratio Gemini's image models accept; a requested size takes the nearest.
ASPECT_RATIOS: Final = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
IMAGE_SIZES: Final = ("1K", "2K", "4K")
QUALITIES: Final = frozenset({"auto", "low", "medium", "high", "xhigh", "max", "standard", "hd"})
# Qualities that ask for more pixels than the model's default (1K) on models that offer sizes.
_SIZE_FOR_QUALITY: Final = {"hd": "2K", "high": "2K", "xhigh": "4K", "max": "4K"}
_MIME_FORMATS: Final = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp", "image/gif": "gif"}
BLOCK_REASONS: Final = frozenset(
    {"SAFETY", "IMAGE_SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_PROHIBITED_CONTENT"}
)
MASK_NOTE: Final = (
    "The last image is a mask: change only the areas where the mask is transparent and keep the rest as it is."
)


@dataclass(slots=True)
class SourceImage:
    """An image uploaded for an edit (or its mask)."""

    mime_type: str
    data: bytes


@dataclass(slots=True)
class ImageRequest:
    model: str
    prompt: str
    n: int = 1
    response_format: str = "b64_json"
    size: str = "auto"
    quality: str = "auto"
    stream: bool = False
    aspect_ratio: str | None = None
    image_size: str | None = None
    image_size_explicit: bool = False  # the client named it: sent whatever the model
    images: list[SourceImage] = field(default_factory=list)
    mask: SourceImage | None = None


# Magic numbers of the formats Gemini reads; a client's declared type is often application/octet-stream.
_SIGNATURES: Final = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def source_image(upload: FormFile) -> SourceImage:
    """An uploaded file as an image typed from its own bytes, or a 400 naming its field."""
    return typed_image(upload.data, upload.name, f"'{upload.name}' ({upload.filename})")


def typed_image(data: bytes, field_name: str, label: str = "") -> SourceImage:
    """Image bytes typed from themselves (a declared type is often application/octet-stream), or a 400."""
    for magic, mime in _SIGNATURES:
        if data.startswith(magic):
            return SourceImage(mime, data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return SourceImage("image/webp", data)
    raise invalid(f"{label or repr(field_name)} is not a PNG, JPEG, WebP or GIF image.", field_name)


@dataclass(slots=True)
class ImageRef:
    """One image of a JSON edit: its bytes from a data URL, or an http(s) URL the handler downloads."""

    field: str
    image: SourceImage | None = None
    url: str = ""


MAX_EDIT_IMAGES: Final = 16


def parse_edit_json(body: dict[str, Any]) -> tuple[ImageRequest, list[ImageRef], ImageRef | None]:
    """The JSON form of `/v1/images/edits`: `images: [{image_url}]` and an optional `mask: {image_url}`."""
    refs = fields.opt_list(body, "images")
    if not refs:
        raise invalid(
            "'images' is required: an array of one to 16 objects with 'image_url' (a data: URL or an http(s) URL).",
            "images",
        )
    if len(refs) > MAX_EDIT_IMAGES:
        raise invalid(f"'images' takes at most {MAX_EDIT_IMAGES} images.", "images")
    images = [image_ref(item, f"images[{i}]") for i, item in enumerate(refs)]
    mask = image_ref(body["mask"], "mask") if body.get("mask") is not None else None
    return _parse(body, edit=True), images, mask


def image_ref(item: object, where: str) -> ImageRef:
    if not isinstance(item, dict):
        raise invalid(f"'{where}' must be an object with 'image_url'.", where)
    if item.get("image_url") is None and item.get("file_id") is not None:
        raise invalid(
            f"'{where}.file_id': this gateway has no Files API; send the image as 'image_url' "
            "(a data: URL or an http(s) URL).",
            f"{where}.file_id",
        )
    at = f"{where}.image_url"
    url = fields.req_str(item, "image_url", at)
    if url.startswith("data:"):
        _, payload = data_url(url, at)
        return ImageRef(at, image=typed_image(base64.b64decode(payload), at))
    if url.lower().startswith(("http://", "https://")):
        return ImageRef(at, url=url)
    raise invalid(f"'{at}' must be a data: URL or an http(s) URL.", at)


def parse_generation(body: dict[str, Any]) -> ImageRequest:
    """The JSON body of `/v1/images/generations`."""
    return _parse(body, edit=False)


def parse_edit(form: dict[str, str], images: list[SourceImage], mask: SourceImage | None) -> ImageRequest:
    """The form fields of `/v1/images/edits` (multipart), with its uploaded images already read."""
    body: dict[str, Any] = dict(form)
    if "n" in form:
        body["n"] = _form_int(form["n"], "n")
    if "stream" in form:
        body["stream"] = form["stream"].strip().lower() in ("true", "1")
    if not images:
        raise invalid("'image' is required: upload at least one image file to edit.", "image")
    request = _parse(body, edit=True)
    request.images = images
    request.mask = mask
    return request


def _form_int(value: str, name: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise invalid(f"'{name}' must be an integer.", name) from None


def _parse(body: dict[str, Any], *, edit: bool) -> ImageRequest:
    prompt = fields.req_str(body, "prompt")
    model = fields.opt_str(body, "model") or DEFAULT_MODEL
    n = fields.opt_int(body, "n", lo=1)
    if n is not None and n > MAX_IMAGES:
        raise invalid(f"'n' must be between 1 and {MAX_IMAGES}.", "n")
    response_format = fields.opt_str(body, "response_format") or "b64_json"
    if response_format not in ("b64_json", "url"):
        raise invalid("'response_format' must be 'b64_json' or 'url'.", "response_format")
    quality = fields.opt_str(body, "quality") or "auto"
    if quality not in QUALITIES:
        raise invalid(f"'quality' must be one of {', '.join(sorted(QUALITIES))}.", "quality")
    background = fields.opt_str(body, "background")
    if background == "transparent":
        raise invalid("'background': transparent images are not supported by Gemini's image models.", "background")
    output_format = fields.opt_str(body, "output_format")
    if output_format not in (None, "png"):
        # Google's API answers PNG; a silent PNG labelled as something else would break the caller's file.
        raise invalid("'output_format': only 'png' is available from Gemini's image models.", "output_format")
    size = fields.opt_str(body, "size") or "auto"
    aspect_ratio, long_edge = parse_size(size)
    explicit = fields.opt_str(body, "image_size")
    if explicit is not None and explicit.upper() not in IMAGE_SIZES:
        raise invalid(f"'image_size' must be one of {', '.join(IMAGE_SIZES)}.", "image_size")
    return ImageRequest(
        model=model,
        prompt=prompt,
        n=n or 1,
        response_format=response_format,
        size=size,
        quality=quality,
        stream=bool(fields.opt_bool(body, "stream")),
        aspect_ratio=aspect_ratio,
        image_size=explicit.upper() if explicit else _size_for(long_edge, quality),
        image_size_explicit=explicit is not None,
    )


def parse_size(size: str) -> tuple[str | None, int]:
    """`WxH` (or `W:H`) → the nearest Gemini aspect ratio and the long edge in pixels (0 when unknown)."""
    if size == "auto":
        return None, 0
    text = size.lower().replace(" ", "")
    sep = "x" if "x" in text else ":"
    left, _, right = text.partition(sep)
    if not (left.isdigit() and right.isdigit()) or int(left) == 0 or int(right) == 0:
        raise invalid("'size' must be 'auto', WIDTHxHEIGHT (for example 1024x1024) or a ratio such as 16:9.", "size")
    width, height = int(left), int(right)
    wanted = math.log(width / height)
    ratio = min(ASPECT_RATIOS, key=lambda r: abs(math.log(_ratio(r)) - wanted))
    return ratio, max(width, height) if sep == "x" else 0


def _ratio(text: str) -> float:
    w, _, h = text.partition(":")
    return int(w) / int(h)


def _size_for(long_edge: int, quality: str) -> str | None:
    """The imageSize a size or quality asks for beyond the default 1K; None leaves the model's default."""
    by_edge = "4K" if long_edge > 2048 else "2K" if long_edge > 1024 else None
    by_quality = _SIZE_FOR_QUALITY.get(quality)
    choices = [s for s in (by_edge, by_quality) if s]
    return max(choices, key=IMAGE_SIZES.index) if choices else None


def sizes_supported(model: str) -> bool:
    """Gemini 2.x image models have one size and reject `imageSize`; later ones take 1K/2K/4K."""
    return not model.startswith("gemini-2")


def to_hub(request: ImageRequest, upstream_model: str) -> GenerateContentRequest:
    parts: list[Part] = [
        {"inlineData": {"mimeType": image.mime_type, "data": base64.b64encode(image.data).decode()}}
        for image in request.images
    ]
    if request.mask is not None:
        parts.append(
            {"inlineData": {"mimeType": request.mask.mime_type, "data": base64.b64encode(request.mask.data).decode()}}
        )
    text = f"{request.prompt}\n\n{MASK_NOTE}" if request.mask is not None else request.prompt
    parts.append({"text": text})
    image_config: JSON = {}
    if request.aspect_ratio:
        image_config["aspectRatio"] = request.aspect_ratio
    if request.image_size and (request.image_size_explicit or sizes_supported(upstream_model)):
        image_config["imageSize"] = request.image_size
    config: JSON = {"responseModalities": ["TEXT", "IMAGE"]}
    if image_config:
        config["imageConfig"] = image_config
    return {"contents": [{"role": "user", "parts": parts}], "generationConfig": config}


@dataclass(slots=True)
class Picture:
    mime_type: str
    data: str  # base64, as Google sent it

    @property
    def output_format(self) -> str:
        return _MIME_FORMATS.get(self.mime_type, "png")

    def dimensions(self) -> tuple[int, int] | None:
        """Width and height from a PNG's header; None for other formats."""
        head = base64.b64decode(self.data[:48] + "=" * (-len(self.data[:48]) % 4), validate=False)
        if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
            return None
        width, height = struct.unpack(">II", head[16:24])
        return width, height


def picture_of(answer: JSON, model: str) -> Picture:
    """The image in one upstream answer, or the error the client should see instead."""
    feedback = answer.get("promptFeedback")
    if isinstance(feedback, dict) and feedback.get("blockReason"):
        raise _policy(f"The prompt was blocked by Google's safety filters ({feedback['blockReason']}).")
    texts: list[str] = []
    reason = ""
    for cand in answer.get("candidates") or ():
        reason = str(cand.get("finishReason") or reason)
        for part in (cand.get("content") or {}).get("parts") or ():
            blob = part.get("inlineData")
            if isinstance(blob, dict) and blob.get("data") and not part.get("thought"):
                return Picture(str(blob.get("mimeType") or "image/png"), str(blob["data"]))
            if isinstance(part.get("text"), str) and not part.get("thought"):
                texts.append(part["text"])
    if reason in BLOCK_REASONS:
        raise _policy(f"The image was blocked by Google's safety filters ({reason}).")
    said = " ".join(texts).strip()
    hint = (
        ""
        if "image" in model
        else f" {model} is not an image model; map this model name to one, such as gemini-2.5-flash-image."
    )
    detail = f" It answered: {said[:300]}" if said else ""
    raise GatewayError(ErrorKind.UPSTREAM_ERROR, f"The upstream model returned no image.{hint}{detail}")


POLICY_CODE: Final = "content_policy_violation"


def _policy(message: str) -> GatewayError:
    return GatewayError(ErrorKind.INVALID_REQUEST, message, code=POLICY_CODE)


@dataclass(slots=True)
class ImageUsage:
    """Tokens over all the calls of one request, split the way OpenAI reports image usage."""

    text_in: int = 0
    image_in: int = 0
    output: int = 0
    total: int = 0

    def add(self, answer: JSON) -> None:
        meta = answer.get("usageMetadata")
        if not isinstance(meta, dict):
            return
        usage = usage_from(meta)
        images = prompt_tokens_of(meta, "IMAGE")
        self.image_in += images
        self.text_in += usage.prompt_tokens - images
        self.output += usage.completion_tokens
        self.total += usage.total_tokens

    def merge(self, other: ImageUsage) -> None:
        self.text_in += other.text_in
        self.image_in += other.image_in
        self.output += other.output
        self.total += other.total

    def hub(self) -> Usage:
        """For the request log and the token statistics."""
        return Usage(self.text_in + self.image_in, self.output, 0, 0, self.total)

    def json(self) -> JSON:
        return {
            "input_tokens": self.text_in + self.image_in,
            "input_tokens_details": {"text_tokens": self.text_in, "image_tokens": self.image_in},
            "output_tokens": self.output,
            "total_tokens": self.total,
        }


def _shape(request: ImageRequest, pictures: list[Picture]) -> JSON:
    dims = pictures[0].dimensions() if pictures else None
    shape: JSON = {"background": "opaque", "output_format": pictures[0].output_format if pictures else "png"}
    if dims is not None:
        shape["size"] = f"{dims[0]}x{dims[1]}"
    elif request.size != "auto":
        shape["size"] = request.size
    if request.quality in ("low", "medium", "high", "xhigh", "max"):
        shape["quality"] = request.quality
    return shape


def image_entry(request: ImageRequest, picture: Picture) -> JSON:
    if request.response_format == "url":
        # There is no file store to link to: the picture travels inline as a data URL.
        return {"url": f"data:{picture.mime_type};base64,{picture.data}"}
    return {"b64_json": picture.data}


def response_json(request: ImageRequest, pictures: list[Picture], usage: ImageUsage, created: int) -> JSON:
    body: JSON = {"created": created, "data": [image_entry(request, p) for p in pictures]}
    body.update(_shape(request, pictures))
    body["usage"] = usage.json()
    return body


def completed_event(request: ImageRequest, picture: Picture, usage: ImageUsage, created: int, edit: bool) -> JSON:
    """One `image_generation.completed` (or `image_edit.completed`) stream event; usage is that image's."""
    event: JSON = {
        "type": "image_edit.completed" if edit else "image_generation.completed",
        "b64_json": picture.data,
        "created_at": created,
        "quality": "auto",
        "size": request.size,
        "usage": usage.json(),
    }
    event.update(_shape(request, [picture]))
    return event
