"""Admin API for the model mapping and the configuration (view, live overrides, re-reading the file)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from poolgate import live_config
from poolgate.config import ConfigError
from poolgate.errors import ErrorKind, GatewayError, invalid
from poolgate.gateway import RequestContext
from poolgate.routing.resolve import UPSTREAM_MODEL_RULE, valid_upstream_model
from poolgate.server.asgi import Request, Response, json_response
from poolgate.server.handlers.admin_common import after_change, json_body, not_found, text_field
from poolgate.services import Services


async def get_mapping(req: Request, ctx: RequestContext, svc: Services) -> Response:
    stored = await asyncio.to_thread(svc.store.list_mappings)
    from_config = dict(svc.config.routing.custom_mapping)
    rules = [{"pattern": p, "model": m, "source": "config"} for p, m in sorted(from_config.items()) if p not in stored]
    rules += [{"pattern": p, "model": m, "source": "store"} for p, m in sorted(stored.items())]
    probe = req.query.get("resolve", "").strip()
    body: dict[str, Any] = {"rules": rules}
    if probe:
        res = svc.router.resolve(probe)
        body["resolved"] = {"client_model": probe, "model": res.model, "rule": res.rule, "pattern": res.pattern}
    return json_response(body)


async def set_mapping(req: Request, ctx: RequestContext, svc: Services) -> Response:
    body = await json_body(req, ("pattern", "model"))
    pattern = text_field(body, "pattern")
    model = text_field(body, "model")
    if "*" in model:
        raise invalid("'model' must be a concrete upstream model name, without '*'.", "model")
    if not valid_upstream_model(model):
        raise invalid(f"'model' is not an upstream model name: {UPSTREAM_MODEL_RULE}.", "model")
    await asyncio.to_thread(svc.store.set_mapping, pattern, model)
    await after_change(svc)
    return json_response({"pattern": pattern, "model": model, "source": "store"})


async def delete_mapping(req: Request, ctx: RequestContext, svc: Services) -> Response:
    pattern = req.query.get("pattern", "").strip()
    if not pattern:
        raise invalid("Query parameter 'pattern' is required.", "pattern")
    if not await asyncio.to_thread(svc.store.remove_mapping, pattern):
        if pattern in svc.config.routing.custom_mapping:
            raise invalid(f"{pattern!r} comes from the config file; remove it there.", "pattern")
        raise not_found(f"No stored mapping for {pattern!r}.")
    await after_change(svc)
    return json_response({"removed": pattern})


def _config_payload(svc: Services, overrides: dict[str, Any], restart: list[str] | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "config": live_config.public_view(svc.config),
        "overrides": overrides,
        "live_keys": sorted(live_config.LIVE_KEYS),
        "can_reload_file": svc.config_loader is not None,
    }
    if restart is not None:
        payload["restart_required"] = restart
    return payload


async def _overrides(svc: Services) -> dict[str, dict[str, Any]]:
    raw = await asyncio.to_thread(svc.store.get_setting, live_config.OVERRIDES_SETTING)
    return live_config.load_overrides(raw)


async def get_config(req: Request, ctx: RequestContext, svc: Services) -> Response:
    return json_response(_config_payload(svc, await _overrides(svc)))


async def patch_config(req: Request, ctx: RequestContext, svc: Services) -> Response:
    """Store live overrides (they survive restarts and reach every instance sharing the store) and apply them."""
    body = await json_body(req)
    try:
        patch = live_config.validate(body)
    except ConfigError as exc:
        raise GatewayError(ErrorKind.INVALID_REQUEST, str(exc), param=str(exc).split(":")[0]) from None
    merged = live_config.merge(await _overrides(svc), patch)
    await asyncio.to_thread(svc.store.set_setting, live_config.OVERRIDES_SETTING, orjson.dumps(merged).decode())
    await after_change(svc)
    return json_response(_config_payload(svc, merged))


async def reset_config(req: Request, ctx: RequestContext, svc: Services) -> Response:
    await asyncio.to_thread(svc.store.set_setting, live_config.OVERRIDES_SETTING, "{}")
    await after_change(svc)
    return json_response(_config_payload(svc, {}))


async def reload_config(req: Request, ctx: RequestContext, svc: Services) -> Response:
    """Re-read the config file: live keys apply now, the others are listed as needing a restart."""
    if svc.config_loader is None:
        raise invalid("This gateway was not started from a config file it can re-read.")
    try:
        fresh = await asyncio.to_thread(svc.config_loader)
    except ConfigError as exc:
        raise invalid(f"Config file is invalid, nothing changed: {exc}") from None
    old = svc.base_config or svc.config
    restart = live_config.restart_keys(old, fresh)
    overrides = await _overrides(svc)
    # Only the live keys are taken from the file; the rest keep their running values until a restart.
    svc.base_config = live_config.take_live(old, fresh)
    svc.apply_config(live_config.apply(svc.base_config, overrides))
    svc.revision = -1  # re-derive the mapping from the new file on the next reload
    await svc.reload()
    return json_response(_config_payload(svc, overrides, restart))
