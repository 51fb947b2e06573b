"""Google's error body shape (google.rpc.Status with ErrorInfo/RetryInfo details) and its status names."""

from __future__ import annotations

from typing import Any, Final

# HTTP status -> google.rpc.Code name, as the Gemini API and Cloud Code return them.
STATUS_NAMES: Final[dict[int, str]] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
    # Not a Google code; treated like an overloaded backend so gateways can test their 529 handling.
    529: "UNAVAILABLE",
}

_DEFAULT_MESSAGES: Final[dict[int, str]] = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
    "or other valid authentication credential.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: "Resource has been exhausted (e.g. check quota).",
    500: "Internal error encountered.",
    503: "The model is overloaded. Please try again later.",
    529: "The model is overloaded. Please try again later.",
}

ERROR_INFO_TYPE: Final = "type.googleapis.com/google.rpc.ErrorInfo"
RETRY_INFO_TYPE: Final = "type.googleapis.com/google.rpc.RetryInfo"


def status_name(status: int) -> str:
    return STATUS_NAMES.get(status, "UNKNOWN")


def default_message(status: int, reason: str | None, quota_reset_delay: str | None) -> str:
    if reason == "QUOTA_EXHAUSTED":
        after = f" Your quota will reset after {quota_reset_delay}." if quota_reset_delay else ""
        return f"You have exhausted your capacity on this model.{after}"
    if reason == "MODEL_CAPACITY_EXHAUSTED":
        return "No capacity available for model on the server"
    return _DEFAULT_MESSAGES.get(status, "Unknown error.")


def error_body(
    status: int,
    message: str | None = None,
    *,
    reason: str | None = None,
    retry_delay: str | None = None,
    quota_reset_delay: str | None = None,
    validation_url: str | None = None,
) -> dict[str, Any]:
    """Build `{"error": {...}}`; details appear only for the hints that were given."""
    if validation_url is not None and reason is None:
        reason = "VALIDATION_REQUIRED"
    error: dict[str, Any] = {
        "code": status,
        "message": message if message is not None else default_message(status, reason, quota_reset_delay),
        "status": status_name(status),
    }
    details: list[dict[str, Any]] = []
    if reason is not None or quota_reset_delay is not None:
        metadata: dict[str, str] = {}
        if quota_reset_delay is not None:
            metadata["quotaResetDelay"] = quota_reset_delay
        if validation_url is not None:
            metadata["validation_url"] = validation_url
        info: dict[str, Any] = {"@type": ERROR_INFO_TYPE, "reason": reason or "", "domain": "googleapis.com"}
        if metadata:
            info["metadata"] = metadata
        details.append(info)
    if retry_delay is not None:
        details.append({"@type": RETRY_INFO_TYPE, "retryDelay": retry_delay})
    if details:
        error["details"] = details
    return {"error": error}


class GoogleError(Exception):
    """A failure a handler reports before its response starts; the router renders it in Google's shape."""

    def __init__(self, status: int, message: str | None = None, *, reason: str | None = None) -> None:
        super().__init__(message or status_name(status))
        self.status = status
        self.message = message
        self.reason = reason

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, reason=self.reason)
