"""Scheduler: pick a usable account for a model, and record what each attempt taught us.

Public surface for the CLI and the admin API: `status(account)`, `snapshot()`, `cooldowns()`,
`clear(account_id)`. See docs/scheduling.md.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from poolgate.config import SchedulingConfig
from poolgate.errors import ErrorKind, GatewayError
from poolgate.pool.classify import COOLING, MISSING, PARKED, Classifier, Decision, Scope
from poolgate.pool.clock import Clock
from poolgate.pool.state import SharedState, View
from poolgate.store.models import ACTIVE, Account, Cooldown
from poolgate.upstream.base import UpstreamFailure

log = logging.getLogger("poolgate.scheduler")

NO_ACCOUNT_HINT = (
    "No usable upstream account. Add one with `poolgate accounts add-key YOUR_GEMINI_KEY` "
    "or `poolgate accounts login`, or enable a disabled one with `poolgate accounts enable ID`."
)

PersistHook = Callable[[list[Cooldown], list[str]], None]
StateHook = Callable[[Account], None]


# A binding is written again only when it is older than this, not at every pick of its conversation:
# on Redis that is a write per request saved, and the binding's end moves by at most this much.
BIND_REFRESH_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Pick:
    account: Account
    wait: float = 0.0
    # Whether the account had a cooldown for the model when picked; without one, a success has none to clear.
    cooled: bool = True


@dataclass(frozen=True, slots=True)
class AccountStatus:
    state: str  # active | cooling | parked | disabled | needs_relogin | invalid | ...
    reason: str
    until: float  # 0 when the state has no end time
    cooldowns: tuple[Cooldown, ...] = ()
    validation_url: str = ""


_LAST_USED = attrgetter("last_used_at")


def _quota_bucket(remaining: float | None) -> float:
    # Buckets of 10 % so accounts with similar headroom still take turns; no quota known counts as full.
    return -round(remaining * 10) if remaining is not None else -10


def utc(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def scope_key(account_id: str, model: str, scope: Scope) -> str:
    return f"{account_id}:{model}" if scope is not Scope.ACCOUNT else account_id


class Scheduler:
    def __init__(
        self,
        state: SharedState,
        clock: Clock,
        config: SchedulingConfig,
        persist_cooldowns: PersistHook | None = None,
        persist_state: StateHook | None = None,
        classifier: Classifier | None = None,
    ) -> None:
        self.state = state
        self.clock = clock
        self.config = config
        self.classifier = classifier or Classifier(
            config.extra_rules, config.cooldown_cap_seconds, config.default_cooldown_seconds
        )
        self._accounts: list[Account] = []
        self._tier_order: tuple[str, ...] = ()
        self._tier_ranks_cache: dict[str, int] = {}
        self._persist_cooldowns = persist_cooldowns
        self._persist_state = persist_state

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
    @staticmethod
    def _blocker(cooldowns: dict[str, Cooldown], account: Account, model: str) -> Cooldown | None:
        """The cooldown that keeps this account from this model longest, if any."""
        whole = cooldowns.get(account.id)
        per_model = cooldowns.get(f"{account.id}:{model}")
        if whole is None or per_model is None:
            return whole or per_model
        return whole if whole.until >= per_model.until else per_model

    def _tier_ranks(self, accounts: list[Account]) -> dict[str, int]:
        """Each of these accounts' tier's place in `tier_order` (unlisted tiers last). The order is read from
        config at each pick, so live changes apply; each tier text is matched once per order."""
        order = tuple(self.config.tier_order)
        if order != self._tier_order:
            self._tier_order, self._tier_ranks_cache = order, {}
        ranks = self._tier_ranks_cache
        for tier in {a.tier for a in accounts}.difference(ranks):
            low = tier.lower()
            ranks[tier] = next((i for i, n in enumerate(order) if n and n.lower() in low), len(order))
        return ranks

    def _best(self, free: list[Account], model: str, avoid: set[str]) -> Account:
        """The account to use: not avoided, then best by each `prefer` criterion in turn, then least recently used.

        The same order as sorting by one tuple key, but each criterion narrows the field before the next is
        computed, and one on which every account is equal (the usual case) leaves it as it is: with a
        hundred accounts a key tuple per account cost an eighth of a millisecond per request.
        """
        field = [a for a in free if a.id not in avoid] or free if avoid else free
        if self.config.mode != "performance_first":
            for name in self.config.prefer:
                if len(field) == 1:
                    break
                values: list[float]
                if name == "priority":
                    values = [-a.priority for a in field]
                elif name == "tier":
                    ranks = self._tier_ranks(field)
                    values = [ranks[a.tier] for a in field]
                elif name == "quota":
                    if not any(a.quota for a in field):
                        continue  # API keys report no quota: all count as full
                    values = [_quota_bucket(a.remaining_fraction(model)) for a in field]
                else:
                    continue
                best = min(values)
                if best != max(values):
                    field = [a for a, v in zip(field, values, strict=True) if v == best]
        return min(field, key=_LAST_USED)

    async def pick(
        self,
        model: str,
        session_key: str = "",
        exclude: set[str] | None = None,
        avoid: set[str] | None = None,
        deadline: float = 0.0,
        may_wait: bool = True,
    ) -> Pick | None:
        """An account for this attempt; None when this request has tried every account it may.

        Raises the final GatewayError (429 / 503 / 404) when no account is free for the model at all.
        """
        exclude = exclude or set()
        avoid = avoid or set()
        now = self.clock.now()
        usable = [a for a in self._accounts if a.usable]
        if not usable:
            raise self._no_usable()
        sticky = bool(session_key) and self.config.mode != "performance_first"
        view = await self.state.lookup([a.id for a in usable], model, session_key if sticky else "", now)
        cooldowns = view.cooldowns
        blocked: dict[str, Cooldown] = {}
        if not cooldowns:  # the usual case: nothing cools, so every usable account not excluded is free
            free = [acc for acc in usable if acc.id not in exclude] if exclude else usable
        else:
            free = []
            for acc in usable:
                blocker = self._blocker(cooldowns, acc, model)
                if blocker is not None and blocker.until > now:
                    blocked[acc.id] = blocker
                elif acc.id not in exclude:
                    free.append(acc)

        if sticky and view.bound is not None:
            bound = next((a for a in usable if a.id == view.bound and a.id not in exclude), None)
            if bound is not None:
                blocker = blocked.get(bound.id)
                if blocker is None and bound.id not in avoid:
                    return await self._take(bound, session_key, now, view, model)
                if blocker is not None and may_wait and self._may_wait(blocker, now, deadline):
                    return await self._take(bound, session_key, now, view, model, wait=blocker.until - now)

        if not free:
            # Excluded accounts cannot serve this call at all (an OAuth account asked to embed): the
            # final answer is about the rest.
            considered = [a for a in usable if a.id not in exclude] if exclude else usable
            if considered and all(a.id in blocked for a in considered):
                raise self._all_blocked(model, considered, blocked, now)
            return None
        chosen = self._best(free, model, avoid)
        return await self._take(chosen, session_key if sticky else "", now, view, model)

    def _may_wait(self, blocker: Cooldown, now: float, deadline: float) -> bool:
        """cache_first keeps a conversation's account when it frees up soon enough for this request."""
        if self.config.mode != "cache_first" or self.classifier.blocks_as(blocker.kind) != COOLING:
            return False
        wait = blocker.until - now
        return wait <= self.config.max_wait_seconds and (not deadline or now + wait < deadline)

    async def _take(
        self, account: Account, session_key: str, now: float, view: View, model: str, wait: float = 0.0
    ) -> Pick:
        account.last_used_at = now + wait
        until = now + self.config.session_ttl_seconds
        if session_key and not (view.bound == account.id and view.bound_until > until - BIND_REFRESH_SECONDS):
            await self.state.bind(session_key, account.id, until)
        cooled = bool(view.cooldowns) and self._blocker(view.cooldowns, account, model) is not None
        return Pick(account, wait, cooled)

    # -- final answers
    def _no_usable(self) -> GatewayError:
        if not self._accounts:
            return GatewayError(ErrorKind.NO_ACCOUNT, NO_ACCOUNT_HINT)
        states = "; ".join(
            f"{a.display_name}: {'disabled' if not a.enabled else a.state}"
            + (f" ({a.state_reason[:120]})" if a.state_reason else "")
            for a in self._accounts[:10]
        )
        return GatewayError(ErrorKind.NO_ACCOUNT, f"{NO_ACCOUNT_HINT} Accounts: {states}")

    def _all_blocked(self, model: str, usable: list[Account], blocked: dict[str, Cooldown], now: float) -> GatewayError:
        by_kind: dict[str, list[tuple[Account, Cooldown]]] = {COOLING: [], PARKED: [], MISSING: []}
        for acc in usable:
            c = blocked[acc.id]
            by_kind[self.classifier.blocks_as(c.kind)].append((acc, c))
        if by_kind[COOLING]:
            acc, first = min(by_kind[COOLING], key=lambda item: item[1].until)
            wait = max(0.0, first.until - now)
            return GatewayError(
                ErrorKind.ALL_COOLING,
                f"All {len(usable)} usable account(s) are cooling down for {model}; the earliest "
                f"({acc.display_name}) frees up at {utc(first.until)} (in {wait:.0f}s). "
                f"Last reason: {first.kind}: {first.reason[:200]}",
                retry_after=max(1.0, wait),
            )
        if by_kind[MISSING] and not by_kind[PARKED]:
            reason = by_kind[MISSING][0][1].reason
            return GatewayError(ErrorKind.NOT_FOUND, f"Model {model} is not available on any account: {reason[:300]}")
        parked = "; ".join(
            f"{acc.display_name}: {c.kind} until {utc(c.until)} ({c.reason[:160]})" for acc, c in by_kind[PARKED][:10]
        )
        return GatewayError(ErrorKind.NO_ACCOUNT, f"No account can serve {model} now. {parked}")

    async def unavailable(self, model: str, exclude: set[str] | None = None) -> GatewayError | None:
        """The final error if no account is free for the model right now, else None. No side effects."""
        now = self.clock.now()
        usable = [a for a in self._accounts if a.usable and not (exclude and a.id in exclude)]
        if not usable:
            return self._no_usable()
        cooldowns = await self.state.cooldowns_for([a.id for a in usable], model, now)
        blocked: dict[str, Cooldown] = {}
        for acc in usable:
            blocker = self._blocker(cooldowns, acc, model)
            if blocker is None or blocker.until <= now:
                return None
            blocked[acc.id] = blocker
        return self._all_blocked(model, usable, blocked, now)

    # -- outcomes
    async def record_failure(
        self, account: Account, model: str, failure: UpstreamFailure, session_key: str = "", request_tokens: int = 0
    ) -> Decision:
        """Classify a failure (the ladder step depends on the scope's recent failures) and apply it.

        `request_tokens`: the request's estimated input, for `Classifier.decide`."""
        rule = self.classifier.rule_for(failure)
        previous = await self.state.failure_count(scope_key(account.id, model, rule.scope), self.clock.now())
        decision = self.classifier.decide(rule, failure, previous, request_tokens)
        await self.report_failure(account, model, decision, session_key)
        return decision

    async def report_success(self, account: Account, model: str, started: float = 0.0, cooled: bool = True) -> None:
        """A success clears its scope: the account and account × model cooldowns set before it started.

        `cooled` False: the pick saw none for this account, so any there now came after the start.
        """
        now = self.clock.now()
        current = await self.state.cooldowns_for((account.id,), model, now) if cooled else {}
        scoped = f"{account.id}:{model}"
        keys = (
            [k for k in (account.id, scoped) if k in current and (not started or current[k].since <= started)]
            if current
            else []
        )
        cleared = await self.state.clear_cooldowns(keys) if keys else []
        await self.state.reset_failures(account.id, scoped)  # one round trip on Redis
        if cleared and self._persist_cooldowns is not None:
            self._persist_cooldowns([], cleared)

    async def report_failure(self, account: Account, model: str, decision: Decision, session_key: str = "") -> None:
        now = self.clock.now()
        await self.state.add_failure(scope_key(account.id, model, decision.scope), now)
        if decision.account_state:
            for acc in {id(account): account, **{id(a): a for a in self._accounts if a.id == account.id}}.values():
                acc.state = decision.account_state
                acc.state_reason = decision.reason
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
                since=now,
            )
            existing = (await self.state.cooldowns_for((account.id,), cooldown.model, now)).get(cooldown.key)
            if existing is None or existing.until <= cooldown.until:
                await self.state.set_cooldown(cooldown)
                if self._persist_cooldowns is not None:
                    self._persist_cooldowns([cooldown], [])
            log.info(
                "account %s cooling%s for %.0fs: %s",
                account.display_name,
                f" ({model})" if cooldown.model else "",
                decision.cooldown,
                decision.kind,
            )
        if session_key and decision.rotate and (decision.account_state or decision.cooldown > 0):
            # cache_first keeps the binding through a short cooldown: the conversation waits for its account.
            keep = (
                self.config.mode == "cache_first"
                and not decision.account_state
                and decision.blocks_as == COOLING
                and decision.cooldown <= self.config.max_wait_seconds
            )
            if not keep:
                await self.state.unbind(session_key)

    # -- persistence
    async def restore(self, cooldowns: list[Cooldown]) -> None:
        now = self.clock.now()
        for c in cooldowns:
            if c.until > now:
                await self.state.set_cooldown(c)

    async def reconcile(self, stored: list[Cooldown], grace: float = 2.0) -> list[str]:
        """Drop cooldowns someone cleared in the store (`accounts enable`), sparing ones still being written."""
        now = self.clock.now()
        keep = {c.key for c in stored}
        current = await self.state.cooldowns(now)
        stale = [k for k, c in current.items() if k not in keep and c.since < now - grace]
        return await self.state.clear_cooldowns(stale) if stale else []

    async def clear(self, account_id: str | None = None) -> list[str]:
        now = self.clock.now()
        current = await self.state.cooldowns(now)
        keys = [k for k, c in current.items() if account_id is None or c.account_id == account_id]
        cleared = await self.state.clear_cooldowns(keys)
        await self.state.reset_failures(*({account_id} if account_id else {a.id for a in self._accounts}))
        if cleared and self._persist_cooldowns is not None:
            self._persist_cooldowns([], cleared)
        return cleared

    # -- visibility
    async def status(self, account: Account) -> AccountStatus:
        if not account.enabled:
            return AccountStatus("disabled", account.state_reason, 0.0)
        if account.state != ACTIVE:
            return AccountStatus(account.state, account.state_reason, 0.0)
        now = self.clock.now()
        current = await self.state.cooldowns(now)
        mine = tuple(sorted((c for c in current.values() if c.account_id == account.id), key=lambda c: c.until))
        if not mine:
            return AccountStatus(ACTIVE, "", 0.0)
        whole = [c for c in mine if not c.model]
        latest = max(whole or mine, key=lambda c: c.until)
        state = "parked" if self.classifier.blocks_as(latest.kind) == PARKED else "cooling"
        url = ""
        if "(verify at " in latest.reason:
            url = latest.reason.rsplit("(verify at ", 1)[1].rstrip(")")
        return AccountStatus(state, f"{latest.kind}: {latest.reason}", latest.until, mine, url)

    async def snapshot(self) -> list[dict[str, Any]]:
        """Every account's scheduling state as JSON-ready dicts (for the admin API and UI)."""
        rows: list[dict[str, Any]] = []
        for acc in self._accounts:
            st = await self.status(acc)
            rows.append(
                {
                    "id": acc.id,
                    "kind": acc.kind,
                    "name": acc.display_name,
                    "tier": acc.tier,
                    "priority": acc.priority,
                    "state": st.state,
                    "reason": st.reason,
                    "until": st.until or None,
                    "validation_url": st.validation_url or None,
                    "last_used_at": acc.last_used_at or None,
                    "cooldowns": [cooldown_json(c) for c in st.cooldowns],
                }
            )
        return rows

    async def cooldowns(self) -> list[Cooldown]:
        current = await self.state.cooldowns(self.clock.now())
        return sorted(current.values(), key=lambda c: c.until)


def cooldown_json(c: Cooldown) -> dict[str, Any]:
    return {
        "account_id": c.account_id,
        "model": c.model or None,
        "scope": "account_model" if c.model else "account",
        "kind": c.kind,
        "until": c.until,
        "reason": c.reason,
    }
