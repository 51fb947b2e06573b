"""The shared aiohttp client session and the mapping of its errors onto UpstreamFailure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from poolgate.config import UpstreamConfig
from poolgate.hub.types import JSON
from poolgate.upstream.base import UpstreamFailure


def make_session(config: UpstreamConfig) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300, keepalive_timeout=60)
    timeout = aiohttp.ClientTimeout(total=None, connect=config.connect_timeout, sock_read=300)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        json_serialize=lambda o: orjson.dumps(o).decode(),
        trust_env=False,
        auto_decompress=True,
    )


def bounded_call_timeout(config: UpstreamConfig) -> aiohttp.ClientTimeout:
    """For a call the gateway's attempt timeout bounds as a whole (a non-stream generate): no read timer.

    The session's per-read timeout re-arms a loop timer on every read, ~3 µs each on uvloop, and
    guards nothing the attempt timeout does not already guard for a call read in one piece.
    """
    return aiohttp.ClientTimeout(total=None, connect=config.connect_timeout, sock_read=None)


async def failure_from_response(resp: aiohttp.ClientResponse) -> UpstreamFailure:
    try:
        raw = await resp.read()
    except NETWORK_ERRORS:
        raw = b""  # the status alone still says what happened
    body: Any = None
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]  # Google sometimes wraps stream errors in a JSON array
    return UpstreamFailure(
        status=resp.status,
        body=body if isinstance(body, dict) else None,
        text=raw[:2000].decode("utf-8", "replace"),
        retry_after_header=resp.headers.get("Retry-After"),
    )


def network_failure(exc: BaseException) -> UpstreamFailure:
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return UpstreamFailure(timeout=True, text=str(exc) or type(exc).__name__)
    return UpstreamFailure(network=True, text=f"{type(exc).__name__}: {exc}"[:500])


NETWORK_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


async def read_json_object(resp: aiohttp.ClientResponse, *, empty: JSON | None = None) -> JSON:
    """Read and release an answer that must be a JSON object; an empty body is `empty` when given.

    Network errors and anything that is not a JSON object become UpstreamFailures (502 for the latter).
    """
    try:
        raw = await resp.read()
    except NETWORK_ERRORS as exc:
        raise network_failure(exc) from exc
    finally:
        resp.release()
    if not raw and empty is not None:
        return empty
    try:
        data: Any = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise UpstreamFailure(status=502, text=f"unparseable upstream answer: {raw[:200]!r}") from exc
    if not isinstance(data, dict):
        raise UpstreamFailure(status=502, text="upstream answer is not a JSON object")
    return data


async def body_chunks(resp: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    try:
        async for piece in resp.content.iter_any():
            yield piece
    except NETWORK_ERRORS as exc:
        raise network_failure(exc) from exc
