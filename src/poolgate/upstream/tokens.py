"""TokenKeeper: a valid access token per OAuth account, refreshed by one caller at a time, then persisted."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from poolgate.store.models import Account
from poolgate.upstream.oauth import OAuthClient

log = logging.getLogger("poolgate.oauth")

# Refresh this long before expiry, so a token never dies between the check and the upstream's check.
REFRESH_SKEW = 300.0

# persist(account_id, fields, bump): write account fields to the store; bump=True makes gateways reload.
Persist = Callable[[str, dict[str, Any], bool], Awaitable[None]]


@dataclass(slots=True)
class _Held:
    origin: str  # the refresh token the store gave us; a different one there means a new login
    refresh: str
    access: str
    expires_at: float

    def valid(self, now: float, margin: float) -> bool:
        return bool(self.access) and self.expires_at - now > margin


class TokenKeeper:
    def __init__(
        self,
        client: OAuthClient,
        persist: Persist,
        clock: Callable[[], float] = time.time,
        skew: float = REFRESH_SKEW,
    ) -> None:
        self.client = client
        self.persist = persist
        self.clock = clock
        self.skew = skew
        self._held: dict[str, _Held] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _view(self, account: Account) -> _Held:
        held = self._held.get(account.id)
        if held is None or account.secret not in (held.origin, held.refresh):
            held = _Held(account.secret, account.secret, account.access_token, account.access_expires_at)
            self._held[account.id] = held
        elif account.access_expires_at > held.expires_at and account.access_token:
            # Another process (the CLI, another instance) refreshed and stored a newer token.
            held.access, held.expires_at = account.access_token, account.access_expires_at
        return held

    async def access_token(self, account: Account, *, stale: str = "") -> str:
        """A usable token; `stale` names one the upstream just rejected (401), forcing a refresh."""
        held = self._view(account)
        if not stale and held.valid(self.clock(), self.skew):
            return held.access
        seen = stale or held.access
        async with self._locks.setdefault(account.id, asyncio.Lock()):
            held = self._view(account)
            now = self.clock()
            if held.access != seen and held.valid(now, 0.0):
                return held.access  # someone refreshed while we waited: one refresh serves everyone
            if not stale and held.valid(now, self.skew):
                return held.access
            return await self._refresh(account, held)

    async def _refresh(self, account: Account, held: _Held) -> str:
        tokens = await self.client.via(account.proxy_url).refresh(held.refresh)
        held.access = tokens.access_token
        held.expires_at = self.clock() + tokens.expires_in
        fields: dict[str, Any] = {"access_token": held.access, "access_expires_at": held.expires_at}
        if tokens.refresh_token and tokens.refresh_token != held.refresh:
            held.refresh = tokens.refresh_token
            fields["secret"] = tokens.refresh_token
        account.access_token, account.access_expires_at = held.access, held.expires_at
        if "secret" in fields:
            account.secret = held.refresh
        try:
            await self.persist(account.id, fields, False)
        except Exception:  # the token still works in memory; the next refresh persists again
            log.exception("could not store the refreshed token of %s", account.display_name)
        return held.access

    def forget(self, account_id: str) -> None:
        self._held.pop(account_id, None)
