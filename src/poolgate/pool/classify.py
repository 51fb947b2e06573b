"""classify(): an upstream failure becomes a scheduling decision, through a rule table config can extend."""

from __future__ import annotations

import email.utils
import enum
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from poolgate.upstream.base import UpstreamFailure


class Scope(enum.Enum):
    REQUEST = "request"  # nothing is cooled; only this request moves on
    ACCOUNT = "account"
    ACCOUNT_MODEL = "account_model"


# Where a cooldown length may come from, tried in the rule's order.
RETRY_INFO = "retry_info"
QUOTA_RESET = "quota_reset"
RETRY_AFTER = "retry_after"
MESSAGE = "message"


@dataclass(frozen=True, slots=True)
class Rule:
    kind: str
    scope: Scope
    statuses: frozenset[int] = frozenset()
    reasons: frozenset[str] = frozenset()
    text: re.Pattern[str] | None = None
    when: str = ""  # "network", "timeout", "empty", "oauth:<error>", "retry_info" or ""
    sources: tuple[str, ...] = ()
    ladder: tuple[float, ...] = ()
    cap: float = 300.0
    rotate: bool = True
    retry: bool = True
    client_error: bool = False
    account_state: str = ""  # a lasting state instead of a cooldown, e.g. needs_relogin
    backoff: tuple[float, ...] = ()

    def matches(self, f: UpstreamFailure, reasons: set[str], message: str) -> bool:
        if self.when == "network" and not f.network:
            return False
        if self.when == "timeout" and not f.timeout:
            return False
        if self.when == "empty" and not f.empty:
            return False
        if self.when.startswith("oauth:") and f.oauth_error != self.when[6:]:
            return False
        if self.when == "retry_info" and retry_info_delay(f.body) is None:
            return False
        if not self.when and (f.network or f.timeout or f.empty or f.oauth_error):
            return False
        if self.statuses and f.status not in self.statuses:
            return False
        reason_hit = bool(self.reasons & reasons)
        text_hit = bool(self.text and self.text.search(message))
        if (self.reasons or self.text) and not (reason_hit or text_hit):
            return False
        return True


@dataclass(frozen=True, slots=True)
class Decision:
    kind: str
    scope: Scope
    cooldown: float
    rotate: bool
    retry: bool
    client_error: bool
    account_state: str
    reason: str
    backoff: float = 0.0
    status: int = 0
    validation_url: str = ""


def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


S = frozenset

DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("invalid_grant", Scope.ACCOUNT, when="oauth:invalid_grant", account_state="needs_relogin"),
    Rule("token_refresh_failed", Scope.ACCOUNT, when="oauth:refresh_failed", ladder=(30, 60, 300), cap=600),
    Rule("empty_stream", Scope.REQUEST, when="empty", backoff=(0.2, 0.5)),
    Rule("timeout", Scope.ACCOUNT, when="timeout", ladder=(5, 15, 30), cap=60),
    Rule("network", Scope.ACCOUNT, when="network", ladder=(5, 15, 30), cap=60),
    Rule(
        "invalid_key",
        Scope.ACCOUNT,
        statuses=S({400, 401, 403}),
        reasons=S({"API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED"}),
        text=_re(r"api key (not valid|expired|invalid)"),
        account_state="invalid",
    ),
    Rule("unauthenticated", Scope.ACCOUNT, statuses=S({401}), ladder=(60, 300), cap=900),
    Rule(
        "validation_required",
        Scope.ACCOUNT,
        statuses=S({403}),
        reasons=S({"VALIDATION_REQUIRED"}),
        text=_re(r"validation_required|verify your account"),
        ladder=(600,),
        cap=3600,
    ),
    Rule("forbidden", Scope.ACCOUNT, statuses=S({403}), ladder=(600, 1800, 3600), cap=3600),
    Rule("model_not_found", Scope.ACCOUNT_MODEL, statuses=S({404}), ladder=(600,), cap=3600),
    Rule(
        "quota_exhausted",
        Scope.ACCOUNT_MODEL,
        statuses=S({429}),
        reasons=S({"QUOTA_EXHAUSTED"}),
        text=_re(r"per.?day|daily|quota_exhausted|quota reset|quotaResetDelay"),
        sources=(QUOTA_RESET, RETRY_INFO, RETRY_AFTER, MESSAGE),
        ladder=(60, 300, 1800, 3600),
        cap=24 * 3600,
    ),
    # Capacity and 5xx unavailability are about Google's servers, not the account: retry with backoff
    # (on another account when there is one) without cooling anything.
    Rule(
        "capacity",
        Scope.REQUEST,
        statuses=S({429, 503, 529}),
        reasons=S({"MODEL_CAPACITY_EXHAUSTED"}),
        text=_re(r"capacity"),
        sources=(RETRY_INFO, RETRY_AFTER, MESSAGE),
        ladder=(5, 10, 20),
        cap=60,
        backoff=(0.5, 1.0, 2.0),
    ),
    Rule(
        "rate_limit",
        Scope.ACCOUNT_MODEL,
        statuses=S({429}),
        reasons=S({"RATE_LIMIT_EXCEEDED"}),
        text=_re(r"per.?minute|rate.?limit|too many requests"),
        sources=(RETRY_INFO, RETRY_AFTER, MESSAGE),
        ladder=(10, 30, 60),
        cap=300,
    ),
    Rule(
        "rate_limit",
        Scope.ACCOUNT_MODEL,
        statuses=S({429}),
        when="retry_info",
        sources=(RETRY_INFO, RETRY_AFTER, MESSAGE),
        ladder=(10, 30, 60),
        cap=300,
    ),
    Rule(
        "request_429",
        Scope.ACCOUNT_MODEL,
        statuses=S({429}),
        sources=(RETRY_AFTER, MESSAGE),
        ladder=(2, 5, 10, 30),
        cap=60,
    ),
    Rule(
        "unavailable",
        Scope.REQUEST,
        statuses=S({502, 503, 504, 529}),
        sources=(RETRY_INFO, RETRY_AFTER),
        ladder=(2, 5, 10),
        cap=30,
        backoff=(0.5, 1.0, 2.0),
    ),
    Rule("server_error", Scope.REQUEST, statuses=S({500}), backoff=(0.5, 1.0, 2.0)),
    Rule("upstream_timeout", Scope.REQUEST, statuses=S({408}), backoff=(0.5, 1.0)),
    Rule(
        "client_error",
        Scope.REQUEST,
        statuses=S(range(400, 500)),
        rotate=False,
        retry=False,
        client_error=True,
    ),
    Rule("server_error", Scope.REQUEST, statuses=S(range(500, 600)), backoff=(0.5, 1.0, 2.0)),
)

FALLBACK = Rule("unknown", Scope.REQUEST, backoff=(0.5,))


def rule_from_dict(data: dict[str, Any]) -> Rule:
    """Build a rule from config (`scheduling.extra_rules`); these are checked before the defaults."""
    return Rule(
        kind=str(data.get("kind", "custom")),
        scope=Scope(data.get("scope", "account_model")),
        statuses=frozenset(int(s) for s in data.get("status", ())),
        reasons=frozenset(str(r) for r in data.get("reason", ())),
        text=_re(str(data["text"])) if data.get("text") else None,
        sources=tuple(data.get("sources", (RETRY_INFO, QUOTA_RESET, RETRY_AFTER, MESSAGE))),
        ladder=tuple(float(x) for x in data.get("cooldown", (30,))),
        cap=float(data.get("cap", 3600)),
        rotate=bool(data.get("rotate", True)),
        retry=bool(data.get("retry", True)),
        client_error=bool(data.get("client_error", False)),
        account_state=str(data.get("account_state", "")),
    )


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_duration(value: object) -> float | None:
    """Google duration strings ("1.5s", "2h1m1s", "510.79ms") or {seconds, nanos} objects, in seconds."""
    if isinstance(value, dict):
        seconds = float(value.get("seconds") or 0) + float(value.get("nanos") or 0) / 1e9
        return seconds if seconds > 0 else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    total = 0.0
    pos = 0
    for m in _DURATION.finditer(text):
        if text[pos : m.start()].strip():
            return None
        number, unit = float(m.group(1)), m.group(2)
        total += number * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[unit]
        pos = m.end()
    if pos == 0 or text[pos:].strip():
        return None
    return total


