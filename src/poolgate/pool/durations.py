"""Delay hints in Google error bodies, Retry-After headers and message text, parsed to seconds."""

from __future__ import annotations

import email.utils
import re
import time
from typing import Any

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: object) -> float | None:
    """Google duration strings ("1.5s", "2h1m1s", "510.79ms") or {seconds, nanos} objects, in seconds."""
    if isinstance(value, dict):
        try:
            seconds = float(value.get("seconds") or 0) + float(value.get("nanos") or 0) / 1e9
        except (TypeError, ValueError):
            return None
        return seconds if seconds > 0 else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if value >= 0 else None
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    total = 0.0
    pos = 0
    for m in _DURATION.finditer(text):
        if text[pos : m.start()].strip():
            return None
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos == 0 or text[pos:].strip():
        return None
    return total


def details(body: object) -> list[dict[str, Any]]:
    """The `error.details` entries of a google.rpc.Status body (Gemini API and Cloud Code)."""
    if not isinstance(body, dict):
        return []
    err = body.get("error")
    if not isinstance(err, dict):
        return []
    found = err.get("details")
    return [d for d in found if isinstance(d, dict)] if isinstance(found, list) else []


def retry_info_delay(body: object) -> float | None:
    for d in details(body):
        if str(d.get("@type", "")).endswith("RetryInfo"):
            return parse_duration(d.get("retryDelay"))
    return None


def quota_reset_delay(body: object) -> float | None:
    for d in details(body):
        meta = d.get("metadata")
        if isinstance(meta, dict) and meta.get("quotaResetDelay"):
            return parse_duration(meta["quotaResetDelay"])
    return None


def retry_after_delay(header: str | None, now: float | None = None) -> float | None:
    """Retry-After as delta-seconds or an HTTP date."""
    if not header:
        return None
    header = header.strip()
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


_SPAN = r"((?:\d+(?:\.\d+)?\s*(?:ms|h|m|s)\s*)+)"
_MESSAGE_DELAYS = (
    re.compile(r"(?:retry|try again)\s+in\s+" + _SPAN, re.IGNORECASE),
    re.compile(r"reset(?:s)?\s+(?:after|in)\s+" + _SPAN, re.IGNORECASE),
    re.compile(r"retry\s+after\s+(\d+(?:\.\d+)?)\s*seconds?", re.IGNORECASE),
    re.compile(r"wait\s+(\d+(?:\.\d+)?)\s*s(?:econds?)?\b", re.IGNORECASE),
)


def message_delay(message: str) -> float | None:
    """Delays written into error text: "Please retry in 52.8s", "Your quota will reset after 2h1m"."""
    for pattern in _MESSAGE_DELAYS:
        m = pattern.search(message)
        if not m:
            continue
        raw = m.group(1).replace(" ", "")
        if raw.replace(".", "", 1).isdigit():
            return float(raw)
        parsed = parse_duration(raw)
        if parsed is not None:
            return parsed
    return None
