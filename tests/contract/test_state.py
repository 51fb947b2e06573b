"""The SharedState contract: the same tests against the in-process MemoryState and RedisState on a real Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from poolgate.config import load_config
from poolgate.pool.clock import FakeClock
from poolgate.pool.scheduler import Scheduler
from poolgate.pool.state import FAILURE_MEMORY_SECONDS, MemoryState, SharedState, View
from poolgate.pool.state_redis import RedisState
from poolgate.store.models import API_KEY, Account, Cooldown
from poolgate.upstream.base import UpstreamFailure
from tests.servers import Redis
from tests.unit.google_bodies import PER_MINUTE

FLASH = "gemini-2.5-flash"

# A factory of handles on one shared state: two handles are what two gateway instances hold.
Handles = Callable[[], SharedState]


@pytest.fixture(params=["memory", "redis"])
async def handles(request: pytest.FixtureRequest) -> AsyncIterator[Handles]:
    if request.param == "memory":
        state = MemoryState()
        yield lambda: state
        return
    server: Redis = request.getfixturevalue("redis_server")
    prefix = f"test-{uuid.uuid4().hex[:10]}:"  # each test its own namespace on the one server
    opened: list[RedisState] = []

    def make() -> SharedState:
        handle = RedisState.from_url(server.url, prefix)
        opened.append(handle)
        return handle

    yield make
    for handle in opened:
        await handle.close()


async def test_cooldowns_expire_by_the_callers_clock_and_clear_reports_what_it_removed(handles: Handles) -> None:
    state = handles()
    now = time.time()
    await state.set_cooldown(Cooldown("a1", "", now + 30, "429", "rate_limit", since=now))
    await state.set_cooldown(Cooldown("a1", FLASH, now + 300, "per minute", "rate_limit", since=now))
    await state.set_cooldown(Cooldown("a2", "", now + 5, "503", "capacity", since=now))
    current = await state.cooldowns(now)
    assert set(current) == {"a1", f"a1:{FLASH}", "a2"}
    assert current[f"a1:{FLASH}"] == Cooldown("a1", FLASH, now + 300, "per minute", "rate_limit", since=now)
    later = await state.cooldowns(now + 10)
    assert set(later) == {"a1", f"a1:{FLASH}"}
    # A longer cooldown on the same key replaces the earlier one.
    await state.set_cooldown(Cooldown("a1", "", now + 90, "again", "rate_limit", since=now + 10))
    assert (await state.cooldowns(now + 40))["a1"].reason == "again"
    assert sorted(await state.clear_cooldowns(["a1", "a2", "nope"])) == ["a1"]
    assert set(await state.cooldowns(now + 40)) == {f"a1:{FLASH}"}
    assert await state.clear_cooldowns([]) == []


async def test_a_pick_reads_only_its_accounts_and_expired_cooldowns_are_swept(handles: Handles) -> None:
    state = handles()
    now = time.time()
    await state.set_cooldown(Cooldown("a1", "", now + 30, "429", "rate_limit", since=now))
    await state.set_cooldown(Cooldown("a2", FLASH, now + 300, "per minute", "rate_limit", since=now))
    await state.set_cooldown(Cooldown("a3", FLASH, now + 300, "per minute", "rate_limit", since=now))
    # What a client spraying unknown model names leaves: one cooldown per account and name.
    for i in range(300):
        await state.set_cooldown(Cooldown("a2", f"nope-{i}", now + 600, "404", "model_not_found", since=now))
    assert set(await state.cooldowns_for(["a1", "a2"], FLASH, now)) == {"a1", f"a2:{FLASH}"}
    assert set(await state.cooldowns_for(["a1", "a2"], "gemini-2.5-pro", now)) == {"a1"}
    assert set(await state.cooldowns_for(["a1"], "", now + 31)) == set()
    assert await state.cooldowns_for([], FLASH, now) == {}
    # Ten minutes on, a read sweeps the expired ones out of the shared state itself, not just the answer.
    assert set(await state.cooldowns_for(["a3"], FLASH, now + 601)) == set()
    if isinstance(state, RedisState):
        assert await state.client.hlen(f"{state.prefix}cooldowns") == 0
        assert await state.client.zcard(f"{state.prefix}cooldowns:until") == 0
    else:
        assert isinstance(state, MemoryState) and not state._cooldowns
    # A cooldown cleared and set again is found again.
    await state.set_cooldown(Cooldown("a1", "", now + 700, "again", "rate_limit", since=now + 601))
    assert (await state.cooldowns_for(["a1"], FLASH, now + 602))["a1"].reason == "again"
    assert await state.clear_cooldowns(["a1"]) == ["a1"]
    assert await state.cooldowns_for(["a1"], FLASH, now + 602) == {}


async def test_a_lookup_reads_cooldowns_and_the_binding_together(handles: Handles) -> None:
    state = handles()
    now = time.time()
    await state.set_cooldown(Cooldown("a1", FLASH, now + 30, "429", "rate_limit", since=now))
    await state.bind("conv", "a2", now + 60)
    view = await state.lookup(["a1", "a2"], FLASH, "conv", now)
    assert set(view.cooldowns) == {f"a1:{FLASH}"} and (view.bound, view.bound_until) == ("a2", now + 60)
    assert (await state.lookup(["a1"], FLASH, "", now)).bound is None
    assert (await state.lookup(["a1"], FLASH, "other", now)).bound is None
    later = await state.lookup(["a1", "a2"], FLASH, "conv", now + 61)
    assert later.cooldowns == {} and later.bound is None
    assert await state.lookup([], "", "", now) == View()


async def test_a_lookup_over_a_large_pool_finds_cooldowns_at_both_ends(handles: Handles) -> None:
    # Redis reads a pick's keys in batches inside one script: 5,000 accounts are 10,000 keys, three batches.
    state = handles()
    now = time.time()
    ids = [f"acct{i:04d}" for i in range(5000)]
    await state.set_cooldown(Cooldown(ids[0], "", now + 30, "429", "rate_limit", since=now))
    await state.set_cooldown(Cooldown(ids[-1], FLASH, now + 30, "429", "rate_limit", since=now))
    await state.set_cooldown(Cooldown(ids[2500], "gemini-2.5-pro", now + 30, "429", "rate_limit", since=now))
    await state.bind("conv", ids[1234], now + 60)
    view = await state.lookup(ids, FLASH, "conv", now)
    assert set(view.cooldowns) == {ids[0], f"{ids[-1]}:{FLASH}"}
    assert view.bound == ids[1234]


async def test_failure_counts_add_up_and_reset(handles: Handles) -> None:
    state = handles()
    now = time.time()
    assert await state.failure_count("a1", now) == 0
    assert await state.add_failure("a1", now) == 1
    assert await state.add_failure("a1", now + 1) == 2
    assert await state.add_failure(f"a1:{FLASH}", now + 1) == 1
    assert await state.failure_count("a1", now + 2) == 2
    await state.reset_failures("a1")
    assert await state.failure_count("a1", now + 2) == 0
    assert await state.failure_count(f"a1:{FLASH}", now + 2) == 1
    await state.add_failure("a2", now + 1)
    await state.reset_failures(f"a1:{FLASH}", "a2", "never-failed")
    assert [await state.failure_count(k, now + 2) for k in (f"a1:{FLASH}", "a2")] == [0, 0]
    await state.reset_failures()


async def test_failure_counts_of_names_never_seen_again_are_forgotten(handles: Handles) -> None:
    # A client spraying unknown model names leaves a failure count per account and name; none may stay forever.
    state = handles()
    now = time.time()
    for i in range(300):
        await state.add_failure(f"a1:nope-{i}", now)
    if isinstance(state, RedisState):
        ttl = await state.client.ttl(state._fail_key("a1:nope-0"))
        assert 0 < ttl <= FAILURE_MEMORY_SECONDS
        return
    assert isinstance(state, MemoryState)
    # An hour on, the next failure sweeps the counts that went quiet.
    assert await state.add_failure("a1", now + FAILURE_MEMORY_SECONDS + 1) == 1
    assert list(state._failures) == ["a1"]


async def test_session_bindings_hold_until_their_time_and_unbind(handles: Handles) -> None:
    state = handles()
    now = time.time()
    assert await state.binding("conv-1", now) is None
    await state.bind("conv-1", "a1", now + 60)
    await state.bind("conv-2", "a2", now + 5)
    assert await state.binding("conv-1", now + 30) == "a1"
    assert await state.binding("conv-2", now + 30) is None
    await state.bind("conv-1", "a3", now + 60)
    assert await state.binding("conv-1", now) == "a3"
    await state.unbind("conv-1")
    assert await state.binding("conv-1", now) is None


async def test_a_second_handle_sees_the_first_ones_writes(handles: Handles) -> None:
    first, second = handles(), handles()
    now = time.time()
    await first.set_cooldown(Cooldown("a1", "", now + 30, "429", "rate_limit", since=now))
    await first.add_failure("a1", now)
    await first.bind("conv", "a2", now + 60)
    assert set(await second.cooldowns(now)) == {"a1"}
    assert await second.failure_count("a1", now) == 1
    assert await second.binding("conv", now) == "a2"
    await second.clear_cooldowns(["a1"])
    assert await first.cooldowns(now) == {}


async def test_sign_in_failures_keep_the_window_and_the_newest_few_across_handles(handles: Handles) -> None:
    first, second = handles(), handles()
    now = time.time()
    for n in range(4):
        await (first if n % 2 else second).add_sign_in_failure("203.0.113.9", now + n, window=60, keep=3)
    # Two failures in the same instant from two instances both count.
    await first.add_sign_in_failure("198.51.100.1", now, window=60, keep=3)
    await second.add_sign_in_failure("198.51.100.1", now, window=60, keep=3)
    assert await second.sign_in_failures("203.0.113.9", now + 3, window=60) == [now + 1, now + 2, now + 3]
    assert await first.sign_in_failures("198.51.100.1", now, window=60) == [now, now]
    # They age out of the window, by the caller's clock.
    assert await first.sign_in_failures("203.0.113.9", now + 62, window=60) == [now + 3]
    await second.clear_sign_in_failures("203.0.113.9")
    assert await first.sign_in_failures("203.0.113.9", now + 3, window=60) == []
    assert await first.sign_in_failures("192.0.2.1", now, window=60) == []


def _scheduler(state: SharedState, clock: FakeClock) -> Scheduler:
    config = load_config("", {}).scheduling
    scheduler = Scheduler(state, clock, config)
    scheduler.set_accounts([Account(f"k{i}", API_KEY, f"key {i}", f"secret-{i}-000000") for i in (1, 2)])
    return scheduler


async def test_two_schedulers_on_one_state_share_cooldowns_and_stickiness(handles: Handles) -> None:
    clock = FakeClock(start=time.time())
    a, b = _scheduler(handles(), clock), _scheduler(handles(), clock)
    first = await a.pick(FLASH, session_key="conv")
    assert first is not None
    again = await b.pick(FLASH, session_key="conv")
    assert again is not None and again.account.id == first.account.id
    # A per-minute 429 with RetryInfo 52s seen by one instance cools that key for the other one too.
    failure: Any = UpstreamFailure(status=429, body=PER_MINUTE)
    decision = await a.record_failure(first.account, FLASH, failure, session_key="conv")
    assert decision.cooldown == 52
    other = "k2" if first.account.id == "k1" else "k1"
    for _ in range(3):
        pick = await b.pick(FLASH, session_key="conv")
        assert pick is not None and pick.account.id == other
    status = await b.status(first.account)
    assert status.state == "cooling" and status.until == pytest.approx(clock.now() + 52)
    clock.advance(53)
    assert {c.key for c in await b.cooldowns()} == set()
