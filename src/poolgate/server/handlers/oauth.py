"""Admin routes for the Google OAuth login (for the web UI), and the public /auth/callback page.

`POST /api/accounts/oauth/start` → `{url, state, redirect_uri}`; the browser goes to `url`; Google sends
it back to `/auth/callback` (which finishes by itself), or the user pastes the redirect URL or code into
`POST /api/accounts/oauth/complete`. `POST /api/accounts/oauth/import` adds one refresh token.
"""

from __future__ import annotations

import html

from poolgate.errors import ErrorKind, GatewayError, invalid
from poolgate.gateway import RequestContext
from poolgate.protocols import fields
from poolgate.server.asgi import Request, Response, json_response
from poolgate.server.handlers.admin_common import checked, json_body, proxy_field
from poolgate.services import Services
from poolgate.store.models import Account, check_label
from poolgate.upstream.base import UpstreamFailure
from poolgate.upstream.enroll import Enrolled, enroll
from poolgate.upstream.oauth import INVALID_GRANT, OAuthSetupError

CALLBACK_PATH = "/auth/callback"


def account_json(account: Account) -> dict[str, object]:
    return {
        "id": account.id,
        "kind": account.kind,
        "email": account.email,
        "label": account.label,
        "project_id": account.project_id,
        "tier": account.tier,
        "state": account.state,
        "enabled": account.enabled,
    }


def _refused(failure: UpstreamFailure, what: str, why: str) -> GatewayError:
    """Google refusing the grant is about what the admin sent (a 400); anything else is the upstream's (502)."""
    if failure.oauth_error == INVALID_GRANT:
        return invalid(f"{what}: Google refused the grant (invalid_grant): {why}.")
    return GatewayError(ErrorKind.UPSTREAM_ERROR, f"{what}: {failure}")


def _default_redirect(req: Request, svc: Services) -> str:
    host = req.headers.get("host") or f"127.0.0.1:{svc.config.proxy.port}"
    scheme = req.headers.get("x-forwarded-proto") or str(req.scope.get("scheme") or "http")
    return f"{scheme}://{host}{CALLBACK_PATH}"


async def start(req: Request, ctx: RequestContext, svc: Services) -> Response:
    body = await json_body(req, ("redirect_uri", "proxy_url"))
    redirect = fields.opt_str(body, "redirect_uri") or _default_redirect(req, svc)
    try:
        login = svc.oauth.logins.start(redirect, proxy_field(body))
    except OAuthSetupError as err:
        raise invalid(str(err)) from None
    return json_response({"url": login.url, "state": login.state, "redirect_uri": login.redirect_uri})


async def _finish(svc: Services, pasted: str, state: str) -> Enrolled:
    try:
        code, login = svc.oauth.logins.take(pasted, state)
        client = svc.oauth.client.via(login.proxy_url)
        tokens = await client.exchange_code(code, login.redirect_uri, login.pkce.verifier)
        result = await enroll(svc.oauth, svc.store, tokens.refresh_token, tokens=tokens, proxy_url=login.proxy_url)
    except OAuthSetupError as err:
        raise invalid(str(err)) from None
    except UpstreamFailure as failure:
        raise _refused(failure, "Login failed", "the code has expired or was already used; sign in again") from None
    await svc.reload()
    return result


async def complete(req: Request, ctx: RequestContext, svc: Services) -> Response:
    body = await json_body(req, ("code", "redirect_url", "state"))
    pasted = fields.opt_str(body, "redirect_url") or fields.opt_str(body, "code") or ""
    if not pasted.strip():
        raise invalid("Send 'code' or 'redirect_url'.", "code")
    result = await _finish(svc, pasted, fields.opt_str(body, "state") or "")
    return json_response({"account": account_json(result.account), "created": result.created})


async def import_token(req: Request, ctx: RequestContext, svc: Services) -> Response:
    body = await json_body(req, ("refresh_token", "email", "project_id", "proxy_url"))
    token = fields.req_str(body, "refresh_token")
    try:
        result = await enroll(
            svc.oauth,
            svc.store,
            token.strip(),
            email=checked(check_label, fields.opt_str(body, "email") or "", "email"),
            project_id=fields.opt_str(body, "project_id") or "",
            proxy_url=proxy_field(body),
        )
    except OAuthSetupError as err:
        raise invalid(str(err)) from None
    except UpstreamFailure as failure:
        raise _refused(failure, "Import failed", "the token was revoked or is no refresh token") from None
    await svc.reload()
    return json_response({"account": account_json(result.account), "created": result.created})


def _page(status: int, title: str, text: str) -> Response:
    page = (
        f"<!doctype html><meta charset=utf-8><title>poolgate · {html.escape(title)}</title>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>"
    )
    return Response(status, page.encode(), media_type=b"text/html; charset=utf-8")


async def callback(req: Request, ctx: RequestContext, svc: Services) -> Response:
    """Public: Google redirects the browser here; the state ties it to a login started by an admin."""
    query = req.query
    if query.get("error"):
        return _page(400, "Login failed", f"Google refused the login: {query['error']}")
    state = query.get("state", "")
    if not query.get("code") or not state:
        return _page(400, "Login failed", "The redirect carries no code or state.")
    try:
        result = await _finish(svc, query["code"], state)
    except GatewayError as err:
        return _page(err.status, "Login failed", err.message)
    who = result.account.email or result.account.id
    return _page(200, "Login complete", f"{who} was added to poolgate. You can close this window.")
