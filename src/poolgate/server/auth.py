"""Client and admin authentication: key extraction order, auth modes, constant-time comparison."""

from __future__ import annotations

import hmac
import math
import time
from collections.abc import Callable

from poolgate.errors import ErrorKind, GatewayError
from poolgate.pool.state import SharedState

HEALTH_PATHS = frozenset({"/healthz", "/health", "/readyz"})


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


# An admin password is chosen by a person, so unlike the generated client key it can be guessed.
ADMIN_FAILURE_LIMIT = 10
ADMIN_FAILURE_WINDOW = 300.0


class AdminLockout:
    """Wrong admin passwords per client address: after `limit` within `window` seconds, that address is
    refused (429 with Retry-After) until the oldest of them leaves the window, even with the right one.

    Only a wrong password counts: a page that calls the API before anyone signed in sends none. The
    failures live in the SharedState, so instances on one Redis count them together.
    """

    def __init__(
        self,
        state: SharedState,
        limit: int = ADMIN_FAILURE_LIMIT,
        window: float = ADMIN_FAILURE_WINDOW,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.limit = limit
        self.window = window
        self.clock = clock  # wall time: instances on several machines compare their stamps

    async def check(self, address: str) -> None:
        now = self.clock()
        failures = await self.state.sign_in_failures(address, now, self.window)
        if len(failures) >= self.limit:
            wait = failures[-self.limit] + self.window - now
            raise GatewayError(
                ErrorKind.ALL_COOLING,
                f"Too many wrong admin passwords from {address or 'this address'}; try again in {math.ceil(wait)} s.",
                retry_after=wait,
                code="too_many_failed_sign_ins",
            )

    async def failed(self, address: str) -> None:
        await self.state.add_sign_in_failure(address, self.clock(), self.window, self.limit)

    async def succeeded(self, address: str) -> None:
        await self.state.clear_sign_in_failures(address)
