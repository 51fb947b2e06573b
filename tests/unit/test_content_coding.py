"""Request body decoding: every coding clients use, in the order applied, bounded by the body limit."""

from __future__ import annotations

import gzip
import os
import zlib

import pytest
import zstandard

from poolgate.errors import GatewayError
from poolgate.server.content_coding import codings, decode

DATA = os.urandom(512) * 200  # 100 KB that compresses well


def raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


def zstd_stream(data: bytes) -> bytes:
    # Streaming encoders (Codex's among them) leave the content size out of the frame header.
    packer = zstandard.ZstdCompressor().compressobj()
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("header", "packed"),
    [
        ("gzip", gzip.compress(DATA)),
        ("x-gzip", gzip.compress(DATA)),
        ("deflate", zlib.compress(DATA)),
        ("deflate", raw_deflate(DATA)),  # what some clients send as "deflate"
        ("zstd", zstandard.ZstdCompressor().compress(DATA)),
        ("zstd", zstd_stream(DATA)),
        ("identity", DATA),
        ("gzip, identity, ZSTD", zstandard.ZstdCompressor().compress(gzip.compress(DATA))),
    ],
)
def test_each_coding_decodes(header: str, packed: bytes) -> None:
    assert decode(packed, codings(header), len(DATA)) == DATA


@pytest.mark.parametrize("packed", [gzip.compress(DATA), zstandard.ZstdCompressor().compress(DATA), zstd_stream(DATA)])
def test_one_byte_over_the_limit_is_a_413(packed: bytes) -> None:
    header = "gzip" if packed[:2] == b"\x1f\x8b" else "zstd"
    with pytest.raises(GatewayError) as err:
        decode(packed, codings(header), len(DATA) - 1)
    assert err.value.status == 413


@pytest.mark.parametrize(
    ("header", "packed"),
    [("gzip", gzip.compress(DATA)[:500]), ("zstd", zstd_stream(DATA)[:300]), ("deflate", b"plain text")],
)
def test_a_cut_or_false_body_is_a_400(header: str, packed: bytes) -> None:
    with pytest.raises(GatewayError) as err:
        decode(packed, codings(header), 10 * len(DATA))
    assert err.value.status == 400 and header in err.value.message


def test_an_unknown_coding_is_a_415() -> None:
    with pytest.raises(GatewayError) as err:
        codings("gzip, br")
    assert err.value.status == 415 and "'br'" in err.value.message
