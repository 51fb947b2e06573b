"""The simulator's images: a plain grey PNG with the dimensions Gemini's image models give each shape."""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any, Final

from poolgate.simulator.modalities import response_modalities

# Pixels at 1K for each aspect ratio Gemini accepts (2K doubles both edges, 4K quadruples them).
DIMENSIONS_1K: Final = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
}
SCALE: Final = {"1K": 1, "2K": 2, "4K": 4}
# What Gemini bills for one generated image.
IMAGE_TOKENS: Final = 1290


def wants_image(model: str, body: dict[str, Any]) -> bool:
    modalities = response_modalities(body)
    if modalities is not None:
        return "IMAGE" in modalities
    return "-image" in model


def image_config(body: dict[str, Any]) -> tuple[str, str]:
    """(aspect ratio, size) asked for, with Gemini's defaults for what is missing."""
    config = body.get("generationConfig")
    image = config.get("imageConfig") if isinstance(config, dict) else None
    image = image if isinstance(image, dict) else {}
    ratio = image.get("aspectRatio") if image.get("aspectRatio") in DIMENSIONS_1K else "1:1"
    size = image.get("imageSize") if image.get("imageSize") in SCALE else "1K"
    return str(ratio), str(size)


def png(width: int, height: int, shade: int = 128) -> bytes:
    """An 8-bit greyscale PNG of one shade; the rows compress to almost nothing."""
    row = b"\x00" + bytes([shade]) * width
    packer = zlib.compressobj(1)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def draw(body: dict[str, Any]) -> dict[str, Any]:
    """The inlineData part answering an image request."""
    ratio, size = image_config(body)
    width, height = DIMENSIONS_1K[ratio]
    scale = SCALE[size]
    data = png(width * scale, height * scale)
    return {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(data).decode()}}
