"""Property: random sequences of upstream outcomes through the real Gateway and Scheduler (fake transports,
FakeClock). No call ever goes to a cooling, parked or disabled account, and no request fails while an
account it could still have used exists."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from poolgate.config import SchedulingConfig
from poolgate.errors import ErrorKind, GatewayError
from poolgate.gateway import Gateway, RequestContext
from poolgate.hub.types import JSON
from poolgate.pool.clock import FakeClock
from poolgate.pool.scheduler import Scheduler
from poolgate.pool.state import MemoryState
from poolgate.store.models import ACTIVE, API_KEY, Account
from poolgate.upstream.base import UpstreamCall, UpstreamFailure
from tests.unit import google_bodies as g

OK = {"candidates": [{"content": {"role": "model", "parts": [{"text": "hi"}]}, "finishReason": "STOP"}]}


def _http(status: int, body: dict[str, Any] | None, retry_after: str | None = None) -> UpstreamFailure:
    text = str(body["error"]["message"]) if body and isinstance(body.get("error"), dict) else ""
    return UpstreamFailure(status=status, body=body, text=text, retry_after_header=retry_after)


# outcome name -> (failure or None for success, fails at request scope?)
OUTCOMES: dict[str, tuple[UpstreamFailure | None, bool]] = {
    "ok": (None, False),
    "per_request": (_http(429, g.PER_REQUEST), True),
    "per_minute": (_http(429, g.PER_MINUTE), False),
    "bare_429": (_http(429, g.BARE_429), False),
    "retry_after_429": (_http(429, g.BARE_429, "7"), False),
    "daily": (_http(429, g.PER_DAY), False),
    "quota_reset": (_http(429, g.QUOTA_EXHAUSTED), False),
    "capacity": (_http(429, g.CAPACITY), True),
    "overloaded": (_http(503, g.OVERLOADED_503), True),
    "internal": (_http(500, g.INTERNAL), True),
    "empty": (UpstreamFailure(empty=True), True),
    "unauthenticated": (_http(401, g.UNAUTHENTICATED), False),
    "forbidden": (_http(403, g.FORBIDDEN), False),
    "validation": (_http(403, g.VALIDATION_REQUIRED), False),
    "network": (UpstreamFailure(network=True, text="refused"), False),
    "timeout": (UpstreamFailure(timeout=True, text="slow"), False),
    "invalid_grant": (UpstreamFailure(oauth_error="invalid_grant", text="revoked"), False),
    "bad_request": (_http(400, g.BAD_REQUEST), False),
    "not_found": (_http(404, g.MODEL_NOT_FOUND), False),
}
FAILING = [name for name in OUTCOMES if name != "ok"]
# Failures that cool the account but also spend the retry budget (likely the way to Google, not the account).
BOUNDED = frozenset({"network", "timeout", "token_refresh_failed"})


@dataclass
class Probe:
    """A fake transport that checks the scheduler's word at the moment each call is made."""

    scheduler: Scheduler
    clock: FakeClock
    outcomes: deque[str]
    attempts: list[tuple[str, str]] = field(default_factory=list)  # (account id, outcome) for this request
    relogin: set[str] = field(default_factory=set)

    async def generate(self, account: Account, call: UpstreamCall) -> JSON:
        now = self.clock.now()
        assert account.usable, f"call sent to unusable account {account.id} ({account.state})"
        cooldowns = await self.scheduler.state.cooldowns(now)
        for key in (account.id, f"{account.id}:{call.model}"):
            c = cooldowns.get(key)
            assert c is None or c.until <= now, f"call sent to {key} cooling until {c.until} (now {now})"
        outcome = self.outcomes.popleft() if self.outcomes else "ok"
        self.attempts.append((account.id, outcome))
        failure, _ = OUTCOMES[outcome]
        if outcome == "invalid_grant":
            self.relogin.add(account.id)
        if failure is not None:
            raise failure
        return OK

    def stream(self, account: Account, call: UpstreamCall) -> AsyncGenerator[JSON, None]:
        raise NotImplementedError

    async def count_tokens(self, account: Account, model: str, body: JSON) -> JSON:
        raise NotImplementedError

    async def list_models(self, account: Account) -> list[JSON]:
        return []


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "accounts": draw(st.integers(1, 4)),
        "mode": draw(st.sampled_from(["cache_first", "balance", "performance_first"])),
        "max_attempts": draw(st.integers(1, 4)),
        "outcomes": draw(st.lists(st.sampled_from(FAILING + ["ok"] * 6), max_size=60)),
        "requests": draw(
            st.lists(
                st.tuples(
                    st.sampled_from(["gemini-2.5-flash", "gemini-2.5-pro"]),
                    st.sampled_from(["", "s1", "s2"]),
                    st.floats(0, 90),
                ),
                min_size=1,
                max_size=25,
            )
        ),
    }


