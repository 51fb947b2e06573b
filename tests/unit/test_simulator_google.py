"""The simulator's Google OAuth and Cloud Code surfaces hold gateways to Google's rules (PKCE, envelope, SSE)."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson

from tests.unit.sim_client import client

VERIFIER = "v" * 64
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
REDIRECT = "http://127.0.0.1:9/cb"


__all__ = ["client"]  # the fixture is used by name


async def authorize(http: httpx.AsyncClient, **extra: str) -> dict[str, list[str]]:
    params = {
        "client_id": "cid",
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "state": "st",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        **extra,
    }
    resp = await http.get("/o/oauth2/v2/auth", params=params)
    assert resp.status_code == 302 and resp.headers["location"].startswith(REDIRECT + "?")
    return parse_qs(urlsplit(resp.headers["location"]).query)


async def exchange(http: httpx.AsyncClient, code: str, verifier: str = VERIFIER) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": "cid",
        "client_secret": "s",
        "code_verifier": verifier,
    }
    return await http.post("/token", data=form)


async def test_code_exchange_checks_pkce_and_is_single_use(client: httpx.AsyncClient) -> None:
    query = await authorize(client)
    assert query["state"] == ["st"]
    bad = await exchange(client, query["code"][0], verifier="w" * 64)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"
    await client.post("/_sim/google/next_login", json={"email": "p@example.com"})
    query = await authorize(client)
    good = await exchange(client, query["code"][0])
    assert good.status_code == 200
    tokens = good.json()
    assert tokens["refresh_token"].startswith("1//") and tokens["expires_in"] == 3600
    again = await exchange(client, query["code"][0])
    assert again.json()["error"] == "invalid_grant"
    info = await client.get("/oauth2/v2/userinfo", headers={"authorization": f"Bearer {tokens['access_token']}"})
    assert info.json()["email"] == "p@example.com"


async def test_authorize_without_pkce_redirects_with_an_error(client: httpx.AsyncClient) -> None:
    query = await authorize(client, code_challenge="")
    assert query["error"] == ["invalid_request"] and "code" not in query


async def test_cloud_code_wants_a_project_and_sse(client: httpx.AsyncClient) -> None:
    minted = (await client.post("/_sim/google/user", json={"email": "c@example.com", "project": "p1"})).json()
    form = {
        "grant_type": "refresh_token",
        "refresh_token": minted["refresh_token"],
        "client_id": "c",
        "client_secret": "s",
    }
    access = (await client.post("/token", data=form)).json()["access_token"]
    auth = {"authorization": f"Bearer {access}"}
    request = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    envelope = {"model": "gemini-2.5-flash", "project": "someone-elses", "request": request}
    denied = await client.post("/v1internal:generateContent", json=envelope, headers=auth)
    assert denied.status_code == 403
    envelope["project"] = "p1"
    plain = await client.post("/v1internal:streamGenerateContent", json=envelope, headers=auth)
    assert plain.status_code == 400
    streamed = await client.post("/v1internal:streamGenerateContent?alt=sse", json=envelope, headers=auth)
    frames = [f for f in streamed.content.split(b"\r\n\r\n") if f]
    assert frames and all(set(orjson.loads(f[len(b"data: ") :])) == {"response", "traceId"} for f in frames)
    unauthenticated = await client.post("/v1internal:generateContent", json=envelope)
    assert unauthenticated.status_code == 401


async def test_control_rejects_bad_input(client: httpx.AsyncClient) -> None:
    assert (await client.post("/_sim/google/user", json={"email": 3})).status_code == 400
    assert (await client.post("/_sim/google/base", json={"prefix": "/a", "status": 200})).status_code == 400
    assert (await client.post("/_sim/google/settings", json={"token_ttl": -1})).status_code == 400
