"""Selection modes, sticky sessions and their expiry, quota/tier/priority ordering, and session keys."""

from __future__ import annotations

from typing import Any

from poolgate.errors import GatewayError
from poolgate.pool.session import hint_from_body, session_key
from poolgate.protocols.openai_chat.request import to_hub
from poolgate.store.models import API_KEY, Account
from tests.unit.pool_harness import FLASH, KEYS, MakePool, Pool, make_pool

__all__ = ["make_pool"]


async def labels(pool: Pool, n: int, session: str = "", **kw: Any) -> list[str]:
    out = []
    for _ in range(n):
        answer, ctx = await pool.ask(session=session, **kw)
        assert not isinstance(answer, GatewayError), answer
        out.append(pool.label(ctx))
    return out


async def test_balance_stays_then_switches_at_once_when_the_account_cools(make_pool: MakePool) -> None:
    pool: Pool = await make_pool()
    assert await labels(pool, 3, session="conv") == ["k1", "k1", "k1"]
    assert await labels(pool, 2) == ["k2", "k3"]  # other traffic spreads least recently used
    pool.script(KEYS[0], {"status": 429, "retry_delay": "3s"})
    assert await labels(pool, 2, session="conv") == ["k2", "k2"]  # switched without waiting, then stuck to k2
    assert pool.clock.slept == []


async def test_cache_first_waits_for_a_briefly_cooling_account(make_pool: MakePool) -> None:
    pool: Pool = await make_pool('[scheduling]\nmode = "cache_first"\nmax_wait_seconds = 10\n')
    assert await labels(pool, 1, session="conv") == ["k1"]
    pool.script(KEYS[0], {"status": 429, "retry_delay": "3s"})
    assert await labels(pool, 2, session="conv") == ["k1", "k1"]
    assert pool.clock.slept == [3.0]
    assert pool.calls() == [KEYS[0], KEYS[0], KEYS[0], KEYS[0]]


async def test_cache_first_does_not_wait_past_the_deadline_or_the_bound(make_pool: MakePool) -> None:
    pool: Pool = await make_pool('[scheduling]\nmode = "cache_first"\nmax_wait_seconds = 10\n')
    await labels(pool, 1, session="conv")
    pool.script(KEYS[0], {"status": 429, "retry_delay": "3s"})
    answer, ctx = await pool.ask(session="conv", deadline=pool.clock.now() + 2)
    assert not isinstance(answer, GatewayError) and pool.label(ctx) == "k2"
    assert pool.clock.slept == []
    pool.script(KEYS[1], {"status": 429, "retry_delay": "40s"})  # longer than max_wait: switch at once
    assert await labels(pool, 1, session="conv") == ["k3"]
    assert pool.clock.slept == []


async def test_performance_first_is_least_recently_used_and_ignores_sessions(make_pool: MakePool) -> None:
    pool: Pool = await make_pool('[scheduling]\nmode = "performance_first"\n')
    assert await labels(pool, 6, session="conv") == ["k1", "k2", "k3", "k1", "k2", "k3"]


async def test_bindings_expire(make_pool: MakePool) -> None:
    pool: Pool = await make_pool("[scheduling]\nsession_ttl_seconds = 60\n")
    assert await labels(pool, 2, session="conv") == ["k1", "k1"]
    pool.clock.advance(59)
    assert await labels(pool, 1, session="conv") == ["k1"]  # each use renews the binding
    pool.clock.advance(61)
    assert await labels(pool, 1, session="conv") == ["k2"]  # expired: least recently used again


def _quota(fraction: float) -> dict[str, dict[str, Any]]:
    return {FLASH: {"remaining_fraction": fraction}}


async def test_quota_aware_then_tier_then_priority(make_pool: MakePool) -> None:
    accounts = [
        Account("", API_KEY, "low", KEYS[0], quota=_quota(0.15), tier="ultra"),
        Account("", API_KEY, "high", KEYS[1], quota=_quota(0.95), tier="free"),
        Account("", API_KEY, "mid", KEYS[2], quota=_quota(0.5), tier="pro"),
    ]
    pool: Pool = await make_pool('[scheduling]\nprefer = ["quota"]\n', accounts=accounts)
    assert await labels(pool, 3) == ["high", "high", "high"]


async def test_tier_order_and_priority_are_configurable(make_pool: MakePool) -> None:
    accounts = [
        Account("", API_KEY, "free", KEYS[0], tier="FREE"),
        Account("", API_KEY, "ultra", KEYS[1], tier="Ultra (Restricted)"),
        Account("", API_KEY, "pro", KEYS[2], tier="pro", priority=0),
    ]
    pool: Pool = await make_pool('[scheduling]\ntier_order = ["pro", "free"]\nprefer = ["tier"]\n', accounts=accounts)
    assert await labels(pool, 2) == ["pro", "pro"]
    pool.svc.scheduler.accounts[0].priority = 5
    pool2: Pool = await make_pool('[scheduling]\nprefer = ["priority", "tier"]\n', accounts=[])
    pool2.svc.scheduler.set_accounts(pool.svc.scheduler.accounts)
    assert await labels(pool2, 1) == ["free"]


def test_session_keys_follow_what_clients_send() -> None:
    hub: Any = {"contents": [{"role": "user", "parts": [{"text": "first question"}]}]}
    assert session_key({"x-claude-code-session-id": "cc-1"}, "", hub) == "h:cc-1"
    assert session_key({"session_id": "codex-1"}, "", hub) == "h:codex-1"
    assert session_key({"session-id": "codex-2"}, "", hub) == "h:codex-2"
    assert session_key({}, "prompt_cache_key:abc", hub) == "k:prompt_cache_key:abc"
    follow_up: Any = {
        "contents": [*hub["contents"], {"role": "model", "parts": [{"text": "answer"}]}],
        "systemInstruction": None,
    }
    assert session_key({}, "", hub) == session_key({}, "", follow_up)  # later turns keep the conversation's key
    other: Any = {"contents": [{"role": "user", "parts": [{"text": "another question"}]}]}
    assert session_key({}, "", hub) != session_key({}, "", other)
    system: Any = {**hub, "systemInstruction": {"parts": [{"text": "be brief"}]}}
    assert session_key({}, "", hub) != session_key({}, "", system)


def test_body_hints_in_the_issue_order() -> None:
    assert hint_from_body({"prompt_cache_key": "p", "user": "u", "metadata": {"user_id": "m"}}) == "prompt_cache_key:p"
    assert hint_from_body({"user": "u", "metadata": {"user_id": "m"}}) == "user_id:m"
    assert hint_from_body({"user": "u"}) == "user:u"
    assert hint_from_body({}) == ""
    chat = to_hub({"model": "m", "messages": [{"role": "user", "content": "hi"}], "prompt_cache_key": "pc"})
    assert chat.session_hint.endswith("pc")
