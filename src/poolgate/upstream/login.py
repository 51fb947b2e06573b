"""Logins in progress: each started authorization keeps its PKCE verifier and redirect URI until completed."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from poolgate.upstream.oauth import OAuthClient, OAuthSetupError, Pkce, parse_redirect

PENDING_TTL = 900.0  # Google's codes live ten minutes; a started login is kept a little longer
MAX_PENDING = 100


@dataclass(frozen=True, slots=True)
class PendingLogin:
    state: str
    pkce: Pkce
    redirect_uri: str
    url: str
    created_at: float
    proxy_url: str = ""  # the new account's own egress proxy: the code is exchanged through it


class LoginBook:
    def __init__(self, client: OAuthClient, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.clock = clock
        self._pending: dict[str, PendingLogin] = {}

    def start(self, redirect_uri: str, proxy_url: str = "") -> PendingLogin:
        self._expire()
        state = secrets.token_urlsafe(24)
        pkce = Pkce.new()
        url = self.client.authorize_url(redirect_uri, state, pkce)
        login = PendingLogin(state, pkce, redirect_uri, url, self.clock(), proxy_url)
        self._pending[state] = login
        return login

    def take(self, pasted: str, state: str = "") -> tuple[str, PendingLogin]:
        """Match a pasted code or redirect URL (or a callback's code and state) to its login; single use."""
        code, found_state = parse_redirect(pasted)
        if state and found_state and state != found_state:
            raise OAuthSetupError("The state in the redirect does not match this login; start again.")
        state = found_state or state
        self._expire()
        if not state and len(self._pending) == 1:
            state = next(iter(self._pending))  # a bare code, and only one login could have produced it
        login = self._pending.pop(state, None) if state else None
        if login is None:
            raise OAuthSetupError("No login in progress matches this code (expired or already used); start again.")
        if not code:
            raise OAuthSetupError("Paste the whole redirect URL, or the value of its code= parameter.")
        return code, login

    def _expire(self) -> None:
        cutoff = self.clock() - PENDING_TTL
        for state in [s for s, p in self._pending.items() if p.created_at < cutoff]:
            del self._pending[state]
        while len(self._pending) >= MAX_PENDING:
            del self._pending[next(iter(self._pending))]
