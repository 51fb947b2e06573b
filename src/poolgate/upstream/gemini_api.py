"""GeminiApiTransport: API-key accounts calling generativelanguage (`x-goog-api-key`)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import aiohttp
import orjson

from poolgate import __version__
from poolgate.config import UpstreamConfig
from poolgate.hub.types import JSON
from poolgate.store.models import Account
from poolgate.upstream.base import UpstreamCall
from poolgate.upstream.http import (
    NETWORK_ERRORS,
    body_chunks,
    bounded_call_timeout,
    failure_from_response,
    network_failure,
    read_json_object,
)
from poolgate.upstream.sse import iter_sse_json


class GeminiApiTransport:
    def __init__(self, session: aiohttp.ClientSession, config: UpstreamConfig) -> None:
        self.session = session
        self.config = config
        self.base = config.gemini_api_base.rstrip("/")
        self.user_agent = config.user_agent or f"poolgate/{__version__}"
        self.proxy = config.http_proxy or None
        self.bounded_timeout = bounded_call_timeout(config)

    def _url(self, account: Account, model: str, method: str) -> str:
        base = (account.base_url or self.base).rstrip("/")
        return f"{base}/v1beta/models/{model}:{method}"

    def _headers(self, account: Account) -> dict[str, str]:
        return {
            "x-goog-api-key": account.secret,
            "content-type": "application/json",
            "user-agent": self.user_agent,
        }

    async def _post(
        self, url: str, account: Account, body: JSON, client_timeout: aiohttp.ClientTimeout | None = None
    ) -> aiohttp.ClientResponse:
        try:
            resp = await self.session.post(
                url,
                data=orjson.dumps(body),
                headers=self._headers(account),
                proxy=account.proxy_url or self.proxy,
                timeout=client_timeout or self.session.timeout,
            )
        except NETWORK_ERRORS as exc:
            raise network_failure(exc) from exc
        if resp.status >= 400:
            try:
                raise await failure_from_response(resp)
            finally:
                resp.release()
        return resp

    async def generate(self, account: Account, call: UpstreamCall) -> JSON:
        url = self._url(account, call.model, "generateContent")
        resp = await self._post(url, account, call.body, self.bounded_timeout)
        return await read_json_object(resp)

    async def stream(self, account: Account, call: UpstreamCall) -> AsyncGenerator[JSON, None]:
        url = self._url(account, call.model, "streamGenerateContent") + "?alt=sse"
        resp = await self._post(url, account, call.body)
        try:
            async for chunk in iter_sse_json(body_chunks(resp)):
                yield chunk
        finally:
            resp.close()

    async def count_tokens(self, account: Account, model: str, body: JSON) -> JSON:
        resp = await self._post(self._url(account, model, "countTokens"), account, body, self.bounded_timeout)
        return await read_json_object(resp)

    async def embed(self, account: Account, model: str, body: JSON) -> JSON:
        """`batchEmbedContents`: up to 100 texts in one call."""
        resp = await self._post(self._url(account, model, "batchEmbedContents"), account, body, self.bounded_timeout)
        return await read_json_object(resp)

    async def list_models(self, account: Account) -> list[JSON]:
        base = (account.base_url or self.base).rstrip("/")
        try:
            async with self.session.get(
                f"{base}/v1beta/models", headers=self._headers(account), proxy=account.proxy_url or self.proxy
            ) as resp:
                if resp.status >= 400:
                    raise await failure_from_response(resp)
                data = await read_json_object(resp)
        except NETWORK_ERRORS as exc:
            raise network_failure(exc) from exc
        models = data.get("models")
        return [m for m in models if isinstance(m, dict)] if isinstance(models, list) else []
