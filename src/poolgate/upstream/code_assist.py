"""CodeAssistTransport: OAuth accounts served through Cloud Code `v1internal` (envelope in, `response` out)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncGenerator

import aiohttp

from poolgate.hub.types import JSON
from poolgate.store.models import Account
from poolgate.upstream.base import UpstreamCall, UpstreamFailure
from poolgate.upstream.http import body_chunks
from poolgate.upstream.oauth_accounts import OAuthAccounts
from poolgate.upstream.quota import fetch_models
from poolgate.upstream.sse import iter_sse_json


def unwrap(body: JSON) -> JSON:
    """Cloud Code wraps each Gemini answer (or stream chunk) as {"response": {...}, "traceId": ...}."""
    inner = body.get("response")
    return inner if isinstance(inner, dict) else body


class CodeAssistTransport:
    def __init__(self, oauth: OAuthAccounts) -> None:
        self.oauth = oauth
        self.http = oauth.http
        self.agent = oauth.config.client_name or "poolgate"

    async def _envelope(self, account: Account, call: UpstreamCall) -> JSON:
        project = await self.oauth.ensure_project(account)
        return {
            "model": call.model,
            "project": project,
            "request": call.body,
            "requestId": call.request_id or secrets.token_hex(12),
            "userAgent": self.agent,
        }

    async def _open(self, account: Account, method: str, body: JSON, query: str = "") -> aiohttp.ClientResponse:
        try:
            http = self.http.via(account.proxy_url)
            return await self.oauth.with_token(account, lambda token: http.open(method, token, body, query))
        except UpstreamFailure as failure:
            if failure.status == 429:
                self.oauth.quota_soon(account)
            raise

    async def generate(self, account: Account, call: UpstreamCall) -> JSON:
        envelope = await self._envelope(account, call)
        resp = await self._open(account, "generateContent", envelope)
        return unwrap(await self.http.read_json(resp))

    async def stream(self, account: Account, call: UpstreamCall) -> AsyncGenerator[JSON, None]:
        envelope = await self._envelope(account, call)
        resp = await self._open(account, "streamGenerateContent", envelope, "alt=sse")
        try:
            async for chunk in iter_sse_json(body_chunks(resp)):
                yield unwrap(chunk)
        finally:
            resp.close()

    async def count_tokens(self, account: Account, model: str, body: JSON) -> JSON:
        nested = body.get("generateContentRequest")
        inner = nested if isinstance(nested, dict) else body
        # Cloud Code's countTokens takes only {request: {model, contents}}: no project, no envelope.
        request: JSON = {"model": f"models/{model}", "contents": inner.get("contents") or []}
        resp = await self._open(account, "countTokens", {"request": request})
        return await self.http.read_json(resp)

    async def list_models(self, account: Account) -> list[JSON]:
        project = await self.oauth.ensure_project(account)
        http = self.http.via(account.proxy_url)
        _, listing = await self.oauth.with_token(account, lambda token: fetch_models(http, token, project))
        return listing
