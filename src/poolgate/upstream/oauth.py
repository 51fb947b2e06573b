"""Google OAuth client: PKCE authorize URL, code exchange, token refresh and userinfo.

Failures become UpstreamFailure with `oauth_error` set: "invalid_grant" when Google says the grant
is dead (the account needs a new login), "refresh_failed" for anything else (network, 5xx, a bad client).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import orjson

from poolgate import __version__
from poolgate.config import UpstreamConfig
from poolgate.upstream.base import UpstreamFailure
from poolgate.upstream.egress import routed
from poolgate.upstream.http import NETWORK_ERRORS, network_failure

SCOPES = (
    "openid",
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/userinfo.profile",
)
INVALID_GRANT = "invalid_grant"
REFRESH_FAILED = "refresh_failed"

MISSING_CLIENT = (
    "No OAuth client configured. Set upstream.oauth_client_id and upstream.oauth_client_secret "
    "(in poolgate.toml, or POOLGATE_UPSTREAM__OAUTH_CLIENT_ID / POOLGATE_UPSTREAM__OAUTH_CLIENT_SECRET). "
    "See docs/oauth.md."
)


class OAuthSetupError(Exception):
    """The login cannot start or finish for a reason the user must fix; the message says how."""


@dataclass(frozen=True, slots=True)
class Pkce:
    verifier: str
    challenge: str

    @classmethod
    def new(cls) -> Pkce:
        verifier = secrets.token_urlsafe(64)[:96]
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii"))


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str
    expires_in: float
    refresh_token: str = ""  # present on a code exchange, and when Google rotates it


def parse_redirect(pasted: str) -> tuple[str, str]:
    """A pasted redirect URL (or a bare code) -> (code, state); raises OAuthSetupError on an error redirect."""
    text = pasted.strip()
    if "code=" not in text and "error=" not in text:
        return text, ""
    query = urlsplit(text).query if "://" in text or text.startswith("/") else text.lstrip("?")
    params = {k: v[0] for k, v in parse_qs(query).items()}
    if params.get("error"):
        raise OAuthSetupError(f"Google refused the login: {params['error']}")
    if not params.get("code"):
        raise OAuthSetupError("The pasted URL carries no authorization code.")
    return params["code"], params.get("state", "")


class OAuthClient:
    def __init__(self, session: aiohttp.ClientSession, config: UpstreamConfig) -> None:
        self.session = session
        self.config = config
        self.proxy = config.http_proxy or None
        self.user_agent = config.user_agent or f"poolgate/{__version__}"

    @property
    def configured(self) -> bool:
        return bool(self.config.oauth_client_id and self.config.oauth_client_secret)

    def via(self, proxy: str) -> OAuthClient:
        return routed(self, proxy)

    def require_client(self) -> None:
        if not self.configured:
            raise OAuthSetupError(MISSING_CLIENT)

    def authorize_url(self, redirect_uri: str, state: str, pkce: Pkce) -> str:
        self.require_client()
        query = {
            "client_id": self.config.oauth_client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": " ".join(SCOPES),
            "access_type": "offline",
            "prompt": "consent",
            "include_granted_scopes": "true",
            "state": state,
            "code_challenge": pkce.challenge,
            "code_challenge_method": "S256",
        }
        sep = "&" if "?" in self.config.oauth_auth_url else "?"
        return f"{self.config.oauth_auth_url}{sep}{urlencode(query)}"

    async def exchange_code(self, code: str, redirect_uri: str, verifier: str) -> Tokens:
        self.require_client()
        tokens = await self._token_call(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier}
        )
        if not tokens.refresh_token:
            raise OAuthSetupError("Google returned no refresh token; revoke poolgate's access and log in again.")
        return tokens

    async def refresh(self, refresh_token: str) -> Tokens:
        if not self.configured:
            raise UpstreamFailure(oauth_error=REFRESH_FAILED, text=MISSING_CLIENT)
        return await self._token_call({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def _token_call(self, form: dict[str, str]) -> Tokens:
        form = {**form, "client_id": self.config.oauth_client_id, "client_secret": self.config.oauth_client_secret}
        try:
            async with self.session.post(
                self.config.oauth_token_url,
                data=form,
                headers={"user-agent": self.user_agent, "accept": "application/json"},
                proxy=self.proxy,
            ) as resp:
                raw = await resp.read()
                status = resp.status
        except NETWORK_ERRORS as exc:
            failure = network_failure(exc)
            raise UpstreamFailure(network=True, oauth_error=REFRESH_FAILED, text=failure.text) from exc
        body = _json(raw)
        if status >= 400 or not isinstance(body.get("access_token"), str):
            error = str(body.get("error") or f"http_{status}")
            detail = str(body.get("error_description") or "")
            kind = INVALID_GRANT if error == INVALID_GRANT else REFRESH_FAILED
            raise UpstreamFailure(status=status, oauth_error=kind, text=f"{error}: {detail}".strip(": "))
        expires = body.get("expires_in")
        return Tokens(
            access_token=body["access_token"],
            expires_in=float(expires) if isinstance(expires, (int, float)) else 3600.0,
            refresh_token=str(body.get("refresh_token") or ""),
        )

    async def userinfo(self, access_token: str) -> dict[str, Any]:
        try:
            async with self.session.get(
                self.config.userinfo_url,
                headers={"authorization": f"Bearer {access_token}", "user-agent": self.user_agent},
                proxy=self.proxy,
            ) as resp:
                raw = await resp.read()
                status = resp.status
        except NETWORK_ERRORS as exc:
            raise network_failure(exc) from exc
        body = _json(raw)
        if status >= 400:
            raise UpstreamFailure(status=status, body=body, text=raw[:500].decode("utf-8", "replace"))
        return body


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
