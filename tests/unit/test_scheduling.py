"""Every failure class end to end: the real Gateway, Scheduler and Gemini transport against the simulator,
with an injectable FakeClock so cooldowns expire when the test says so."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from poolgate.errors import ErrorKind, GatewayError
from poolgate.hub.types import JSON
from poolgate.store.models import API_KEY, OAUTH, Account
from poolgate.store.sql import SqlStore
from poolgate.upstream.base import UpstreamCall, UpstreamFailure
from tests.unit.pool_harness import FLASH, KEYS, PRO, MakePool, Pool, make_pool, until

__all__ = ["make_pool"]  # the fixture is used by name


async def test_per_request_429_moves_on_without_cooling(make_pool: MakePool) -> None:
    pool: Pool = await make_pool()
    pool.script(KEYS[0], {"status": 429, "reason": "RATE_LIMIT_EXCEEDED", "retry_delay": "0.5s"})
    answer, _ = await pool.ask()
    assert not isinstance(answer, GatewayError)
    assert pool.calls() == [KEYS[0], KEYS[1]]  # rotated at once, no wait needed
    assert await pool.cooling() == {}  # the account is not charged for one request's throttle
    assert pool.clock.slept == []


async def test_per_request_429_on_a_single_account_waits_the_hint_and_retries(make_pool: MakePool) -> None:
    pool: Pool = await make_pool(accounts=[Account("", API_KEY, "solo", KEYS[0])])
    pool.script(KEYS[0], {"status": 429, "reason": "RATE_LIMIT_EXCEEDED", "retry_delay": "0.5s"})
    answer, _ = await pool.ask()
    assert not isinstance(answer, GatewayError)
    assert pool.calls() == [KEYS[0], KEYS[0]]
    assert pool.clock.slept == [0.5]


async def test_per_minute_limit_cools_account_for_that_model_only(make_pool: MakePool) -> None:
    pool: Pool = await make_pool()
    pool.script(KEYS[0], {"status": 429, "retry_delay": "40s", "message": "Quota exceeded: requests per minute"})
    answer, ctx = await pool.ask()
    assert pool.label(ctx) == "k2" and not isinstance(answer, GatewayError)
    k1 = pool.ids["k1"]
    kind, left, _ = (await pool.cooling())[f"{k1}:{FLASH}"]
    assert (kind, left) == ("rate_limit", 40.0)
    # The other model on the same account is unaffected; requests for FLASH skip k1 until it frees up.
    for _ in range(4):
        await pool.ask(model=FLASH)
    _, pro_ctx = await pool.ask(model=PRO)
    assert pool.calls().count(KEYS[0]) == 2 and pool.sim.state.calls[-1].model == PRO
    assert pool.label(pro_ctx) == "k1"
    pool.clock.advance(41)
    seen = {pool.label((await pool.ask())[1]) for _ in range(3)}
    assert "k1" in seen


async def test_daily_quota_uses_quota_reset_delay_capped(make_pool: MakePool) -> None:
    pool: Pool = await make_pool("[scheduling]\ncooldown_cap_seconds = 86400\n")
    pool.script(KEYS[0], {"status": 429, "reason": "QUOTA_EXHAUSTED", "quota_reset_delay": "3h0m5s"})
    await pool.ask()
    kind, left, reason = (await pool.cooling())[f"{pool.ids['k1']}:{FLASH}"]
    assert (kind, left) == ("quota_exhausted", 3 * 3600 + 5.0)
    assert "exhausted your capacity" in reason


@pytest.mark.parametrize(
    "step",
    [
        {"status": 429, "reason": "MODEL_CAPACITY_EXHAUSTED"},
        {"status": 503},
        {"status": 529},
    ],
    ids=["model_capacity", "503", "529"],
)
async def test_capacity_rotates_without_cooling(make_pool: MakePool, step: dict[str, Any]) -> None:
    pool: Pool = await make_pool()
    pool.script(KEYS[0], step)
    answer, ctx = await pool.ask()
    assert not isinstance(answer, GatewayError) and pool.label(ctx) == "k2"
    assert await pool.cooling() == {} and pool.clock.slept == []


async def test_capacity_on_a_single_account_backs_off_and_retries(make_pool: MakePool) -> None:
    pool: Pool = await make_pool(accounts=[Account("", API_KEY, "solo", KEYS[0])])
    pool.script(KEYS[0], {"status": 503}, {"status": 503})
    answer, _ = await pool.ask()
    assert not isinstance(answer, GatewayError)
    assert pool.calls() == [KEYS[0]] * 3 and pool.clock.slept == [0.5, 1.0]


async def test_401_parks_the_whole_account(make_pool: MakePool) -> None:
    pool: Pool = await make_pool()
    pool.script(KEYS[0], {"status": 401})
    answer, ctx = await pool.ask()
    assert not isinstance(answer, GatewayError) and pool.label(ctx) == "k2"
    k1 = pool.ids["k1"]
    assert (await pool.cooling())[k1][:2] == ("unauthenticated", 60.0)
    status = await pool.svc.scheduler.status(pool.svc.scheduler.accounts[0])
    assert status.state == "parked" and status.reason.startswith("unauthenticated")
    _, pro_ctx = await pool.ask(model=PRO)
    assert pool.label(pro_ctx) != "k1"  # account scope: every model avoids it


async def test_403_validation_required_parks_and_shows_the_url(make_pool: MakePool) -> None:
    url = "https://accounts.google.com/signin/continue?sarp=1"
    pool: Pool = await make_pool()
    pool.script(KEYS[0], {"status": 403, "validation_url": url, "message": "Verify your account to continue."})
    answer, _ = await pool.ask()
    assert not isinstance(answer, GatewayError)
    snap = {row["name"]: row for row in await pool.svc.scheduler.snapshot()}
    assert snap["k1"]["state"] == "parked" and snap["k1"]["validation_url"] == url
    assert snap["k1"]["until"] == pytest.approx(pool.clock.now() + 600)
    assert snap["k2"]["state"] == "active"


async def test_404_model_not_found_answers_404_and_stops_probing(make_pool: MakePool) -> None:
    pool: Pool = await make_pool()
    answer, _ = await pool.ask(model="imaginary-model")
    assert isinstance(answer, GatewayError) and answer.status == 404
    assert "imaginary-model is not found" in answer.message
    assert len(pool.calls()) == 3  # each account learned it once
    again, _ = await pool.ask(model="imaginary-model")
    assert isinstance(again, GatewayError) and again.status == 404  # not a misleading 429
    assert len(pool.calls()) == 3
    ok, _ = await pool.ask(model=FLASH)
    assert not isinstance(ok, GatewayError)


async def test_400_client_error_keeps_its_meaning_and_never_rotates(make_pool: MakePool) -> None:
    pool: Pool = await make_pool()
    pool.script(KEYS[0], {"status": 400, "message": "Unknown name \"foo\" at 'generation_config'."})
    answer, _ = await pool.ask()
    assert isinstance(answer, GatewayError) and answer.status == 400 and "Unknown name" in answer.message
    assert pool.calls() == [KEYS[0]]
    assert await pool.cooling() == {}


async def test_network_error_cools_the_account_and_rotates(make_pool: MakePool) -> None:
    dead = Account("", API_KEY, "dead", "key-dead-00000", base_url="http://127.0.0.1:9")
    pool: Pool = await make_pool(accounts=[dead, Account("", API_KEY, "live", KEYS[1])])
    answer, ctx = await pool.ask()
    assert not isinstance(answer, GatewayError) and pool.label(ctx) == "live"
    assert (await pool.cooling())[pool.ids["dead"]][:2] == ("network", 2.0)


async def test_timeout_cancels_the_call_and_rotates(make_pool: MakePool) -> None:
    pool: Pool = await make_pool("[scheduling]\nattempt_timeout_seconds = 0.3\n")
    pool.script(KEYS[0], {"delay": 5})
    answer, ctx = await pool.ask()
    assert not isinstance(answer, GatewayError) and pool.label(ctx) == "k2"
    assert (await pool.cooling())[f"{pool.ids['k1']}:{FLASH}"][:2] == ("timeout", 5.0)
    await until(lambda: [c.key for c in pool.sim.state.disconnects] == [KEYS[0]])


async def test_empty_stream_is_retried_invisibly(make_pool: MakePool) -> None:
    pool: Pool = await make_pool()
    pool.script(KEYS[0], {"empty": True})
    answer, ctx = await pool.ask(stream=True)
    assert not isinstance(answer, GatewayError) and answer["chunks"]
    assert pool.label(ctx) == "k2" and ctx.attempts == 2
    assert await pool.cooling() == {}


async def test_invalid_grant_needs_relogin_and_persists(make_pool: MakePool, tmp_path: Path) -> None:
    class RevokedOAuth:
        async def generate(self, account: Account, call: UpstreamCall) -> JSON:
            raise UpstreamFailure(oauth_error="invalid_grant", text="Token has been expired or revoked.")

    oauth = Account("", OAUTH, "me@example.com", "1//refresh", email="me@example.com")
    pool: Pool = await make_pool(
        accounts=[oauth, Account("", API_KEY, "k1", KEYS[0])], extra_transports={OAUTH: RevokedOAuth()}
    )
    pool.svc.scheduler.accounts[1].last_used_at = 1.0  # make the OAuth account the first choice
    answer, ctx = await pool.ask()
    assert not isinstance(answer, GatewayError) and pool.label(ctx) == "k1"
    status = await pool.svc.scheduler.status(pool.svc.scheduler.accounts[0])
    assert status.state == "needs_relogin" and "invalid_grant" in status.reason
    await until(lambda: stored_state(tmp_path, pool.ids["me@example.com"]) == "needs_relogin")


async def test_a_success_clears_its_scope(make_pool: MakePool) -> None:
    pool: Pool = await make_pool(accounts=[Account("", API_KEY, "solo", KEYS[0])])
    bare = {"status": 429}
    pool.script(KEYS[0], bare)
    await pool.ask()
    assert (await pool.cooling())[f"{pool.ids['solo']}:{FLASH}"][1] == 30.0
    pool.clock.advance(31)
    pool.script(KEYS[0], bare)
    await pool.ask()  # the second 429 in a row climbs the ladder
    assert (await pool.cooling())[f"{pool.ids['solo']}:{FLASH}"][1] == 60.0
    pool.clock.advance(61)
    ok, _ = await pool.ask()
    assert not isinstance(ok, GatewayError)
    pool.script(KEYS[0], bare)
    await pool.ask()  # after a success the ladder starts again
    assert (await pool.cooling())[f"{pool.ids['solo']}:{FLASH}"][1] == 30.0


async def test_a_success_that_started_earlier_does_not_clear_a_newer_cooldown(make_pool: MakePool) -> None:
    pool: Pool = await make_pool(accounts=[Account("", API_KEY, "solo", KEYS[0])])
    sched = pool.svc.scheduler
    account = sched.accounts[0]
    started = pool.clock.now()
    pool.clock.advance(1)
    await sched.record_failure(account, FLASH, UpstreamFailure(status=429, body=None, text="slow down"))
    await sched.report_success(account, FLASH, started)
    assert f"{account.id}:{FLASH}" in await pool.cooling()


async def test_everything_cooling_answers_429_with_the_earliest_free_time(make_pool: MakePool) -> None:
    pool: Pool = await make_pool()
    for key, delay in zip(KEYS, ("50s", "20s", "90s"), strict=True):
        pool.script(key, {"status": 429, "retry_delay": delay})
    answer, _ = await pool.ask()
    assert isinstance(answer, GatewayError) and answer.kind is ErrorKind.ALL_COOLING and answer.status == 429
    assert answer.retry_after == 20.0
    assert time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(pool.clock.now() + 20)) in answer.message
    assert "k2" in answer.message
    again, _ = await pool.ask()  # no upstream call while everything cools
    assert isinstance(again, GatewayError) and again.status == 429 and len(pool.calls()) == 3


async def test_nothing_usable_answers_503(make_pool: MakePool) -> None:
    pool: Pool = await make_pool(accounts=[Account("", API_KEY, "off", KEYS[0], enabled=False)])
    answer, _ = await pool.ask()
    assert isinstance(answer, GatewayError) and answer.status == 503 and "off: disabled" in answer.message
    parked: Pool = await make_pool(accounts=[])
    answer, _ = await parked.ask()
    assert isinstance(answer, GatewayError) and answer.status == 503


async def test_all_parked_answers_503_with_why_and_until(make_pool: MakePool) -> None:
    pool: Pool = await make_pool(accounts=[Account("", API_KEY, "solo", KEYS[0])])
    pool.script(KEYS[0], {"status": 403})
    answer, _ = await pool.ask()
    assert isinstance(answer, GatewayError) and answer.status == 503
    assert "forbidden until" in answer.message and "solo" in answer.message


class RefreshingOAuth:
    """A fake OAuth transport: the first call after a token change fails 401 until refreshed."""

    def __init__(self, refresh_error: str = "") -> None:
        self.fresh = False
        self.refreshes = 0
        self.refresh_error = refresh_error

    async def generate(self, account: Account, call: UpstreamCall) -> JSON:
        if not self.fresh:
            raise UpstreamFailure(
                status=401, body={"error": {"code": 401, "message": "expired", "status": "UNAUTHENTICATED"}}
            )
        return {"candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}]}

    async def force_refresh(self, account: Account) -> None:
        self.refreshes += 1
        if self.refresh_error:
            raise UpstreamFailure(oauth_error=self.refresh_error, text="Token has been expired or revoked.")
        self.fresh = True


async def test_401_refreshes_the_token_once_and_retries_the_same_account(make_pool: MakePool) -> None:
    transport = RefreshingOAuth()
    oauth = Account("", OAUTH, "me@example.com", "1//refresh", email="me@example.com")
    pool: Pool = await make_pool(accounts=[oauth], extra_transports={OAUTH: transport})
    answer, ctx = await pool.ask()
    assert not isinstance(answer, GatewayError) and pool.label(ctx) == "me@example.com"
    assert transport.refreshes == 1 and await pool.cooling() == {}


async def test_401_with_a_revoked_grant_needs_relogin(make_pool: MakePool) -> None:
    transport = RefreshingOAuth(refresh_error="invalid_grant")
    oauth = Account("", OAUTH, "me@example.com", "1//refresh", email="me@example.com")
    pool: Pool = await make_pool(accounts=[oauth], extra_transports={OAUTH: transport})
    answer, _ = await pool.ask()
    assert isinstance(answer, GatewayError) and answer.status == 503 and "needs_relogin" in answer.message
    assert pool.svc.scheduler.accounts[0].state == "needs_relogin" and transport.refreshes == 1


async def test_retry_after_header_sets_the_cooldown(make_pool: MakePool) -> None:
    pool: Pool = await make_pool()
    pool.script(KEYS[0], {"status": 429, "retry_after_header": "17"})
    await pool.ask()
    assert (await pool.cooling())[f"{pool.ids['k1']}:{FLASH}"][:2] == ("rate_limit", 17.0)


async def test_invalid_api_key_is_taken_out_until_fixed(make_pool: MakePool, tmp_path: Path) -> None:
    pool: Pool = await make_pool()
    pool.script(KEYS[0], {"status": 400, "reason": "API_KEY_INVALID", "message": "API key not valid."})
    answer, ctx = await pool.ask()
    assert not isinstance(answer, GatewayError) and pool.label(ctx) == "k2"  # not the client's fault: rotate
    assert pool.svc.scheduler.accounts[0].state == "invalid"
    await until(lambda: stored_state(tmp_path, pool.ids["k1"]) == "invalid")


def stored_state(data_dir: Path, account_id: str) -> str:
    store = SqlStore.open(data_dir)
    try:
        account = store.get_account(account_id)
        return account.state if account else ""
    finally:
        store.close()


async def test_a_wait_that_outlasts_the_deadline_is_not_taken(make_pool: MakePool) -> None:
    pool: Pool = await make_pool(accounts=[Account("", API_KEY, "solo", KEYS[0])])
    pool.script(KEYS[0], {"status": 429, "reason": "RATE_LIMIT_EXCEEDED", "retry_delay": "1.5s"})
    answer, _ = await pool.ask(deadline=pool.clock.now() + 1.0)
    assert isinstance(answer, GatewayError) and answer.status == 429 and answer.retry_after == 1.5
    assert pool.clock.slept == [] and pool.calls() == [KEYS[0]]
