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


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


def bool_query(req: Request, name: str) -> bool:
    raw = req.query.get(name, "").lower()
    if raw in _TRUE:
        return True
    if raw not in _FALSE:
        raise invalid(f"Query parameter '{name}' must be true or false.", name)
    return False
