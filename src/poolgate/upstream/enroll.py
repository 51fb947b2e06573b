"""Turn a refresh token (imported, or fresh from a login) into a stored, ready OAuth account.

Steps: refresh → userinfo (email) → project (given, or loadCodeAssist/onboarding) → quota → upsert by email.
A later login of the same Google account replaces its token and puts it back into rotation.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from poolgate.store.models import ACTIVE, OAUTH, Account
from poolgate.store.sql import SqlStore
from poolgate.upstream.base import UpstreamFailure
from poolgate.upstream.oauth import Tokens
from poolgate.upstream.oauth_accounts import OAuthAccounts, tier_name
from poolgate.upstream.onboarding import ProjectInfo

log = logging.getLogger("poolgate.oauth")


@dataclass(slots=True)
class Enrolled:
    account: Account
    created: bool
    warnings: list[str] = field(default_factory=list)


async def enroll(
    oauth: OAuthAccounts,
    store: SqlStore,
    refresh_token: str,
    *,
    email: str = "",
    project_id: str = "",
    tokens: Tokens | None = None,
    proxy_url: str = "",
) -> Enrolled:
    """Raises UpstreamFailure (or OAuthSetupError) when the token cannot be used at all.

    With `proxy_url` the account is looked up through that proxy, and keeps it as its own.
    """
    client = oauth.client.via(proxy_url)
    tokens = tokens or await client.refresh(refresh_token)
    refresh_token = tokens.refresh_token or refresh_token
    warnings: list[str] = []
    try:
        info = await client.userinfo(tokens.access_token)
        email = str(info.get("email") or email)
    except UpstreamFailure as failure:
        if not email:
            raise
        warnings.append(f"userinfo failed ({failure}); using the given email")
    account = Account(
        id="",
        kind=OAUTH,
        label=email or "google account",
        secret=refresh_token,
        email=email,
        access_token=tokens.access_token,
        access_expires_at=time.time() + tokens.expires_in,
        project_id=project_id,
        proxy_url=proxy_url,
    )
    resolver = oauth.resolver_via(proxy_url)
    if project_id:
        try:
            _, loaded = await resolver.load(tokens.access_token)
            if loaded is not None:
                account.tier = tier_name(loaded)
        except UpstreamFailure as failure:
            warnings.append(f"tier lookup failed: {failure}")
    else:
        info_project: ProjectInfo = await resolver.discover(tokens.access_token)
        account.project_id, account.tier = info_project.project_id, tier_name(info_project)
    stored, created = await asyncio.to_thread(_upsert, store, account)
    try:
        await oauth.refresh_quota(stored)
    except UpstreamFailure as failure:
        warnings.append(f"quota lookup failed: {failure}")
    return Enrolled(stored, created, warnings)


def _upsert(store: SqlStore, account: Account) -> tuple[Account, bool]:
    existing = next(
        (a for a in store.list_accounts() if a.kind == OAUTH and account.email and a.email == account.email), None
    )
    if existing is None:
        return store.add_account(account), True
    fields: dict[str, Any] = {
        "secret": account.secret,
        "access_token": account.access_token,
        "access_expires_at": account.access_expires_at,
        "project_id": account.project_id or existing.project_id,
        "tier": account.tier or existing.tier,
        "state": ACTIVE,
        "state_reason": "",
        "enabled": True,
    }
    if account.proxy_url:
        fields["proxy_url"] = account.proxy_url
    store.update_account(existing.id, **fields)
    store.clear_cooldowns(existing.id)
    refreshed = store.get_account(existing.id)
    assert refreshed is not None
    return refreshed, False
