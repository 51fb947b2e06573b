"""The OAuth upstream pieces against the in-process simulator over loopback: tokens, Cloud Code calls, projects."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from poolgate.config import UpstreamConfig
from poolgate.pool.classify import Classifier
from poolgate.simulator import RunningSimulator, start_simulator
from poolgate.store.models import OAUTH, Account
from poolgate.upstream.base import UpstreamCall, UpstreamFailure
from poolgate.upstream.code_assist import CodeAssistTransport
from poolgate.upstream.http import make_session
from poolgate.upstream.oauth import INVALID_GRANT, REFRESH_FAILED, OAuthSetupError, parse_redirect
from poolgate.upstream.oauth_accounts import OAuthAccounts

FLASH = "gemini-2.5-flash"
Writes = list[tuple[str, dict[str, Any], bool]]


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    running = await start_simulator()
    try:
        yield running
    finally:
        await running.stop()


def upstream(sim: RunningSimulator, bases: list[str] | None = None, client: bool = True) -> UpstreamConfig:
    return UpstreamConfig(
        code_assist_bases=bases or [sim.url],
        oauth_token_url=f"{sim.url}/token",
        oauth_auth_url=f"{sim.url}/o/oauth2/v2/auth",
        userinfo_url=f"{sim.url}/oauth2/v2/userinfo",
        oauth_client_id="cid" if client else "",
        oauth_client_secret="secret" if client else "",
    )


@pytest.fixture
async def session(sim: RunningSimulator) -> AsyncIterator[aiohttp.ClientSession]:
    s = make_session(upstream(sim))
    try:
        yield s
    finally:
        await s.close()


def runtime(sim: RunningSimulator, session: aiohttp.ClientSession, writes: Writes, **kw: Any) -> OAuthAccounts:
    async def persist(account_id: str, fields: dict[str, Any], bump: bool) -> None:
        writes.append((account_id, fields, bump))

    return OAuthAccounts(session, upstream(sim, **kw), persist)


def account(sim: RunningSimulator, email: str, **fields: Any) -> Account:
    return Account(
        id=email.split("@")[0],
        kind=OAUTH,
        label="",
        secret=sim.state.google.mint_refresh_token(email),
        email=email,
        **fields,
    )


def calls(sim: RunningSimulator, method: str) -> list[Any]:
    return [c for c in sim.state.calls if c.method == method]


async def test_fifty_callers_with_an_expired_token_share_one_refresh(
    sim: RunningSimulator, session: aiohttp.ClientSession
) -> None:
    # Tokens shorter-lived than the refresh margin: every caller wants a refresh, only one may do it.
    sim.state.google.token_ttl = 10
    writes: Writes = []
    oauth = runtime(sim, session, writes)
    acc = account(sim, "burst@example.com")
    tokens = await asyncio.gather(*(oauth.keeper.access_token(acc) for _ in range(50)))
    assert len(set(tokens)) == 1 and tokens[0].startswith("ya29.sim-")
    assert len(calls(sim, "token")) == 1
    assert [(w[0], sorted(w[1]), w[2]) for w in writes] == [("burst", ["access_expires_at", "access_token"], False)]
    assert acc.access_token == tokens[0]


async def test_a_valid_token_is_reused_and_a_rejected_one_refreshed_once(
    sim: RunningSimulator, session: aiohttp.ClientSession
) -> None:
    oauth = runtime(sim, session, [])
    acc = account(sim, "reuse@example.com")
    first = await oauth.keeper.access_token(acc)
    assert await oauth.keeper.access_token(acc) == first
    assert len(calls(sim, "token")) == 1
    fresh = await asyncio.gather(*(oauth.keeper.access_token(acc, stale=first) for _ in range(20)))
    assert len(set(fresh)) == 1 and fresh[0] != first
    assert len(calls(sim, "token")) == 2


async def test_rotated_refresh_tokens_are_kept_and_persisted(
    sim: RunningSimulator, session: aiohttp.ClientSession
) -> None:
    sim.state.google.rotate_refresh_tokens = True
    writes: Writes = []
    oauth = runtime(sim, session, writes)
    acc = account(sim, "rotate@example.com")
    original = acc.secret
    first = await oauth.keeper.access_token(acc)
    assert acc.secret != original and writes[-1][1]["secret"] == acc.secret
    # The old refresh token is dead now; the next refresh must use the rotated one.
    second = await oauth.keeper.access_token(acc, stale=first)
    assert second != first


async def test_invalid_grant_marks_needs_relogin(sim: RunningSimulator, session: aiohttp.ClientSession) -> None:
    oauth = runtime(sim, session, [])
    acc = account(sim, "revoked@example.com")
    sim.state.google.revoke("revoked@example.com")
    with pytest.raises(UpstreamFailure) as caught:
        await oauth.keeper.access_token(acc)
    assert caught.value.oauth_error == INVALID_GRANT
    assert Classifier().classify(caught.value).account_state == "needs_relogin"


async def test_missing_client_credentials_fail_the_refresh_plainly(
    sim: RunningSimulator, session: aiohttp.ClientSession
) -> None:
    oauth = runtime(sim, session, [], client=False)
    with pytest.raises(UpstreamFailure) as caught:
        await oauth.keeper.access_token(account(sim, "x@example.com"))
    assert caught.value.oauth_error == REFRESH_FAILED and "oauth_client_id" in str(caught.value.text)
    with pytest.raises(OAuthSetupError):
        oauth.logins.start("http://127.0.0.1:1/cb")


async def test_429_stays_on_its_base_and_408_moves_on(sim: RunningSimulator, session: aiohttp.ClientSession) -> None:
    oauth = runtime(sim, session, [], bases=[f"{sim.url}/a", f"{sim.url}/b"])
    acc = account(sim, "bases@example.com")
    token = await oauth.keeper.access_token(acc)
    sim.state.google.base_status["/a"] = 429
    with pytest.raises(UpstreamFailure) as caught:
        await oauth.http.post_json("loadCodeAssist", token, {})
    assert caught.value.status == 429
    assert [c.path for c in calls(sim, "loadCodeAssist")] == ["/a/v1internal:loadCodeAssist"]
    sim.state.google.base_status["/a"] = 408
    await oauth.http.post_json("loadCodeAssist", token, {})
    assert [c.path for c in calls(sim, "loadCodeAssist")][1:] == [
        "/a/v1internal:loadCodeAssist",
        "/b/v1internal:loadCodeAssist",
    ]


async def test_no_project_means_no_request_and_no_fallback_project(
    sim: RunningSimulator, session: aiohttp.ClientSession
) -> None:
    writes: Writes = []
    oauth = runtime(sim, session, writes)
    user = sim.state.google.user("noproject@example.com")
    user.project, user.onboard_project, user.onboard_polls = "", "", 0  # onboarding yields no project
    acc = account(sim, "noproject@example.com")
    transport = CodeAssistTransport(oauth)
    call = UpstreamCall(model=FLASH, body={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}, stream=False)
    with pytest.raises(UpstreamFailure) as caught:
        await transport.generate(acc, call)
    assert caught.value.status == 503 and "project" in caught.value.text
    assert acc.project_id == "" and not calls(sim, "generateContent")
    assert not [w for w in writes if "project_id" in w[1]]


async def test_count_tokens_and_models_through_cloud_code(
    sim: RunningSimulator, session: aiohttp.ClientSession
) -> None:
    oauth = runtime(sim, session, [])
    acc = account(sim, "count@example.com")
    transport = CodeAssistTransport(oauth)
    contents = [{"role": "user", "parts": [{"text": "count these tokens please"}]}]
    counted = await transport.count_tokens(acc, FLASH, {"contents": contents, "safetySettings": []})
    assert counted["totalTokens"] >= 1
    (call,) = calls(sim, "countTokens")
    assert call.body == {"request": {"model": f"models/{FLASH}", "contents": contents}}
    models = await transport.list_models(acc)
    assert {"name": f"models/{FLASH}", "displayName": "Gemini 2.5 Flash"} in models


def test_parse_redirect_accepts_urls_codes_and_reports_errors() -> None:
    assert parse_redirect("http://127.0.0.1:9/oauth-callback?state=s1&code=4/abc&scope=x") == ("4/abc", "s1")
    assert parse_redirect("  4/bare-code \n") == ("4/bare-code", "")
    assert parse_redirect("?code=c2&state=s2") == ("c2", "s2")
    with pytest.raises(OAuthSetupError, match="access_denied"):
        parse_redirect("http://127.0.0.1:9/cb?error=access_denied&state=s")
