"""Scheduler: pick a usable account for a model, and record what each attempt taught us."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from poolgate.config import SchedulingConfig
from poolgate.errors import ErrorKind, GatewayError
from poolgate.pool.classify import Decision, Scope
from poolgate.pool.clock import Clock
from poolgate.pool.state import SharedState
from poolgate.store.models import ACTIVE, Account, Cooldown

log = logging.getLogger("poolgate.scheduler")

NO_ACCOUNT_HINT = (
    "No usable upstream account. Add one with `poolgate accounts add-key YOUR_GEMINI_KEY` "
    "or `poolgate accounts login`, or enable a disabled one with `poolgate accounts enable ID`."
)

PersistHook = Callable[[list[Cooldown], list[str]], None]
StateHook = Callable[[Account], None]


@dataclass(frozen=True, slots=True)
class Pick:
    account: Account
    wait: float = 0.0


@dataclass(frozen=True, slots=True)
class AccountStatus:
    state: str
    reason: str
    until: float


class Scheduler:
    def __init__(
        self,
        state: SharedState,
        clock: Clock,
        config: SchedulingConfig,
        persist_cooldowns: PersistHook | None = None,
        persist_state: StateHook | None = None,
    ) -> None:
        self.state = state
        self.clock = clock
        self.config = config
        self._accounts: list[Account] = []
        self._persist_cooldowns = persist_cooldowns
        self._persist_state = persist_state
        self._tier_rank = {name.lower(): i for i, name in enumerate(config.tier_order)}

    # -- pool membership
    @property
    def accounts(self) -> list[Account]:
        return self._accounts

    def set_accounts(self, accounts: list[Account]) -> None:
        # Keep in-memory last-use times across reloads so spreading stays fair.
        previous = {a.id: a.last_used_at for a in self._accounts}
        for acc in accounts:
            acc.last_used_at = max(acc.last_used_at, previous.get(acc.id, 0.0))
        self._accounts = accounts

    def usable_count(self) -> int:
        return sum(1 for a in self._accounts if a.usable)

    # -- selection
    def _cooling_until(self, cooldowns: dict[str, Cooldown], account: Account, model: str) -> float:
        until = 0.0
        whole = cooldowns.get(account.id)
        if whole is not None:
            until = whole.until
        per_model = cooldowns.get(f"{account.id}:{model}")
        if per_model is not None:
            until = max(until, per_model.until)
        return until

    def _order_key(self, account: Account, model: str, avoid: set[str]) -> tuple[float, ...]:
        if self.config.mode == "performance_first":
            return (account.id in avoid, -account.priority, account.last_used_at)
        tier = self._tier_rank.get(account.tier.lower(), len(self._tier_rank)) if account.tier else len(self._tier_rank)
        remaining = account.remaining_fraction(model)
        # Bucket the quota so accounts with similar headroom still take turns (least recently used).
        quota_bucket = -round(remaining * 10) if remaining is not None else -10
        return (account.id in avoid, -account.priority, tier, quota_bucket, account.last_used_at)

    async def pick(
        self,
        model: str,
        session_key: str = "",
        exclude: set[str] | None = None,
        avoid: set[str] | None = None,
        deadline: float = 0.0,
    ) -> Pick:
        exclude = exclude or set()
        avoid = avoid or set()
        now = self.clock.now()
        usable = [a for a in self._accounts if a.usable]
        if not usable:
            raise GatewayError(ErrorKind.NO_ACCOUNT, NO_ACCOUNT_HINT)
        candidates = [a for a in usable if a.id not in exclude]
        if not candidates:
            raise GatewayError(ErrorKind.NO_ACCOUNT, "Every usable account failed for this request.")
        cooldowns = await self.state.cooldowns(now)
        free: list[Account] = []
        earliest = 0.0
        by_id: dict[str, tuple[Account, float]] = {}
        for acc in candidates:
            until = self._cooling_until(cooldowns, acc, model) if cooldowns else 0.0
            by_id[acc.id] = (acc, until)
            if until > now:
                earliest = until if earliest == 0.0 else min(earliest, until)
            else:
                free.append(acc)

        sticky = session_key and self.config.mode != "performance_first"
        if sticky:
            bound_id = await self.state.binding(session_key, now)
            if bound_id is not None and bound_id in by_id:
                bound, until = by_id[bound_id]
                if until <= now and bound_id not in avoid:
                    return await self._take(bound, session_key, now)
                wait = until - now
                if (
                    until > now
                    and self.config.mode == "cache_first"
                    and wait <= self.config.max_wait_seconds
                    and (not deadline or now + wait < deadline)
                ):
                    return await self._take(bound, session_key, now, wait=wait)

        if not free:
            retry_after = max(0.0, earliest - now)
            raise GatewayError(
                ErrorKind.ALL_COOLING,
                f"All accounts are rate limited for {model}; the first frees up in {retry_after:.0f}s.",
                retry_after=retry_after,
            )
        chosen = min(free, key=lambda a: self._order_key(a, model, avoid))
        return await self._take(chosen, session_key if sticky else "", now)

    async def _take(self, account: Account, session_key: str, now: float, wait: float = 0.0) -> Pick:
        account.last_used_at = now + wait
        if session_key:
            await self.state.bind(session_key, account.id, now + self.config.session_ttl_seconds)
        return Pick(account, wait)

    # -- outcomes
    async def failure_count(self, account: Account, model: str) -> int:
        return await self.state.failure_count(f"{account.id}:{model}", self.clock.now())

    async def report_success(self, account: Account, model: str) -> None:
        keys = [account.id, f"{account.id}:{model}"]
        cleared = await self.state.clear_cooldowns(keys)
        await self.state.reset_failures(f"{account.id}:{model}")
        if cleared and self._persist_cooldowns is not None:
            self._persist_cooldowns([], cleared)

    async def report_failure(self, account: Account, model: str, decision: Decision, session_key: str = "") -> None:
        now = self.clock.now()
        await self.state.add_failure(f"{account.id}:{model}", now)
        if decision.account_state:
            account.state = decision.account_state
            account.state_reason = decision.reason
            if self._persist_state is not None:
                self._persist_state(account)
            log.warning("account %s is now %s: %s", account.display_name, account.state, decision.reason)
        elif decision.scope is not Scope.REQUEST and decision.cooldown > 0:
            reason = decision.reason
            if decision.validation_url:
                reason = f"{reason} (verify at {decision.validation_url})"
            cooldown = Cooldown(
                account_id=account.id,
                model=model if decision.scope is Scope.ACCOUNT_MODEL else "",
                until=now + decision.cooldown,
                reason=reason,
                kind=decision.kind,
            )
            await self.state.set_cooldown(cooldown)
            if self._persist_cooldowns is not None:
                self._persist_cooldowns([cooldown], [])
        if session_key and decision.rotate and (decision.account_state or decision.cooldown > 0):
            await self.state.unbind(session_key)

    async def restore(self, cooldowns: list[Cooldown]) -> None:
        now = self.clock.now()
        for c in cooldowns:
            if c.until > now:
                await self.state.set_cooldown(c)

    async def clear(self, account_id: str | None = None) -> list[str]:
        now = self.clock.now()
        current = await self.state.cooldowns(now)
        keys = [k for k, c in current.items() if account_id is None or c.account_id == account_id]
        cleared = await self.state.clear_cooldowns(keys)
        if cleared and self._persist_cooldowns is not None:
            self._persist_cooldowns([], cleared)
        return cleared

    async def status(self, account: Account) -> AccountStatus:
        if not account.enabled:
            return AccountStatus("disabled", account.state_reason, 0.0)
        if account.state != ACTIVE:
            return AccountStatus(account.state, account.state_reason, 0.0)
        now = self.clock.now()
        current = await self.state.cooldowns(now)
        mine = [c for c in current.values() if c.account_id == account.id]
        if not mine:
            return AccountStatus(ACTIVE, "", 0.0)
        latest = max(mine, key=lambda c: c.until)
        label = "cooling" if not latest.model else f"cooling ({latest.model})"
        return AccountStatus(label, latest.reason, latest.until)

    async def cooldowns(self) -> list[Cooldown]:
        current = await self.state.cooldowns(self.clock.now())
        return sorted(current.values(), key=lambda c: c.until)
