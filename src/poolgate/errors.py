"""GatewayError and ErrorKind: the one error type the gateway raises; it knows no wire protocol."""

from __future__ import annotations

import enum


class ErrorKind(enum.Enum):
    INVALID_REQUEST = 400
    UNAUTHENTICATED = 401
    FORBIDDEN = 403
    NOT_FOUND = 404
    METHOD_NOT_ALLOWED = 405
    TOO_LARGE = 413
    ALL_COOLING = 429
    UPSTREAM_RATE_LIMITED = 4290
    INTERNAL = 500
    UPSTREAM_ERROR = 502
    NO_ACCOUNT = 503
    OVERLOADED = 5290
    TIMEOUT = 504

    @property
    def status(self) -> int:
        value = self.value
        return value // 10 if value > 999 else value


class GatewayError(Exception):
    """An error with a kind (which decides status and wire type per protocol) and a user-facing message."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        param: str | None = None,
        retry_after: float | None = None,
        code: str | None = None,
        status: int | None = None,
        allow: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.param = param
        self.retry_after = retry_after
        self.code = code
        self._status = status
        # For a 405: the methods the resource does take, sent as the `Allow` header (RFC 9110 §15.5.6).
        self.allow = allow

    @property
    def status(self) -> int:
        return self._status if self._status is not None else self.kind.status

    def __repr__(self) -> str:
        return f"GatewayError({self.kind.name}, {self.message!r})"


def invalid(message: str, param: str | None = None) -> GatewayError:
    return GatewayError(ErrorKind.INVALID_REQUEST, message, param=param)
