"""Per-account egress proxies: checking a proxy URL before it is stored, and showing one without its password.

Each account can send its upstream traffic (token refresh included) through its own HTTP proxy, so
that accounts do not all appear from one address. aiohttp speaks to `http://` and `https://` proxies
(CONNECT for the TLS upstreams); SOCKS would need another dependency and is refused with a clear message.
"""

from __future__ import annotations

import copy
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

SCHEMES = ("http", "https")


class _Proxied(Protocol):
    proxy: str | None


C = TypeVar("C", bound=_Proxied)


def routed(client: C, proxy: str) -> C:
    """The same HTTP client sending through `proxy` (an account's own); the client itself when there is none."""
    if not proxy:
        return client
    twin = copy.copy(client)
    twin.proxy = proxy
    return twin


def check_proxy_url(url: str) -> str:
    """The URL to store ("" clears the account's proxy); ValueError with the reason when it cannot work."""
    url = url.strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise ValueError(f"proxy URL must start with http:// or https:// (got {parts.scheme or 'no'} scheme)")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when it is read
    except ValueError:
        raise ValueError("proxy URL has an invalid port") from None
    if not parts.hostname:
        raise ValueError("proxy URL has no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("proxy URL must be scheme://[user:password@]host[:port] with nothing after it")
    return url


def show_proxy(url: str) -> str:
    """scheme://user:***@host:port — for tables, the admin API and logs."""
    if not url:
        return ""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    if parts.username:
        netloc = f"{parts.username}:***@{netloc}" if parts.password else f"{parts.username}@{netloc}"
    return f"{parts.scheme}://{netloc}"