async def run_scenario(sc: dict[str, Any]) -> None:
    clock = FakeClock()
    config = SchedulingConfig(mode=sc["mode"], max_attempts=sc["max_attempts"], max_wait_seconds=10)
    scheduler = Scheduler(MemoryState(), clock, config)
    accounts = [Account(f"a{i}", API_KEY, f"a{i}", f"key-{i}") for i in range(sc["accounts"])]
    scheduler.set_accounts(accounts)
    probe = Probe(scheduler, clock, deque(sc["outcomes"]))
    gateway = Gateway(scheduler, {API_KEY: probe}, scheduler.classifier, clock, config.max_attempts)
    for model, session, dt in sc["requests"]:
        clock.advance(dt)
        probe.attempts = []
        ctx = RequestContext(request_id="p", route="/p", protocol="openai")
        call = UpstreamCall(model=model, body={"contents": []}, stream=False, session_key=session)
        try:
            await gateway.generate(call, ctx)
        except GatewayError as err:
            await check_failure(err, scheduler, probe, model, config.max_attempts)
        else:
            assert probe.attempts and probe.attempts[-1][1] == "ok"
        # A 429 (or any failure but a revoked grant) never takes an account out of the pool for good.
        for acc in accounts:
            assert (acc.state == ACTIVE) == (acc.id not in probe.relogin)


async def check_failure(err: GatewayError, scheduler: Scheduler, probe: Probe, model: str, max_attempts: int) -> None:
    outcomes = [o for _, o in probe.attempts]
    if outcomes and outcomes[-1] == "bad_request":
        assert err.status == 400  # a client error keeps its meaning and is never retried elsewhere
        return
    assert "bad_request" not in outcomes
    budgeted = sum(1 for o in outcomes if OUTCOMES[o][1] or o in BOUNDED)
    if budgeted >= max_attempts:
        return  # the retry budget for failures that say nothing (or little) about the account was spent
    # Otherwise every account that is still free for this model must have been tried by this request.
    now = scheduler.clock.now()
    cooldowns = await scheduler.state.cooldowns(now)
    tried = {a for a, _ in probe.attempts}
    for acc in scheduler.accounts:
        if not acc.usable:
            continue
        blocked = any((c := cooldowns.get(k)) is not None and c.until > now for k in (acc.id, f"{acc.id}:{model}"))
        assert blocked or acc.id in tried, f"request failed ({err!r}) while {acc.id} was free and untried"
    final = await scheduler.unavailable(model)
    if final is not None:
        assert (err.kind, err.status) == (final.kind, final.status)
        if err.kind is ErrorKind.ALL_COOLING:
            assert err.retry_after is not None and err.retry_after >= 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
@example(  # found by this test: cache_first waited for a failing account until the budget ran out
    {
        "accounts": 3,
        "mode": "cache_first",
        "max_attempts": 1,
        "outcomes": ["per_request", "per_request", "per_minute", "network", "network", "per_minute"],
        "requests": [("gemini-2.5-flash", "", 0.0), ("gemini-2.5-flash", "", 0.0), ("gemini-2.5-flash", "s1", 0.0)],
    }
)
def test_no_call_to_a_cooling_account_and_no_needless_failure(sc: dict[str, Any]) -> None:
    asyncio.run(run_scenario(sc))


