"""Records kept in the Store: accounts and cooldowns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

API_KEY = "api_key"
OAUTH = "oauth"

ACTIVE = "active"
DISABLED = "disabled"
NEEDS_RELOGIN = "needs_relogin"
FORBIDDEN = "forbidden"
INVALID = "invalid"


@dataclass(slots=True)
class Account:
    id: str
    kind: str
    label: str
    secret: str
    email: str = ""
    enabled: bool = True
    state: str = ACTIVE
    state_reason: str = ""
    base_url: str = ""
    project_id: str = ""
    tier: str = ""
    priority: int = 0
    access_token: str = ""
    access_expires_at: float = 0.0
    quota: dict[str, dict[str, Any]] = field(default_factory=dict)
    created_at: float = 0.0
    last_used_at: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)
    # Egress proxy for this account's upstream traffic (token refresh included); "" = upstream.http_proxy.
    proxy_url: str = ""

    @property
    def display_name(self) -> str:
        return self.email or self.label or self.id

    @property
    def usable(self) -> bool:
        return self.enabled and self.state == ACTIVE

    def remaining_fraction(self, model: str) -> float | None:
        info = self.quota.get(model)
        if not info:
            return None
        value = info.get("remaining_fraction")
        return float(value) if isinstance(value, (int, float)) else None


@dataclass(frozen=True, slots=True)
class Cooldown:
    account_id: str
    model: str  # "" means the whole account
    until: float
    reason: str
    kind: str
    since: float = 0.0  # when it was set, in this process; 0 for one restored from the store

    @property
    def key(self) -> str:
        return f"{self.account_id}:{self.model}" if self.model else self.account_id
