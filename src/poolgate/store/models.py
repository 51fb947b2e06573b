"""Records kept in the Store: accounts and cooldowns."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

API_KEY = "api_key"
OAUTH = "oauth"

ACTIVE = "active"
DISABLED = "disabled"
NEEDS_RELOGIN = "needs_relogin"
FORBIDDEN = "forbidden"
INVALID = "invalid"


# An API key travels in a request header, so it must be visible ASCII: anything else would make every
# call of the account fail inside the HTTP client, after the account was accepted.
_API_KEY = re.compile(r"[\x21-\x7e]{8,512}")
MAX_LABEL = 200


def check_api_key(key: str) -> str:
    """The key without surrounding blanks; ValueError if it cannot be an API key."""
    key = key.strip()
    if not _API_KEY.fullmatch(key):
        raise ValueError("does not look like a Gemini API key (8 to 512 visible ASCII characters, no spaces)")
    return key


def check_label(label: str) -> str:
    """The label without surrounding blanks; ValueError for control characters or an overlong one.

    Labels are shown in the `X-Account-Email` header and in terminals, where control characters break the
    answer or the display."""
    label = label.strip()
    if not label.isprintable():
        raise ValueError("must not contain control characters")
    if len(label) > MAX_LABEL:
        raise ValueError(f"must be at most {MAX_LABEL} characters")
    return label


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
