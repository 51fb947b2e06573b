"""Query parameters read the same way on every route: a bad one is a 400 naming it, in the route's protocol."""

from __future__ import annotations

from poolgate.errors import invalid
from poolgate.server.asgi import Request


def int_query(req: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = req.query.get(name, "")
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(f"Query parameter '{name}' must be an integer.", name) from None
    if not lo <= value <= hi:
        raise invalid(f"Query parameter '{name}' must be between {lo} and {hi}.", name)
    return value


def bool_query(req: Request, name: str) -> bool:
    return req.query.get(name, "").lower() in {"1", "true", "yes", "on"}
