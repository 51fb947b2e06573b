"""CloudCodeHttp: calls to `{base}/v1internal:<method>`, trying `upstream.code_assist_bases` in order.

The next base is tried on 404, 408, any 5xx or a network error; never on 429 (a rate limit is the
account's, not the host's) nor on other 4xx. The last base's failure is what the caller sees.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import orjson

from poolgate import __version__
from poolgate.config import UpstreamConfig
from poolgate.hub.types import JSON
from poolgate.upstream.base import UpstreamFailure
from poolgate.upstream.egress import routed
from poolgate.upstream.http import NETWORK_ERRORS, failure_from_response, network_failure, read_json_object

log = logging.getLogger("poolgate.cloudcode")

DEFAULT_BASE = "https://cloudcode-pa.googleapis.com"


def falls_back(status: int) -> bool:
    return status in (404, 408) or status >= 500


class CloudCodeHttp:
    def __init__(self, session: aiohttp.ClientSession, config: UpstreamConfig) -> None:
        self.session = session
        self.bases = [b.rstrip("/") for b in config.code_assist_bases if b.strip()] or [DEFAULT_BASE]
        self.proxy = config.http_proxy or None
        self.user_agent = config.user_agent or f"poolgate/{__version__}"
        self.client_name = config.client_name or "poolgate"
        self.client_version = config.client_version or __version__

    def via(self, proxy: str) -> CloudCodeHttp:
        return routed(self, proxy)

    def headers(self, token: str) -> dict[str, str]:
        return {
            "authorization": f"Bearer {token}",
            "content-type": "application/json",
            "user-agent": self.user_agent,
            "x-client-name": self.client_name,
            "x-client-version": self.client_version,
        }

    async def open(self, method: str, token: str, body: JSON, query: str = "") -> aiohttp.ClientResponse:
        """POST and return the first 2xx response (the caller reads and releases it)."""
        payload = orjson.dumps(body)
        suffix = f":{method}" + (f"?{query}" if query else "")
        return await self._walk(
            lambda base: self.session.post(
                f"{base}/v1internal{suffix}", data=payload, headers=self.headers(token), proxy=self.proxy
            )
        )

    async def post_json(self, method: str, token: str, body: JSON) -> JSON:
        return await self.read_json(await self.open(method, token, body))

    async def get_json(self, path: str, token: str) -> JSON:
        """GET `{base}/v1internal/<path>` (long-running operations), with the same fallback."""
        resp = await self._walk(
            lambda base: self.session.get(f"{base}/v1internal/{path}", headers=self.headers(token), proxy=self.proxy)
        )
        return await self.read_json(resp)

    async def _walk(self, send: Any) -> aiohttp.ClientResponse:
        last: UpstreamFailure | None = None
        for n, base in enumerate(self.bases):
            try:
                resp: aiohttp.ClientResponse = await send(base)
            except NETWORK_ERRORS as exc:
                last = network_failure(exc)
            else:
                if resp.status < 400:
                    return resp
                try:
                    last = await failure_from_response(resp)
                finally:
                    resp.release()
                if not falls_back(last.status):
                    raise last
            if n + 1 < len(self.bases):
                log.info("cloud code base %s failed (%s); trying the next one", base, last)
        assert last is not None
        raise last

    @staticmethod
    async def read_json(resp: aiohttp.ClientResponse) -> JSON:
        # Unlike the Gemini API transport, an empty 2xx body here reads as an empty object.
        return await read_json_object(resp, empty={})
