"""GoogleWorld: the simulated Google users, OAuth codes and tokens, and Cloud Code's scripted faults."""

from __future__ import annotations

import base64
import hashlib
import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

DEFAULT_TOKEN_TTL: Final = 3600
FREE_TIER: Final = "free-tier"
TIER_NAMES: Final[dict[str, str]] = {
    "free-tier": "Gemini Code Assist for individuals",
    "standard-tier": "Gemini Code Assist Standard",
    "legacy-tier": "Gemini Code Assist (legacy)",
}


@dataclass(slots=True)
class SimUser:
    """One Google account as Cloud Code sees it."""

    email: str
    project: str = ""  # empty: loadCodeAssist reports none and the user must be onboarded
    tier: str = FREE_TIER
    onboard_project: str = ""  # the project onboarding creates
    onboard_polls: int = 1  # how many operation polls report "not done" before the project exists
    quota: dict[str, dict[str, Any]] = field(default_factory=dict)  # model -> {remainingFraction, resetTime}


@dataclass(frozen=True, slots=True)
class AuthCode:
    email: str
    client_id: str
    redirect_uri: str
    challenge: str
    method: str


@dataclass(slots=True)
class Operation:
    name: str
    email: str
    polls_left: int


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class GoogleWorld:
    """Mutable; owned by SimulatorState so `/_sim/reset` clears it with everything else."""

    clock: Callable[[], float] = time.time
    users: dict[str, SimUser] = field(default_factory=dict)
    codes: dict[str, AuthCode] = field(default_factory=dict)
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # token -> email
    access_tokens: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (email, expires_at)
    operations: dict[str, Operation] = field(default_factory=dict)
    next_logins: list[str] = field(default_factory=list)
    base_status: dict[str, int] = field(default_factory=dict)  # Cloud Code base prefix -> forced status
    token_ttl: int = DEFAULT_TOKEN_TTL
    rotate_refresh_tokens: bool = False
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1), repr=False)

    def reset(self) -> None:
        self.users.clear()
        self.codes.clear()
        self.refresh_tokens.clear()
        self.access_tokens.clear()
        self.operations.clear()
        self.next_logins.clear()
        self.base_status.clear()
        self.token_ttl = DEFAULT_TOKEN_TTL
        self.rotate_refresh_tokens = False

    def serial(self) -> int:
        return next(self._ids)

    def user(self, email: str) -> SimUser:
        found = self.users.get(email)
        if found is None:
            n = self.serial()
            found = SimUser(email=email, project=f"sim-project-{n}", onboard_project=f"sim-onboarded-{n}")
            self.users[email] = found
        return found

    def next_login_email(self) -> str:
        if self.next_logins:
            return self.next_logins.pop(0)
        return f"user{self.serial()}@example.com"

    def new_code(self, code: AuthCode) -> str:
        value = "4/sim-" + secrets.token_urlsafe(16)
        self.codes[value] = code
        return value

    def mint_refresh_token(self, email: str) -> str:
        self.user(email)
        token = "1//sim-" + secrets.token_urlsafe(24)
        self.refresh_tokens[token] = email
        return token

    def mint_access_token(self, email: str) -> tuple[str, int]:
        token = "ya29.sim-" + secrets.token_urlsafe(24)
        self.access_tokens[token] = (email, self.clock() + self.token_ttl)
        return token, self.token_ttl

    def email_for_access(self, token: str) -> str | None:
        entry = self.access_tokens.get(token)
        if entry is None or entry[1] <= self.clock():
            return None
        return entry[0]

    def expire_access(self, email: str) -> int:
        """Invalidate the user's access tokens (their next call gets a 401); refresh tokens keep working."""
        doomed = [t for t, (e, _) in self.access_tokens.items() if e == email]
        for token in doomed:
            del self.access_tokens[token]
        return len(doomed)

    def revoke(self, email: str) -> int:
        """Revoke everything: refreshing now gives invalid_grant."""
        doomed = [t for t, e in self.refresh_tokens.items() if e == email]
        for token in doomed:
            del self.refresh_tokens[token]
        return len(doomed) + self.expire_access(email)
