"""Client and admin authentication: key extraction order, auth modes, constant-time comparison."""

from __future__ import annotations

import hmac

from poolgate.errors import ErrorKind, GatewayError

HEALTH_PATHS = frozenset({"/healthz", "/health"})


def extract_key(headers: dict[str, str], query: dict[str, str] | None = None) -> str:
    """Authorization: Bearer, then x-api-key, then x-goog-api-key, then ?key= (Gemini routes only)."""
    auth = headers.get("authorization", "")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value:
            return value.strip()
        if not value:
            return auth.strip()
    for name in ("x-api-key", "x-goog-api-key"):
        value = headers.get(name, "")
        if value:
            return value.strip()
    if query is not None:
        return query.get("key", "")
    return ""


def keys_match(given: str, expected: str) -> bool:
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def needs_client_auth(mode: str, path: str) -> bool:
    if mode == "off":
        return False
    if mode == "all_except_health" and path in HEALTH_PATHS:
        return False
    return True


def check_client(mode: str, path: str, key: str, expected: str) -> None:
    if not needs_client_auth(mode, path):
        return
    if not key:
        raise GatewayError(
            ErrorKind.UNAUTHENTICATED,
            "Missing API key. Send it as 'Authorization: Bearer <key>', 'x-api-key' or 'x-goog-api-key'.",
        )
    if not keys_match(key, expected):
        raise GatewayError(ErrorKind.UNAUTHENTICATED, "Invalid API key.")


def check_admin(key: str, admin_secret: str) -> None:
    if not keys_match(key, admin_secret):
        raise GatewayError(ErrorKind.UNAUTHENTICATED, "Admin password required.")
