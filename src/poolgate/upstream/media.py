"""Download http(s) media that clients reference by URL, with an SSRF guard, and inline it for Gemini.

Protocols put a remote image, audio clip or document into the hub as `{"fileData": {"fileUri": URL}}`.
The upstream cannot be trusted to fetch arbitrary URLs (and v1internal does not), so the gateway does,
before the upstream call. That makes poolgate a fetcher for anyone who can send a request, so every
connection is checked on the address actually dialled: names are resolved here and private, loopback,
link-local (cloud metadata), multicast and reserved addresses are refused, on the first request and
on every redirect. `upstream.media_fetch_allowlist` opens holes deliberately: a bare entry is a host
name matched against the URL's host, an entry with a `/` is a CIDR matched against resolved addresses.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urljoin

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from poolgate.config import UpstreamConfig
from poolgate.errors import invalid
from poolgate.hub.types import GenerateContentRequest

MAX_REDIRECTS: Final = 5
# URIs Gemini resolves itself (its Files API, YouTube): forwarded as fileData, never fetched here.
PASS_THROUGH_HOSTS: Final = frozenset(
    {"generativelanguage.googleapis.com", "www.youtube.com", "youtube.com", "youtu.be", "m.youtube.com"}
)
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_MAGIC: Final[tuple[tuple[bytes, str], ...]] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"ID3", "audio/mpeg"),
    (b"OggS", "audio/ogg"),
    (b"fLaC", "audio/flac"),
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class MediaRefused(Exception):
    """A fetch that was refused or failed; the message says why, without internals."""


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    hosts: frozenset[str]
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    max_bytes: int
    timeout: float

    @classmethod
    def from_config(cls, config: UpstreamConfig) -> FetchPolicy:
        hosts: set[str] = set()
        networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in config.media_fetch_allowlist:
            entry = entry.strip().lower()
            if "/" in entry:
                networks.append(ipaddress.ip_network(entry, strict=False))
            elif entry:
                hosts.add(entry.strip("[]"))
        return cls(
            frozenset(hosts),
            tuple(networks),
            config.media_fetch_max_mb * 1024 * 1024,
            config.media_fetch_timeout_seconds,
        )

    def host_allowed(self, host: str) -> bool:
        return host.lower().strip("[]") in self.hosts

    def ip_allowed(self, ip: IPAddress) -> bool:
        if any(ip in net for net in self.networks):
            return True
        return is_public(ip)


def is_public(ip: IPAddress) -> bool:
    """Only globally routable unicast addresses; an IPv4-mapped IPv6 address is judged as its IPv4."""
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is not None:
            return is_public(mapped)
    if ip.is_multicast or ip.is_loopback or ip.is_link_local or ip.is_private or ip.is_reserved:
        return False
    if ip.is_unspecified:
        return False
    return ip.is_global


class GuardedResolver(AbstractResolver):
    """Resolves like the system does, then keeps only addresses the policy allows (checked at connect time)."""

    def __init__(self, policy: FetchPolicy) -> None:
        self.policy = policy
        self.inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        infos = await self.inner.resolve(host, port, family)
        if self.policy.host_allowed(host):
            return infos
        allowed = [info for info in infos if self.policy.ip_allowed(ipaddress.ip_address(info["host"]))]
        if not allowed:
            raise MediaRefused(f"host '{host}' resolves to a private or reserved address")
        return allowed

    async def close(self) -> None:
        await self.inner.close()


def check_url(url: str, policy: FetchPolicy) -> URL:
    """Scheme and literal-address checks (literal IPs never reach the resolver)."""
    parsed = URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise MediaRefused("only http and https URLs can be fetched")
    if parsed.user or parsed.password:
        raise MediaRefused("URLs with credentials are not fetched")
    host = parsed.host
    if policy.host_allowed(host):
        return parsed
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return parsed
    if not policy.ip_allowed(ip):
        raise MediaRefused(f"address {ip} is private or reserved")
    return parsed


def sniff_mime(data: bytes, header: str, hint: str) -> str:
    declared = header.split(";")[0].strip().lower()
    if declared and "/" in declared and declared not in ("application/octet-stream", "binary/octet-stream"):
        return declared
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    if hint and "*" not in hint:
        return hint
    return "application/octet-stream"


def _refusal(exc: BaseException) -> MediaRefused | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, MediaRefused):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


async def fetch(url: str, policy: FetchPolicy, hint: str = "") -> tuple[bytes, str]:
    """Download one URL under the policy; returns (bytes, mime type) or raises MediaRefused."""
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(policy), use_dns_cache=False, force_close=True)
    timeout = aiohttp.ClientTimeout(total=policy.timeout)
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False) as session:
            for _ in range(MAX_REDIRECTS + 1):
                target = check_url(url, policy)
                async with session.get(target, allow_redirects=False, headers={"user-agent": "poolgate-media"}) as resp:
                    if resp.status in _REDIRECTS:
                        location = resp.headers.get("location")
                        if not location:
                            raise MediaRefused(f"redirect {resp.status} without a Location")
                        url = urljoin(str(target), location)
                        continue
                    if resp.status >= 400:
                        raise MediaRefused(f"the server answered HTTP {resp.status}")
                    if resp.content_length is not None and resp.content_length > policy.max_bytes:
                        raise MediaRefused(f"the file is larger than {policy.max_bytes // (1024 * 1024)} MB")
                    data = bytearray()
                    async for piece in resp.content.iter_chunked(65536):
                        data.extend(piece)
                        if len(data) > policy.max_bytes:
                            raise MediaRefused(f"the file is larger than {policy.max_bytes // (1024 * 1024)} MB")
                    return bytes(data), sniff_mime(bytes(data), resp.headers.get("content-type", ""), hint)
            raise MediaRefused(f"more than {MAX_REDIRECTS} redirects")
    except MediaRefused:
        raise
    except TimeoutError:
        raise MediaRefused(f"no complete answer within {policy.timeout:g} s") from None
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        refused = _refusal(exc)
        if refused is not None:
            raise refused from None
        raise MediaRefused(f"the download failed ({type(exc).__name__})") from None


async def fetch_for_field(url: str, policy: FetchPolicy, field: str, hint: str = "") -> tuple[bytes, str]:
    """`fetch` for a URL a client sent in `field`: a refused or failed download is a 400 naming that field."""
    try:
        return await fetch(url, policy, hint)
    except MediaRefused as err:
        raise invalid(f"Could not fetch the media URL in '{field}': {err}.", field) from None


def remote_parts(hub: GenerateContentRequest) -> list[tuple[str, dict[str, Any]]]:
    """(hub path, part) for every fileData part poolgate must download."""
    found: list[tuple[str, dict[str, Any]]] = []
    for i, content in enumerate(hub.get("contents") or ()):
        for j, part in enumerate(content.get("parts") or ()):
            data = part.get("fileData") if isinstance(part, dict) else None
            if not isinstance(data, dict):
                continue
            uri = data.get("fileUri")
            if not isinstance(uri, str) or not uri.lower().startswith(("http://", "https://")):
                continue
            if (URL(uri).host or "").lower() in PASS_THROUGH_HOSTS:
                continue
            found.append((f"contents[{i}].parts[{j}].fileData.fileUri", part))  # type: ignore[arg-type]
    return found


async def inline_remote_media(hub: GenerateContentRequest, config: UpstreamConfig, fields: dict[str, str]) -> None:
    """Replace remote fileData parts by inlineData; a refused or failed fetch is a 400 naming the field."""
    todo = remote_parts(hub)
    if not todo:
        return
    policy = FetchPolicy.from_config(config)

    async def one(path: str, part: dict[str, Any]) -> None:
        uri = part["fileData"]["fileUri"]
        data, mime = await fetch_for_field(
            uri, policy, fields.get(uri, path), str(part["fileData"].get("mimeType") or "")
        )
        part.pop("fileData")
        part["inlineData"] = {"mimeType": mime, "data": base64.b64encode(data).decode()}

    results = await asyncio.gather(*(one(path, part) for path, part in todo), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
