"""Anthropic's error shape for GatewayError, as a body and as an in-stream `error` event."""

from __future__ import annotations

from typing import Any

import orjson

from poolgate.errors import ErrorKind, GatewayError
from poolgate.protocols import sse

_TYPES: dict[ErrorKind, str] = {
    ErrorKind.INVALID_REQUEST: "invalid_request_error",
    ErrorKind.UNAUTHENTICATED: "authentication_error",
    ErrorKind.FORBIDDEN: "permission_error",
    ErrorKind.NOT_FOUND: "not_found_error",
    ErrorKind.METHOD_NOT_ALLOWED: "invalid_request_error",
    ErrorKind.TOO_LARGE: "request_too_large",
    ErrorKind.ALL_COOLING: "rate_limit_error",
    ErrorKind.UPSTREAM_RATE_LIMITED: "rate_limit_error",
    ErrorKind.INTERNAL: "api_error",
    ErrorKind.UPSTREAM_ERROR: "api_error",
    ErrorKind.NO_ACCOUNT: "overloaded_error",
    ErrorKind.OVERLOADED: "overloaded_error",
    ErrorKind.TIMEOUT: "api_error",
}


def error_object(err: GatewayError) -> dict[str, Any]:
    return {"type": "error", "error": {"type": _TYPES.get(err.kind, "api_error"), "message": err.message}}


def render(err: GatewayError) -> tuple[int, bytes]:
    status = err.status
    if err.kind is ErrorKind.NO_ACCOUNT:
        status = 529 if status == 529 else 503
    return status, orjson.dumps(error_object(err))


def stream_error(err: GatewayError) -> bytes:
    return sse.event("error", error_object(err))
