"""Admin API for accounts and cooldowns: list with live state, add a key, enable, disable, remove, refresh, proxy."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from poolgate.errors import ErrorKind, GatewayError
from poolgate.gateway import RequestContext
from poolgate.server.asgi import Request, Response, json_response
from poolgate.server.handlers.admin_common import (
    after_change,
    checked,
    json_body,
    not_found,
    proxy_field,
    tail,
    text_field,
)
from poolgate.services import Services
from poolgate.store.crypto import mask_secret
from poolgate.store.models import ACTIVE, API_KEY, Account, Cooldown, check_api_key, check_label
from poolgate.upstream.base import UpstreamFailure
from poolgate.upstream.egress import show_proxy
from poolgate.upstream.oauth import INVALID_GRANT

PREFIX = "/api/accounts/"


def _cooldown_json(c: Cooldown, now: float) -> dict[str, Any]:
    return {
        "account_id": c.account_id,
        "model": c.model,
        "until": c.until,
        "seconds_left": max(0.0, round(c.until - now, 1)),
        "reason": c.reason,
        "kind": c.kind,
    }


async def _account_json(svc: Services, acc: Account, cooldowns: list[Cooldown], last_errors: dict[str, Any]) -> Any:
    status = await svc.scheduler.status(acc)
    now = svc.clock.now()
    last = last_errors.get(acc.id)
    return {
        "id": acc.id,
        "kind": acc.kind,
        "label": acc.label,
        "email": acc.email,
        "name": acc.display_name,
        "secret": mask_secret(acc.secret),
        "proxy": show_proxy(acc.proxy_url),
        "enabled": acc.enabled,
        "tier": acc.tier,
        "project_id": acc.project_id,
        "priority": acc.priority,
        "state": status.state.split(" ")[0],
        "state_label": status.state,
        "why": status.reason,
        "until": status.until or None,
        "cooldowns": [_cooldown_json(c, now) for c in cooldowns if c.account_id == acc.id],
        "quota": acc.quota,
        "last_used_at": acc.last_used_at or None,
        "last_error": last,
        "created_at": acc.created_at,
    }


def _find(svc: Services, account_id: str) -> Account:
    for acc in svc.scheduler.accounts:
        if acc.id == account_id:
            return acc
    raise not_found(f"No account with id {account_id!r}.")


async def list_accounts(req: Request, ctx: RequestContext, svc: Services) -> Response:
    await svc.reload()
    await svc.monitor.catch_up()  # so "last error" includes the request that failed a moment ago
    cooldowns = await svc.scheduler.cooldowns()
    last_errors = await asyncio.to_thread(svc.store.last_errors)
    items = [await _account_json(svc, acc, cooldowns, last_errors) for acc in svc.scheduler.accounts]
    return json_response({"accounts": items, "usable": svc.scheduler.usable_count(), "now": svc.clock.now()})


async def add_account(req: Request, ctx: RequestContext, svc: Services) -> Response:
    body = await json_body(req, ("key", "label", "proxy_url"))
    key = checked(check_api_key, text_field(body, "key"), "key")
    label = checked(check_label, text_field(body, "label", required=False), "label")
    proxy = proxy_field(body)
    existing = await asyncio.to_thread(svc.store.list_accounts)
    for acc in existing:
        if acc.kind == API_KEY and acc.secret == key:
            raise GatewayError(ErrorKind.INVALID_REQUEST, f"This key is already account {acc.id}.", status=409)
    account = Account(id="", kind=API_KEY, label=label or f"key {mask_secret(key)}", secret=key, proxy_url=proxy)
    account = await asyncio.to_thread(svc.store.add_account, account)
    await after_change(svc)
    created = _find(svc, account.id)
    return json_response(await _account_json(svc, created, [], {}), status=201)


async def account_action(req: Request, ctx: RequestContext, svc: Services) -> Response:
    """`/api/accounts/{id}` (GET, DELETE) and `/api/accounts/{id}/{enable|disable|refresh|proxy}` (POST)."""
    parts = tail(req, PREFIX)
    if not parts or len(parts) > 2:
        raise not_found(f"Unknown route {req.method} {req.path}.")
    await svc.reload()
    account = _find(svc, parts[0])
    action = parts[1] if len(parts) == 2 else ""
    if action and action != "proxy" and action not in _ACTIONS:
        raise not_found(f"Unknown route {req.method} {req.path}.")
    if req.method == "GET" and not action:
        cooldowns = await svc.scheduler.cooldowns()
        last_errors = await asyncio.to_thread(svc.store.last_errors)
        return json_response(await _account_json(svc, account, cooldowns, last_errors))
    if req.method == "DELETE" and not action:
        await svc.scheduler.clear(account.id)
        await asyncio.to_thread(svc.store.remove_account, account.id)
        await after_change(svc)
        return json_response({"removed": account.id})
    if req.method != "POST" or not action:
        allow = "OPTIONS, POST" if action else "DELETE, GET, HEAD, OPTIONS"
        raise GatewayError(
            ErrorKind.METHOD_NOT_ALLOWED, f"Method {req.method} is not allowed on {req.path}.", allow=allow
        )
    if action == "proxy":
        proxy = proxy_field(await json_body(req, ("proxy_url",)), required=True)
        await asyncio.to_thread(svc.store.update_account, account.id, proxy_url=proxy)
        result: dict[str, Any] = {}
    else:
        result = await _ACTIONS[action](svc, account)
    await after_change(svc)
    refreshed = _find(svc, account.id)
    cooldowns = await svc.scheduler.cooldowns()
    last_errors = await asyncio.to_thread(svc.store.last_errors)
    payload = await _account_json(svc, refreshed, cooldowns, last_errors)
    payload.update(result)
    return json_response(payload)


async def _enable(svc: Services, account: Account) -> dict[str, Any]:
    await asyncio.to_thread(svc.store.update_account, account.id, enabled=True, state=ACTIVE, state_reason="")
    await svc.scheduler.clear(account.id)
    return {}


async def _disable(svc: Services, account: Account) -> dict[str, Any]:
    await asyncio.to_thread(svc.store.update_account, account.id, enabled=False)
    return {}


async def _refresh(svc: Services, account: Account) -> dict[str, Any]:
    if account.kind != API_KEY:
        return await _refresh_oauth(svc, account)
    return await _refresh_key(svc, account)


async def _refresh_key(svc: Services, account: Account) -> dict[str, Any]:
    """Ask upstream which models the key can use: proves the credential works and clears stale state."""
    transport = svc.transports.get(account.kind)
    if transport is None:
        raise GatewayError(ErrorKind.INVALID_REQUEST, f"No transport for {account.kind} accounts in this gateway.")
    try:
        models = await transport.list_models(account)
    except UpstreamFailure as failure:
        reason = f"refresh failed: {failure}"
        await asyncio.to_thread(svc.store.update_account, account.id, state_reason=reason[:500])
        return {"refreshed": False, "error": reason}
    names = sorted(str(m.get("name", "")).removeprefix("models/") for m in models if isinstance(m, dict))
    meta = dict(account.meta)
    meta.update({"models": names[:200], "refreshed_at": time.time()})
    fields: dict[str, Any] = {"meta": meta}
    if account.state != ACTIVE and account.enabled:
        fields.update(state=ACTIVE, state_reason="")
    await asyncio.to_thread(lambda: svc.store.update_account(account.id, **fields))
    return {"refreshed": True, "models": len(names)}


async def _refresh_oauth(svc: Services, account: Account) -> dict[str, Any]:
    """Tokens, project and quota now, through the OAuth module (the same steps as `poolgate accounts refresh`)."""
    oauth = svc.oauth
    try:
        await oauth.keeper.access_token(account, stale=account.access_token or "-")
        info = await oauth.rediscover(account)
        quota = await oauth.refresh_quota(account)
    except UpstreamFailure as failure:
        if failure.oauth_error == INVALID_GRANT:
            await oauth.mark_needs_relogin(account, str(failure))
        return {"refreshed": False, "error": f"refresh failed: {failure}"}
    return {"refreshed": True, "project_id": info.project_id, "models": len(quota)}


_ACTIONS = {"enable": _enable, "disable": _disable, "refresh": _refresh}


async def list_cooldowns(req: Request, ctx: RequestContext, svc: Services) -> Response:
    now = svc.clock.now()
    names = {a.id: a.display_name for a in svc.scheduler.accounts}
    items = []
    for c in await svc.scheduler.cooldowns():
        item = _cooldown_json(c, now)
        item["account"] = names.get(c.account_id, c.account_id)
        items.append(item)
    return json_response({"cooldowns": items, "now": now})


async def clear_cooldowns(req: Request, ctx: RequestContext, svc: Services) -> Response:
    account_id = req.query.get("account", "") or None
    if account_id is not None:
        _find(svc, account_id)
    cleared = await svc.scheduler.clear(account_id)
    await asyncio.to_thread(svc.store.clear_cooldowns, account_id)
    return json_response({"cleared": cleared})
