"""Helpers shared by the admin API handlers: JSON bodies, path tails (query parameters: server/query.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from poolgate.errors import ErrorKind, GatewayError, invalid
from poolgate.protocols import fields
from poolgate.server.asgi import Request
from poolgate.services import Services
from poolgate.upstream.egress import check_proxy_url

ADMIN_BODY_LIMIT = 1024 * 1024


async def json_body(req: Request, takes: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The request's JSON object (none: `{}`). With `takes`, any other field is a 400: a misspelt
    `proxy_url` would otherwise leave an account without the egress proxy its owner meant to give it."""
    raw = await req.body(ADMIN_BODY_LIMIT)
    body = fields.parse_json_object(raw.strip() or b"{}")
    if takes is not None:
        for key in body:
            if key not in takes:
                names = ", ".join(f"'{name}'" for name in takes)
                raise invalid(f"Unknown field '{key}'; this endpoint takes {names}.", key)
    return body


def text_field(body: dict[str, Any], key: str, *, required: bool = True) -> str:
    value = body.get(key, "")
    if not isinstance(value, str):
        raise invalid(f"'{key}' must be a string.", key)
    value = value.strip()
    if required and not value:
        raise invalid(f"'{key}' is required.", key)
    return value


def checked(check: Callable[[str], str], value: str, key: str) -> str:
    """`check(value)` (a store-level check such as `check_label`), its ValueError a 400 naming `key`."""
    try:
        return check(value)
    except ValueError as exc:
        raise invalid(f"'{key}' {exc}.", key) from None


def tail(req: Request, prefix: str) -> list[str]:
    """Path segments after a prefix: `/api/accounts/ab12/enable` with `/api/accounts/` → ['ab12', 'enable']."""
    from urllib.parse import unquote

    return [unquote(part) for part in req.path[len(prefix) :].split("/") if part]


def not_found(what: str) -> GatewayError:
    return GatewayError(ErrorKind.NOT_FOUND, what)


async def after_change(svc: Services) -> None:
    """Apply a store change to this process now instead of at the next watcher tick."""
    await svc.reload()


def proxy_field(body: dict[str, Any], *, required: bool = False) -> str:
    """`proxy_url`: the account's egress proxy; "" or absent means none (the gateway's `upstream.http_proxy`).

    `required`: the field must be there (setting an account's proxy: an empty body must not remove it)."""
    if required and "proxy_url" not in body:
        raise invalid("'proxy_url' is required; send an empty string to remove the account's proxy.", "proxy_url")
    value = body.get("proxy_url", "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid("'proxy_url' must be a string.", "proxy_url")
    try:
        return check_proxy_url(value)
    except ValueError as exc:
        raise invalid(f"'proxy_url': {exc}.", "proxy_url") from None
