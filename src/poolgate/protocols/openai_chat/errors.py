"""OpenAI's error shape for GatewayError, as a body and as an in-stream item."""

from __future__ import annotations

from typing import Any

import orjson

from poolgate.errors import ErrorKind, GatewayError
from poolgate.protocols import sse

_TYPES: dict[ErrorKind, tuple[str, str | None]] = {
    ErrorKind.INVALID_REQUEST: ("invalid_request_error", None),
    ErrorKind.UNAUTHENTICATED: ("invalid_request_error", "invalid_api_key"),
    ErrorKind.FORBIDDEN: ("permission_error", None),
    ErrorKind.NOT_FOUND: ("invalid_request_error", "not_found"),
    ErrorKind.METHOD_NOT_ALLOWED: ("invalid_request_error", "method_not_allowed"),
    ErrorKind.TOO_LARGE: ("invalid_request_error", "request_too_large"),
    ErrorKind.ALL_COOLING: ("rate_limit_error", "rate_limit_exceeded"),
    ErrorKind.UPSTREAM_RATE_LIMITED: ("rate_limit_error", "rate_limit_exceeded"),
    ErrorKind.INTERNAL: ("server_error", None),
    ErrorKind.UPSTREAM_ERROR: ("server_error", "upstream_error"),
    ErrorKind.NO_ACCOUNT: ("server_error", "no_account_available"),
    ErrorKind.OVERLOADED: ("server_error", "overloaded"),
    ErrorKind.TIMEOUT: ("server_error", "timeout"),
}


def error_object(err: GatewayError) -> dict[str, Any]:
    etype, code = _TYPES.get(err.kind, ("server_error", None))
    return {"message": err.message, "type": etype, "param": err.param, "code": err.code or code}


def render(err: GatewayError) -> tuple[int, bytes]:
    return err.status, orjson.dumps({"error": error_object(err)})


def stream_error(err: GatewayError) -> bytes:
    return sse.data({"error": error_object(err)}) + sse.DONE
