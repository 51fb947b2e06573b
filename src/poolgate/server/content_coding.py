"""Compressed request bodies (`Content-Encoding: zstd`, `gzip`, `deflate`), decoded under the body limit.

Codex sends its larger `/v1/responses` bodies zstd-compressed (level 3) in some set-ups, and other
HTTP clients gzip theirs. The limit applies to the decoded size, so a small bomb cannot expand past
`proxy.max_body_mb`: a body that would is a 413, a corrupt one a 400, an unknown coding a 415.
"""

from __future__ import annotations

import io
import zlib
from typing import Final

import zstandard

from poolgate.errors import ErrorKind, GatewayError, invalid

SUPPORTED: Final = ("zstd", "gzip", "x-gzip", "deflate", "identity")
# Below this a body decodes in well under a millisecond, cheaper than a hop to a worker thread.
THREAD_ABOVE: Final = 64 * 1024


def codings(header: str) -> list[str]:
    """The codings in the order they were applied (RFC 9110: listed in that order); identity dropped."""
    names = [name.strip().lower() for name in header.split(",") if name.strip()]
    unknown = [name for name in names if name not in SUPPORTED]
    if unknown:
        raise GatewayError(
            ErrorKind.INVALID_REQUEST,
            f"Unsupported Content-Encoding '{unknown[0]}': send the body as is, or as zstd, gzip or deflate.",
            status=415,
        )
    return [name for name in names if name != "identity"]


def decode(body: bytes, applied: list[str], limit: int) -> bytes:
    """Undo the codings, last applied first; the decoded size may not pass `limit`."""
    for name in reversed(applied):
        body = _zstd(body, limit) if name == "zstd" else _zlib(body, name, limit)
    return body


def _too_large(limit: int) -> GatewayError:
    return GatewayError(
        ErrorKind.TOO_LARGE, f"Request body exceeds the {limit // (1024 * 1024)} MB limit once decompressed."
    )


def _zlib(body: bytes, name: str, limit: int) -> bytes:
    # gzip wraps deflate in a gzip header; "deflate" is meant to be zlib-wrapped, but some clients send it raw.
    attempts = (16 + zlib.MAX_WBITS,) if name in ("gzip", "x-gzip") else (zlib.MAX_WBITS, -zlib.MAX_WBITS)
    for wbits in attempts:
        inflater = zlib.decompressobj(wbits)
        try:
            out = inflater.decompress(body, limit + 1)
        except zlib.error:
            continue
        if len(out) > limit or inflater.unconsumed_tail:
            raise _too_large(limit)
        if not inflater.eof:
            break
        return out
    raise invalid(f"The request body is not valid {name} data (Content-Encoding: {name}).")


def _zstd(body: bytes, limit: int) -> bytes:
    try:
        declared = zstandard.frame_content_size(body)
    except zstandard.ZstdError:
        raise invalid("The request body is not valid zstd data (Content-Encoding: zstd).") from None
    if declared > limit:
        raise _too_large(limit)
    try:
        # With the size declared in the frame this is exact; without it, max_output_size bounds the output.
        return zstandard.ZstdDecompressor().decompress(body, max_output_size=limit)
    except zstandard.ZstdError:
        pass
    # A frame without a declared size fails the same way cut short or too large: a bounded read tells which.
    try:
        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(body)) as reader:
            if len(reader.read(limit + 1)) > limit:
                raise _too_large(limit)
    except zstandard.ZstdError:
        pass
    raise invalid("The request body is not valid zstd data (Content-Encoding: zstd).")
