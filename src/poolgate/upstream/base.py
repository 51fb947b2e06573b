"""Transport protocol, the upstream call it carries, and UpstreamFailure for everything that goes wrong."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from poolgate.hub.types import JSON
from poolgate.store.models import Account


@dataclass(slots=True)
class UpstreamCall:
    model: str
    body: JSON
    stream: bool
    request_id: str = ""
    session_key: str = ""
    deadline: float = 0.0  # wall-clock time after which nothing more is attempted


@dataclass(slots=True)
class UpstreamFailure(Exception):
    """An upstream answer or transport problem, with what the classifier needs to decide."""

    status: int = 0
    body: JSON | None = None
    text: str = ""
    retry_after_header: str | None = None
    network: bool = False
    timeout: bool = False
    empty: bool = False
    oauth_error: str = ""  # e.g. "invalid_grant" from a token refresh
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        if self.network:
            return f"network error: {self.text}"
        if self.timeout:
            return "upstream timed out"
        if self.empty:
            return "upstream returned an empty answer"
        if self.oauth_error:
            return f"token refresh failed: {self.oauth_error}"
        return f"upstream {self.status}: {self.message}"

    @property
    def message(self) -> str:
        if isinstance(self.body, dict):
            err = self.body.get("error")
            if isinstance(err, dict) and err.get("message"):
                return str(err["message"])
        return self.text[:500]


class Transport(Protocol):
    """Sends one generateContent call for one account."""

    async def generate(self, account: Account, call: UpstreamCall) -> JSON: ...

    def stream(self, account: Account, call: UpstreamCall) -> AsyncGenerator[JSON, None]: ...

    async def count_tokens(self, account: Account, model: str, body: JSON) -> JSON: ...

    async def list_models(self, account: Account) -> list[JSON]: ...


@runtime_checkable
class Embedder(Protocol):
    """A transport that can embed: Gemini API keys (`batchEmbedContents`); Cloud Code has no embeddings."""

    async def embed(self, account: Account, model: str, body: JSON) -> JSON: ...


@runtime_checkable
class Refreshable(Protocol):
    """A transport whose credentials can be renewed: the gateway calls this once on a 401, then retries.

    It raises UpstreamFailure(oauth_error="invalid_grant") when the grant is revoked (needs re-login).
    """

    async def force_refresh(self, account: Account) -> None: ...
