"""The media fetcher's address policy, URL checks and MIME detection (connections are tested end to end)."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from poolgate.config import UpstreamConfig
from poolgate.errors import GatewayError
from poolgate.upstream.media import FetchPolicy, MediaRefused, check_url, inline_remote_media, is_public, sniff_mime


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.0.10",
        "169.254.169.254",
        "100.100.100.200",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "fe80::1",
        "fc00::1",
        "fd00:ec2::254",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:0001::1",
        "ff02::1",
    ],
)
def test_internal_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "142.250.74.46", "2607:f8b0:4004:c07::64"])
def test_public_addresses_are_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


def test_allowlist_hosts_and_cidrs_are_distinct() -> None:
    policy = FetchPolicy.from_config(UpstreamConfig(media_fetch_allowlist=["127.0.0.1", "10.9.0.0/16", "Files.Local"]))
    assert policy.host_allowed("127.0.0.1") and policy.host_allowed("files.local")
    # A bare IP allows that literal host, not every name that resolves to it.
    assert not policy.ip_allowed(ipaddress.ip_address("127.0.0.1"))
    assert policy.ip_allowed(ipaddress.ip_address("10.9.3.4"))
    check_url("http://127.0.0.1:9/x", policy)
    with pytest.raises(MediaRefused):
        check_url("http://127.0.0.2/x", policy)


@pytest.mark.parametrize(
    "url", ["ftp://example.com/a", "file:///etc/passwd", "http://user:pw@example.com/", "gopher://x", "http:///nohost"]
)
def test_only_plain_http_urls(url: str) -> None:
    with pytest.raises(MediaRefused):
        check_url(url, FetchPolicy.from_config(UpstreamConfig()))


def test_mime_sniffing() -> None:
    assert sniff_mime(b"\x89PNG\r\n\x1a\n...", "application/octet-stream", "image/*") == "image/png"
    assert sniff_mime(b"%PDF-1.7", "", "") == "application/pdf"
    assert sniff_mime(b"whatever", "image/jpeg; charset=binary", "") == "image/jpeg"
    assert sniff_mime(b"RIFF\x00\x00\x00\x00WEBPVP8 ", "", "") == "image/webp"
    assert sniff_mime(b"??", "", "audio/wav") == "audio/wav"


def test_files_api_and_youtube_uris_pass_through_untouched() -> None:
    hub = {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {
                        "fileData": {
                            "fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc",
                            "mimeType": "application/pdf",
                        }
                    },
                    {"fileData": {"fileUri": "https://www.youtube.com/watch?v=x", "mimeType": "video/*"}},
                    {"fileData": {"fileUri": "gs://bucket/file.png", "mimeType": "image/png"}},
                ],
            }
        ]
    }
    before = repr(hub)
    asyncio.run(inline_remote_media(hub, UpstreamConfig(), {}))  # type: ignore[arg-type]
    assert repr(hub) == before


def test_refused_fetch_is_a_400_naming_the_field() -> None:
    hub = {
        "contents": [
            {"role": "user", "parts": [{"fileData": {"fileUri": "http://10.0.0.1/a.png", "mimeType": "image/*"}}]}
        ]
    }
    with pytest.raises(GatewayError) as err:
        asyncio.run(
            inline_remote_media(
                hub, UpstreamConfig(), {"http://10.0.0.1/a.png": "messages[0].content[0].image_url.url"}
            )
        )  # type: ignore[arg-type]
    assert err.value.status == 400
    assert err.value.param == "messages[0].content[0].image_url.url"