def _details(body: object) -> list[dict[str, Any]]:
    if not isinstance(body, dict):
        return []
    err = body.get("error")
    if not isinstance(err, dict):
        return []
    details = err.get("details")
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def retry_info_delay(body: object) -> float | None:
    for d in _details(body):
        if str(d.get("@type", "")).endswith("RetryInfo"):
            return parse_duration(d.get("retryDelay"))
    return None


def quota_reset_delay(body: object) -> float | None:
    for d in _details(body):
        meta = d.get("metadata")
        if isinstance(meta, dict) and meta.get("quotaResetDelay"):
            return parse_duration(meta["quotaResetDelay"])
    return None


def error_reasons(body: object) -> set[str]:
    reasons: set[str] = set()
    for d in _details(body):
        if d.get("reason"):
            reasons.add(str(d["reason"]))
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        status = body["error"].get("status")
        if isinstance(status, str):
            reasons.add(status)
    return reasons


def validation_url(body: object) -> str:
    for d in _details(body):
        meta = d.get("metadata")
        if isinstance(meta, dict):
            for key in ("validation_url", "validationUrl", "appeal_url"):
                if meta.get(key):
                    return str(meta[key])
    return ""


def retry_after_delay(header: str | None, now: float | None = None) -> float | None:
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


_MESSAGE_DELAYS = (
    re.compile(r"(?:retry|try again)\s+in\s+((?:\d+(?:\.\d+)?\s*(?:ms|h|m|s)\s*)+)", re.IGNORECASE),
    re.compile(r"reset(?:s)?\s+(?:after|in)\s+((?:\d+(?:\.\d+)?\s*(?:ms|h|m|s)\s*)+)", re.IGNORECASE),
    re.compile(r"retry\s+after\s+(\d+(?:\.\d+)?)\s*seconds?", re.IGNORECASE),
    re.compile(r"wait\s+(\d+(?:\.\d+)?)\s*s(?:econds?)?\b", re.IGNORECASE),
)


def message_delay(message: str) -> float | None:
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


def _delay_from(source: str, f: UpstreamFailure, message: str) -> float | None:
    if source == RETRY_INFO:
        return retry_info_delay(f.body)
    if source == QUOTA_RESET:
        return quota_reset_delay(f.body)
    if source == RETRY_AFTER:
        return retry_after_delay(f.retry_after_header)
    if source == MESSAGE:
        return message_delay(message)
    return None


class Classifier:
    def __init__(self, extra: Iterable[dict[str, Any]] = ()) -> None:
        self.rules: Sequence[Rule] = (*[rule_from_dict(d) for d in extra], *DEFAULT_RULES)

    def rule_for(self, f: UpstreamFailure) -> Rule:
        reasons = error_reasons(f.body)
        message = f.message if not (f.network or f.timeout) else f.text
        for rule in self.rules:
            if rule.matches(f, reasons, message):
                return rule
        return FALLBACK

    def classify(self, f: UpstreamFailure, previous_failures: int = 0) -> Decision:
        rule = self.rule_for(f)
        message = f.message if not (f.network or f.timeout) else f.text
        cooldown = 0.0
        if rule.scope is not Scope.REQUEST and not rule.account_state:
            explicit: float | None = None
            for source in rule.sources:
                explicit = _delay_from(source, f, message)
                if explicit is not None:
                    break
            if explicit is not None:
                cooldown = max(1.0, explicit)
            elif rule.ladder:
                cooldown = rule.ladder[min(previous_failures, len(rule.ladder) - 1)]
            cooldown = min(cooldown, rule.cap)
        backoff = rule.backoff[min(previous_failures, len(rule.backoff) - 1)] if rule.backoff else 0.0
        return Decision(
            kind=rule.kind,
            scope=rule.scope,
            cooldown=cooldown,
            rotate=rule.rotate,
            retry=rule.retry,
            client_error=rule.client_error,
            account_state=rule.account_state,
            reason=str(f)[:500],
            backoff=backoff,
            status=f.status,
            validation_url=validation_url(f.body),
        )
