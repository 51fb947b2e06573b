"""Google's OAuth surface: the authorize redirect, the token endpoint (code + PKCE, refresh) and userinfo.

Paths mirror Google's (`/o/oauth2/v2/auth`, `/token`, `/oauth2/v2/userinfo`), so a gateway points
`upstream.oauth_auth_url`, `oauth_token_url` and `userinfo_url` at the simulator's base URL plus these.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import parse_qs, urlencode, urlsplit

from poolgate.simulator.asgi import Request
from poolgate.simulator.calls import log_call
from poolgate.simulator.google_accounts import AuthCode, GoogleWorld, s256
from poolgate.simulator.routing import Route
from poolgate.simulator.state import SimulatorState


def _record(state: SimulatorState, request: Request, key: str, method: str, body: Any) -> None:
    log_call(request, state, key=key, model="", method=method, stream=False, body=body)


async def authorize(request: Request, state: SimulatorState) -> None:
    """Plays the user's consent: redirects straight back to redirect_uri with a code (or an error)."""
    world = state.google
    params = {name: request.query(name) or "" for name in _AUTH_PARAMS}
    _record(state, request, "", "authorize", params)
    redirect = params["redirect_uri"]
    if not params["client_id"] or not redirect or urlsplit(redirect).scheme not in ("http", "https"):
        await request.respond_json(400, {"error": "invalid_request", "error_description": "client_id/redirect_uri"})
        return
    query: dict[str, str]
    if params["response_type"] != "code":
        query = {"error": "unsupported_response_type"}
    elif not params["code_challenge"] or params["code_challenge_method"] != "S256":
        query = {"error": "invalid_request", "error_description": "PKCE with S256 is required"}
    else:
        email = world.next_login_email()
        world.user(email)
        code = world.new_code(
            AuthCode(email, params["client_id"], redirect, params["code_challenge"], params["code_challenge_method"])
        )
        query = {"code": code, "scope": params["scope"]}
    if params["state"]:
        query["state"] = params["state"]
    sep = "&" if "?" in redirect else "?"
    await request.respond(302, b"", [(b"location", f"{redirect}{sep}{urlencode(query)}".encode())])


_AUTH_PARAMS: Final = (
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "access_type",
    "prompt",
)


def _token_error(error: str, description: str) -> dict[str, str]:
    return {"error": error, "error_description": description}


async def token(request: Request, state: SimulatorState) -> None:
    world = state.google
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    grant = form.get("grant_type", "")
    owner = _token_owner(world, form)
    shown = {k: v for k, v in form.items() if k not in ("client_secret", "code_verifier")}
    _record(state, request, owner, "token", shown)
    if not form.get("client_id") or not form.get("client_secret"):
        await request.respond_json(401, _token_error("invalid_client", "The OAuth client was not found."))
        return
    if grant == "authorization_code":
        status, body = _exchange(world, form)
    elif grant == "refresh_token":
        status, body = _refresh(world, form)
    else:
        status, body = 400, _token_error("unsupported_grant_type", f"Invalid grant_type: {grant}")
    await request.respond_json(status, body)


def _token_owner(world: GoogleWorld, form: dict[str, str]) -> str:
    code = world.codes.get(form.get("code", ""))
    if code is not None:
        return code.email
    return world.refresh_tokens.get(form.get("refresh_token", ""), "")


def _exchange(world: GoogleWorld, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
    code = world.codes.pop(form.get("code", ""), None)  # single use, like Google's
    if code is None:
        return 400, _token_error("invalid_grant", "Malformed auth code.")
    if form.get("redirect_uri") != code.redirect_uri or form.get("client_id") != code.client_id:
        return 400, _token_error("redirect_uri_mismatch", "Bad Request")
    if s256(form.get("code_verifier", "")) != code.challenge:
        return 400, _token_error("invalid_grant", "Invalid code verifier.")
    access, ttl = world.mint_access_token(code.email)
    return 200, {
        "access_token": access,
        "expires_in": ttl,
        "refresh_token": world.mint_refresh_token(code.email),
        "scope": "openid https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email",
        "token_type": "Bearer",
        "id_token": "sim-id-token",
    }


def _refresh(world: GoogleWorld, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
    refresh = form.get("refresh_token", "")
    email = world.refresh_tokens.get(refresh)
    if email is None:
        return 400, _token_error("invalid_grant", "Token has been expired or revoked.")
    access, ttl = world.mint_access_token(email)
    body: dict[str, Any] = {"access_token": access, "expires_in": ttl, "token_type": "Bearer"}
    if world.rotate_refresh_tokens:
        del world.refresh_tokens[refresh]
        body["refresh_token"] = world.mint_refresh_token(email)
    return 200, body


async def userinfo(request: Request, state: SimulatorState) -> None:
    auth = request.header(b"authorization") or ""
    email = state.google.email_for_access(auth.removeprefix("Bearer ").strip())
    _record(state, request, email or "", "userinfo", None)
    if email is None:
        await request.respond_json(401, {"error": {"code": 401, "message": "Invalid Credentials"}})
        return
    name = email.split("@")[0]
    await request.respond_json(
        200, {"id": str(abs(hash(email)) % 10**12), "email": email, "verified_email": True, "name": name}
    )


ROUTES: Final[tuple[Route, ...]] = (
    Route("GET", r"/o/oauth2/v2/auth", authorize),
    Route("POST", r"/token", token),
    Route("GET", r"/oauth2/v2/userinfo", userinfo),
)