def test_a_network_outage_costs_a_request_max_attempts_not_the_whole_pool() -> None:
    async def run() -> tuple[int, int, GatewayError]:
        clock = FakeClock()
        config = SchedulingConfig(max_attempts=3)
        scheduler = Scheduler(MemoryState(), clock, config)
        scheduler.set_accounts([Account(f"a{i}", API_KEY, f"a{i}", f"key-{i}") for i in range(20)])
        probe = Probe(scheduler, clock, deque(["network"] * 100))
        gateway = Gateway(scheduler, {API_KEY: probe}, scheduler.classifier, clock, config.max_attempts)
        ctx = RequestContext(request_id="p", route="/p", protocol="openai")
        call = UpstreamCall(model="gemini-2.5-flash", body={"contents": []}, stream=False)
        try:
            await gateway.generate(call, ctx)
        except GatewayError as err:
            cooling = len(await scheduler.state.cooldowns(clock.now()))
            return len(probe.attempts), cooling, err
        raise AssertionError("the request should have failed")

    attempts, cooling, err = asyncio.run(run())
    # Three accounts tried (and cooling), seventeen left alone for when the way to Google is back.
    assert (attempts, cooling) == (3, 3)
    assert err.status == 502 and "network error" in err.message


ACCOUNT_SPECS = st.lists(
    st.tuples(
        st.integers(-1, 2),  # priority
        st.sampled_from(["", "free-tier", "standard-tier", "g1-pro-tier", "Legacy"]),
        st.one_of(st.none(), st.floats(0, 1)),  # remaining fraction for the model, if known
        st.floats(0, 100),  # last used
        st.booleans(),  # avoided by this request
    ),
    min_size=1,
    max_size=12,
)


@given(
    specs=ACCOUNT_SPECS,
    prefer=st.permutations(["priority", "tier", "quota"]).flatmap(lambda p: st.integers(0, 3).map(lambda n: p[:n])),
    mode=st.sampled_from(["balance", "cache_first", "performance_first"]),
)
@settings(max_examples=300, deadline=None)
def test_the_chosen_account_is_the_least_by_avoidance_preferences_and_last_use(
    specs: list[tuple[int, str, float | None, float, bool]], prefer: list[str], mode: str
) -> None:
    # The ranking narrows the field criterion by criterion for speed; it must choose what one sort key would.
    config = SchedulingConfig(mode=mode, prefer=prefer, tier_order=["standard", "legacy", "free"])
    scheduler = Scheduler(MemoryState(), FakeClock(), config)
    accounts = []
    for i, (priority, tier, remaining, used, _) in enumerate(specs):
        acc = Account(f"a{i}", API_KEY, f"a{i}", f"secret-{i}", priority=priority, tier=tier, last_used_at=used)
        if remaining is not None:
            acc.quota = {"m": {"remaining_fraction": remaining}}
        accounts.append(acc)
    avoid = {f"a{i}" for i, spec in enumerate(specs) if spec[4]}

    def key(acc: Account) -> tuple[float, ...]:
        parts: list[float] = [acc.id in avoid]
        if mode != "performance_first":
            for name in prefer:
                if name == "priority":
                    parts.append(-acc.priority)
                elif name == "tier":
                    low = acc.tier.lower()
                    parts.append(next((i for i, t in enumerate(config.tier_order) if t in low), len(config.tier_order)))
                else:
                    remaining = acc.remaining_fraction("m")
                    parts.append(-round(remaining * 10) if remaining is not None else -10)
        return (*parts, acc.last_used_at, accounts.index(acc))

    chosen = scheduler._best(accounts, "m", avoid)
    expected = min(accounts, key=key)
    assert key(chosen)[:-1] == key(expected)[:-1]
