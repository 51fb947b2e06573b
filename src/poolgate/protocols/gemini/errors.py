"""Gemini's error shape for GatewayError, as a body and as a final in-stream chunk."""

from __future__ import annotations

from typing import Any

import orjson

from poolgate.errors import ErrorKind, GatewayError
from poolgate.protocols import sse

_STATUS: dict[ErrorKind, str] = {
    ErrorKind.INVALID_REQUEST: "INVALID_ARGUMENT",
    ErrorKind.UNAUTHENTICATED: "UNAUTHENTICATED",
    ErrorKind.FORBIDDEN: "PERMISSION_DENIED",
    ErrorKind.NOT_FOUND: "NOT_FOUND",
    ErrorKind.METHOD_NOT_ALLOWED: "UNIMPLEMENTED",
    ErrorKind.TOO_LARGE: "INVALID_ARGUMENT",
    ErrorKind.ALL_COOLING: "RESOURCE_EXHAUSTED",
    ErrorKind.UPSTREAM_RATE_LIMITED: "RESOURCE_EXHAUSTED",
    ErrorKind.INTERNAL: "INTERNAL",
    ErrorKind.UPSTREAM_ERROR: "INTERNAL",
    ErrorKind.NO_ACCOUNT: "UNAVAILABLE",
    ErrorKind.OVERLOADED: "UNAVAILABLE",
    ErrorKind.TIMEOUT: "DEADLINE_EXCEEDED",
}


def error_object(err: GatewayError) -> dict[str, Any]:
    return {"error": {"code": err.status, "message": err.message, "status": _STATUS.get(err.kind, "INTERNAL")}}


def render(err: GatewayError) -> tuple[int, bytes]:
    return err.status, orjson.dumps(error_object(err))


def stream_error(err: GatewayError) -> bytes:
    return sse.data(error_object(err))
