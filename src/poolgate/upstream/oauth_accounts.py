"""OAuthAccounts: what every OAuth account needs before and around a Cloud Code call.

It owns the token keeper (refresh single flight), the project (discovered once per account, persisted),
the quota (fetched at start, periodically and after a 429) and the 401 → refresh → retry rule.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp

from poolgate.config import UpstreamConfig
from poolgate.store.models import NEEDS_RELOGIN, OAUTH, Account
from poolgate.upstream.base import UpstreamFailure
from poolgate.upstream.cloudcode_http import CloudCodeHttp
from poolgate.upstream.login import LoginBook
from poolgate.upstream.oauth import INVALID_GRANT, OAuthClient
from poolgate.upstream.onboarding import ProjectInfo, ProjectResolver
from poolgate.upstream.quota import QuotaMap, fetch_models
from poolgate.upstream.tokens import Persist, TokenKeeper

log = logging.getLogger("poolgate.oauth")

T = TypeVar("T")

QUOTA_AFTER_429_MIN_GAP = 30.0  # a burst of 429s triggers one quota lookup, not one per request
QUOTA_CONCURRENCY = 4


def tier_name(info: ProjectInfo) -> str:
    """A short tier word ("free", "standard", "pro", "ultra") that scheduling.tier_order can rank."""
    raw = (info.tier_id or info.tier).lower()
    for word in ("ultra", "pro", "standard", "free", "legacy"):
        if word in raw:
            return word
    return raw.removesuffix("-tier")


class OAuthAccounts:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        config: UpstreamConfig,
        persist: Persist,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.client = OAuthClient(session, config)
        self.keeper = TokenKeeper(self.client, persist, clock)
        self.http = CloudCodeHttp(session, config)
        self.resolver = ProjectResolver(self.http)
        self.logins = LoginBook(self.client, clock)
        self.persist = persist
        self.clock = clock
        self._project_locks: dict[str, asyncio.Lock] = {}
        self._projects: dict[str, str] = {}
        self._last_429_lookup: dict[str, float] = {}
        self._background: set[asyncio.Task[None]] = set()
        # Told about every fresh quota, so scheduling can act on it (services wires the scheduler in).
        self.on_quota: Callable[[Account, QuotaMap], Awaitable[None]] | None = None

    async def with_token(self, account: Account, fn: Callable[[str], Awaitable[T]]) -> T:
        """Run fn(access_token); on a 401, refresh once (shared with concurrent callers) and run it again."""
        token = await self.keeper.access_token(account)
        try:
            return await fn(token)
        except UpstreamFailure as failure:
            if failure.status != 401:
                raise
        return await fn(await self.keeper.access_token(account, stale=token))

    async def ensure_project(self, account: Account) -> str:
        if account.project_id:
            return account.project_id
        async with self._project_locks.setdefault(account.id, asyncio.Lock()):
            known = self._projects.get(account.id)
            if known:
                account.project_id = known
                return known
            info = await self.with_token(account, self.resolver_via(account.proxy_url).discover)
            await self.save_project(account, info)
            return info.project_id

    def resolver_via(self, proxy: str) -> ProjectResolver:
        """Project lookups sent through an account's own proxy (the shared resolver when it has none)."""
        return ProjectResolver(self.http.via(proxy)) if proxy else self.resolver

    async def save_project(self, account: Account, info: ProjectInfo) -> None:
        self._projects[account.id] = info.project_id
        account.project_id, account.tier = info.project_id, tier_name(info)
        await self.persist(account.id, {"project_id": account.project_id, "tier": account.tier}, True)

    async def rediscover(self, account: Account) -> ProjectInfo:
        """loadCodeAssist (and onboarding) again, e.g. for `accounts refresh`; persists the result."""
        info = await self.with_token(account, self.resolver_via(account.proxy_url).discover)
        await self.save_project(account, info)
        return info

    async def refresh_quota(self, account: Account) -> QuotaMap:
        project = await self.ensure_project(account)
        http = self.http.via(account.proxy_url)
        quota, _ = await self.with_token(account, lambda token: fetch_models(http, token, project))
        account.quota = quota
        await self.persist(account.id, {"quota": quota}, True)
        if self.on_quota is not None:
            await self.on_quota(account, quota)
        return quota

    async def try_refresh_quota(self, account: Account) -> None:
        """Background-safe: failures are logged, and a dead grant marks the account for re-login."""
        try:
            await self.refresh_quota(account)
        except UpstreamFailure as failure:
            if failure.oauth_error == INVALID_GRANT:
                await self.mark_needs_relogin(account, str(failure))
            else:
                log.warning("quota refresh for %s failed: %s", account.display_name, failure)

    async def mark_needs_relogin(self, account: Account, reason: str) -> None:
        account.state, account.state_reason = NEEDS_RELOGIN, reason[:500]
        self.keeper.forget(account.id)
        await self.persist(account.id, {"state": NEEDS_RELOGIN, "state_reason": account.state_reason}, True)
        log.warning("account %s needs a new login: %s", account.display_name, reason)

    def quota_soon(self, account: Account) -> None:
        """After a 429: look the quota up again in the background, at most once per gap."""
        if self.clock() - self._last_429_lookup.get(account.id, 0.0) < QUOTA_AFTER_429_MIN_GAP:
            return
        self._last_429_lookup[account.id] = self.clock()
        task = asyncio.get_running_loop().create_task(self.try_refresh_quota(account))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def refresh_all_quota(self, accounts: list[Account]) -> None:
        gate = asyncio.Semaphore(QUOTA_CONCURRENCY)

        async def one(account: Account) -> None:
            async with gate:
                await self.try_refresh_quota(account)

        await asyncio.gather(*(one(a) for a in accounts if a.kind == OAUTH and a.usable))

    async def quota_loop(self, accounts: Callable[[], list[Account]]) -> None:
        """At start, then every `upstream.quota_refresh_minutes` (0 or less: only at start)."""
        if not self.client.configured:
            return
        while True:
            try:
                await self.refresh_all_quota(list(accounts()))
            except Exception:  # the loop must survive one bad round; each account is retried next time
                log.exception("quota refresh round failed")
            if self.config.quota_refresh_minutes <= 0:
                return
            await asyncio.sleep(self.config.quota_refresh_minutes * 60.0)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
