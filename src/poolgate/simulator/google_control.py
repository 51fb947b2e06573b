"""Control API for the simulated Google accounts, under /_sim/google: users, logins, revocation, faults."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

from poolgate.simulator.asgi import Request
from poolgate.simulator.control import _json_object
from poolgate.simulator.routing import Handler, Route
from poolgate.simulator.state import SimulatorState


class _Bad(ValueError):
    pass


def _str(body: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = body.get(name, "")
    if not isinstance(value, str) or (required and not value):
        raise _Bad(f"{name}: expected a non-empty string")
    return value


async def _body(request: Request) -> dict[str, Any]:
    body = await _json_object(request)
    if body is None:
        raise _Bad("body must be a JSON object")
    return body


async def post_user(request: Request, state: SimulatorState) -> None:
    """Create or change a user: {email, project?, no_project?, tier?, onboard_project?, onboard_polls?, quota?}.

    Answers with a fresh refresh token for the user, ready to import.
    """
    body = await _body(request)
    user = state.google.user(_str(body, "email"))
    if "project" in body:
        user.project = _str(body, "project")
    if body.get("no_project") is True:
        user.project = ""
    if "tier" in body:
        user.tier = _str(body, "tier")
    if "onboard_project" in body:
        user.onboard_project = _str(body, "onboard_project")
    if "onboard_polls" in body:
        polls = body["onboard_polls"]
        if not isinstance(polls, int) or isinstance(polls, bool) or polls < 0:
            raise _Bad("onboard_polls: expected a non-negative integer")
        user.onboard_polls = polls
    quota = body.get("quota")
    if quota is not None:
        if not isinstance(quota, dict):
            raise _Bad("quota: expected {model: {remainingFraction, resetTime}}")
        user.quota.update(quota)
    token = state.google.mint_refresh_token(user.email) if body.get("mint_refresh_token", True) else ""
    await request.respond_json(
        200, {"email": user.email, "project": user.project, "tier": user.tier, "refresh_token": token}
    )


async def post_next_login(request: Request, state: SimulatorState) -> None:
    """Who consents at the next authorize redirect: {email}."""
    state.google.next_logins.append(_str(await _body(request), "email"))
    await request.respond_json(200, {"ok": True})


async def post_revoke(request: Request, state: SimulatorState) -> None:
    """Revoke all of a user's tokens: {email}; refreshing then fails with invalid_grant."""
    count = state.google.revoke(_str(await _body(request), "email"))
    await request.respond_json(200, {"ok": True, "revoked": count})


async def post_expire(request: Request, state: SimulatorState) -> None:
    """Invalidate a user's access tokens only: {email}; their next Cloud Code call gets a 401."""
    count = state.google.expire_access(_str(await _body(request), "email"))
    await request.respond_json(200, {"ok": True, "expired": count})


async def post_settings(request: Request, state: SimulatorState) -> None:
    """{token_ttl?: seconds for new access tokens, rotate_refresh_tokens?: bool}."""
    body = await _body(request)
    if "token_ttl" in body:
        ttl = body["token_ttl"]
        if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 0:
            raise _Bad("token_ttl: expected a non-negative integer")
        state.google.token_ttl = ttl
    if "rotate_refresh_tokens" in body:
        state.google.rotate_refresh_tokens = bool(body["rotate_refresh_tokens"])
    await request.respond_json(200, {"ok": True})


async def post_base(request: Request, state: SimulatorState) -> None:
    """Make one Cloud Code base prefix fail: {prefix: "/a", status: 503}; status 0 or null restores it."""
    body = await _body(request)
    prefix = _str(body, "prefix", required=False)
    status = body.get("status")
    if status in (None, 0):
        state.google.base_status.pop(prefix, None)
    elif isinstance(status, int) and not isinstance(status, bool) and 400 <= status <= 599:
        state.google.base_status[prefix] = status
    else:
        raise _Bad("status: expected an HTTP error status, 0 or null")
    await request.respond_json(200, {"ok": True, "bases": state.google.base_status})


def _guarded(handler: Callable[[Request, SimulatorState], Awaitable[None]]) -> Handler:
    async def run(request: Request, state: SimulatorState) -> None:
        try:
            await handler(request, state)
        except _Bad as err:
            await request.respond_json(400, {"error": str(err)})

    return run


ROUTES: Final[tuple[Route, ...]] = (
    Route("POST", r"/_sim/google/user", _guarded(post_user)),
    Route("POST", r"/_sim/google/next_login", _guarded(post_next_login)),
    Route("POST", r"/_sim/google/revoke", _guarded(post_revoke)),
    Route("POST", r"/_sim/google/expire", _guarded(post_expire)),
    Route("POST", r"/_sim/google/settings", _guarded(post_settings)),
    Route("POST", r"/_sim/google/base", _guarded(post_base)),
)
