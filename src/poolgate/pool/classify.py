"""classify(): an upstream failure becomes a scheduling decision, through a rule table config can extend.

Each rule is data: which failures it matches (status, Google `reason`s, quota ids, message text, or a
transport condition), the scope it cools (nothing, the account, or the account for one model), where
the cooldown length comes from, a default ladder and a cap, and whether the request moves to another
account. The first matching rule wins; `scheduling.extra_rules` from config are checked first.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from poolgate.pool.durations import (
    details,
    message_delay,
    parse_duration,
    quota_reset_delay,
    retry_after_delay,
    retry_info_delay,
)
from poolgate.upstream.base import UpstreamFailure

__all__ = [  # the delay parsers live in durations.py; re-exported for existing callers
    "Classifier",
    "Decision",
    "Rule",
    "Scope",
    "message_delay",
    "parse_duration",
    "retry_after_delay",
]


class Scope(enum.Enum):
    REQUEST = "request"  # nothing is cooled; only this request moves on (or waits and retries)
    ACCOUNT = "account"
    ACCOUNT_MODEL = "account_model"


# Where a cooldown (or, at request scope, a wait) may take its length from, tried in the rule's order.
RETRY_INFO = "retry_info"  # google.rpc.RetryInfo.retryDelay
QUOTA_RESET = "quota_reset"  # ErrorInfo.metadata.quotaResetDelay
RETRY_AFTER = "retry_after"  # the Retry-After header
MESSAGE = "message"  # "Please retry in 52s", "Your quota will reset after 2h1m"
SOURCES = (RETRY_INFO, QUOTA_RESET, RETRY_AFTER, MESSAGE)

# What an account blocked by a rule's cooldown counts as when a request finds no free account.
COOLING = "cooling"  # comes back soon: the client gets 429 + Retry-After
PARKED = "parked"  # needs attention or a long wait: the client gets 503
MISSING = "missing"  # the model is not there: the client gets 404

# A 429 with an explicit delay this short throttles one request, not the account (Google's "retry in 0.5s").
PER_REQUEST_DELAY = 2.0


@dataclass(frozen=True, slots=True)
class Rule:
    kind: str
    scope: Scope
    statuses: frozenset[int] = frozenset()
    reasons: frozenset[str] = frozenset()
    text: re.Pattern[str] | None = None
    when: str = ""  # "network", "timeout", "empty", "oauth:<error>" or "" (an HTTP answer)
    sources: tuple[str, ...] = ()
    ladder: tuple[float, ...] = ()
    cap: float = 300.0
    rotate: bool = True
    retry: bool = True
    client_error: bool = False
    account_state: str = ""  # a lasting state instead of a cooldown, e.g. needs_relogin
    backoff: tuple[float, ...] = ()  # wait before retrying the same account (request scope)
    delay_at_most: float | None = None  # match only when an explicit delay exists and is this short
    ladder_floor: bool = False  # the cooldown is at least the ladder step, even with an explicit delay
    blocks_as: str = COOLING
    refresh: bool = False  # an OAuth transport may refresh the token once and retry
    # The account cools, yet the attempt also counts against max_attempts: the failure is more likely
    # about the way to Google (DNS, a proxy, the link) than about the account, so walking the whole pool
    # on it would only make a request try every account, each for up to the attempt timeout, in an outage.
    bounded: bool = False
    cool_after: int = 0  # a request-scope rule that keeps hitting the same account × model cools it after this many

    def matches(self, f: UpstreamFailure, reasons: set[str], haystack: str) -> bool:
        if self.when == "network" and not f.network:
            return False
        if self.when == "timeout" and not f.timeout:
            return False
        if self.when == "empty" and not f.empty:
            return False
        if self.when.startswith("oauth:") and f.oauth_error != self.when[6:]:
            return False
        if not self.when and (f.network or f.timeout or f.empty or f.oauth_error):
            return False
        if self.statuses and f.status not in self.statuses:
            return False
        reason_hit = bool(self.reasons & reasons)
        text_hit = bool(self.text and self.text.search(haystack))
        if (self.reasons or self.text) and not (reason_hit or text_hit):
            return False
        if self.delay_at_most is not None:
            explicit = explicit_delay(self.sources, f, haystack)
            if explicit is None or explicit > self.delay_at_most:
                return False
        return True


@dataclass(frozen=True, slots=True)
class Decision:
    kind: str
    scope: Scope
    cooldown: float  # seconds the scope is blocked (0 at request scope)
    rotate: bool
    retry: bool
    client_error: bool
    account_state: str
    reason: str
    backoff: float = 0.0  # seconds to wait before the same account may be tried again by this request
    status: int = 0
    validation_url: str = ""
    blocks_as: str = COOLING
    source: str = "ladder"  # where the length came from: one of SOURCES, "ladder" or "none"
    refresh: bool = False
    bounded: bool = False  # see Rule.bounded


def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


S = frozenset
_RATE_SOURCES = (RETRY_INFO, RETRY_AFTER, MESSAGE)

DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("invalid_grant", Scope.ACCOUNT, when="oauth:invalid_grant", account_state="needs_relogin", blocks_as=PARKED),
    Rule(
        "invalid_grant",
        Scope.ACCOUNT,
        statuses=S({400, 401}),
        text=_re(r"invalid_grant"),
        account_state="needs_relogin",
        blocks_as=PARKED,
    ),
    Rule(
        "token_refresh_failed",
        Scope.ACCOUNT,
        when="oauth:refresh_failed",
        ladder=(30, 60, 300),
        cap=600,
        blocks_as=PARKED,
        bounded=True,
    ),
    Rule("empty_stream", Scope.REQUEST, when="empty", backoff=(0.2, 0.5)),
    Rule("timeout", Scope.ACCOUNT_MODEL, when="timeout", ladder=(5, 15, 30), cap=60, bounded=True),
    Rule("network", Scope.ACCOUNT, when="network", ladder=(2, 5, 15), cap=30, bounded=True),
    Rule(
        "invalid_key",
        Scope.ACCOUNT,
        statuses=S({400, 401, 403}),
        reasons=S({"API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED"}),
        text=_re(r"api key (not valid|expired|invalid)"),
        account_state="invalid",
        blocks_as=PARKED,
    ),
    Rule(
        "unauthenticated",
        Scope.ACCOUNT,
        statuses=S({401}),
        ladder=(60, 300, 900),
        cap=900,
        blocks_as=PARKED,
        refresh=True,
    ),
    Rule(
        "validation_required",
        Scope.ACCOUNT,
        statuses=S({403}),
        reasons=S({"VALIDATION_REQUIRED"}),
        text=_re(r"validation_required|verify your account|validation_url"),
        ladder=(600,),
        cap=3600,
        blocks_as=PARKED,
    ),
    # A request naming an uploaded file or a context cache that belongs to another Google account gets a
    # 403 like a forbidden account's. It says nothing about the account that answered: park that, and the
    # same request parks the next ones too. Returned to the client, untried elsewhere. A 404 naming such a
    # resource is the same case: left to `model_not_found`, it would mark the model missing on the account.
    Rule(
        "foreign_resource",
        Scope.REQUEST,
        statuses=S({403, 404}),
        text=_re(
            r"permission to access the file|cached ?content not found"
            r"|(cachedcontents?|files|corpora)/\S+ (is )?(not found|permission|does not exist)"
        ),
        rotate=False,
        retry=False,
        client_error=True,
    ),
    Rule("forbidden", Scope.ACCOUNT, statuses=S({403}), ladder=(600, 1800, 3600), cap=3600, blocks_as=PARKED),
    Rule(
        "unsupported_location",
        Scope.ACCOUNT,
        statuses=S({400}),
        reasons=S({"FAILED_PRECONDITION"}),
        text=_re(r"location is not supported"),
        ladder=(3600,),
        cap=3600,
        blocks_as=PARKED,
    ),
    Rule("model_not_found", Scope.ACCOUNT_MODEL, statuses=S({404}), ladder=(600,), cap=3600, blocks_as=MISSING),
    Rule(
        "quota_exhausted",
        Scope.ACCOUNT_MODEL,
        statuses=S({429}),
        reasons=S({"QUOTA_EXHAUSTED", "quotaResetDelay"}),
        text=_re(r"per.?day|daily|quota_exhausted|quota will reset|exhausted your capacity"),
        sources=(QUOTA_RESET, RETRY_INFO, RETRY_AFTER, MESSAGE),
        ladder=(60, 300, 1800, 3600),
        ladder_floor=True,
        cap=24 * 3600,
    ),
    # Capacity is about Google's servers, not the account: retry with a short backoff (on another account
    # when there is one) without cooling anything, so a one-account pool still gets its retry.
    Rule(
        "capacity",
        Scope.REQUEST,
        reasons=S({"MODEL_CAPACITY_EXHAUSTED"}),
        text=_re(r"no capacity available"),
        sources=_RATE_SOURCES,
        backoff=(0.5, 1.0, 2.0),
        cap=5.0,
    ),
    Rule(
        "capacity",
        Scope.REQUEST,
        statuses=S({503, 529}),
        sources=_RATE_SOURCES,
        backoff=(0.5, 1.0, 2.0),
        cap=5.0,
    ),
    Rule(
        "request_throttled",
        Scope.REQUEST,
        statuses=S({429}),
        sources=_RATE_SOURCES,
        delay_at_most=PER_REQUEST_DELAY,
        backoff=(0.5, 1.0, 2.0),
        cap=PER_REQUEST_DELAY,
        # Throttled again and again (no success between): stop probing it for a while.
        cool_after=3,
        ladder=(5, 10, 30),
    ),
    Rule(
        "rate_limit",
        Scope.ACCOUNT_MODEL,
        statuses=S({429}),
        sources=_RATE_SOURCES,
        ladder=(30, 60, 120),
        cap=300,
    ),
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


def rule_from_dict(data: dict[str, Any], default_cooldown: float = 30.0) -> Rule:
    """Build a rule from config (`scheduling.extra_rules`); these are checked before the defaults."""
    sources = tuple(str(s) for s in data.get("sources", SOURCES))
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        raise ValueError(f"scheduling.extra_rules: unknown source(s) {', '.join(unknown)}")
    blocks_as = str(data.get("blocks_as", COOLING))
    if blocks_as not in (COOLING, PARKED, MISSING):
        raise ValueError(f"scheduling.extra_rules: blocks_as must be {COOLING}, {PARKED} or {MISSING}")
    delay_at_most = data.get("delay_at_most")
    return Rule(
        kind=str(data.get("kind", "custom")),
        scope=Scope(data.get("scope", "account_model")),
        statuses=frozenset(int(s) for s in data.get("status", ())),
        reasons=frozenset(str(r) for r in data.get("reason", ())),
        text=_re(str(data["text"])) if data.get("text") else None,
        sources=sources,
        ladder=tuple(float(x) for x in data.get("cooldown", (default_cooldown,))),
        cap=float(data.get("cap", 3600)),
        rotate=bool(data.get("rotate", True)),
        retry=bool(data.get("retry", True)),
        client_error=bool(data.get("client_error", False)),
        account_state=str(data.get("account_state", "")),
        backoff=tuple(float(x) for x in data.get("backoff", ())),
        delay_at_most=float(delay_at_most) if delay_at_most is not None else None,
        blocks_as=blocks_as,
        bounded=bool(data.get("bounded", False)),
    )


def quota_ids(body: object) -> list[str]:
    """`QuotaFailure.violations[].quotaId`, e.g. GenerateRequestsPerDayPerProjectPerModel-FreeTier."""
    ids: list[str] = []
    for d in details(body):
        violations = d.get("violations")
        if isinstance(violations, list):
            ids.extend(str(v["quotaId"]) for v in violations if isinstance(v, dict) and v.get("quotaId"))
    return ids


# A 429 for a request larger than the account's per-minute input-token limit: no minute will ever let it
# through on that account, so it cools nothing there (it would otherwise cool, one after another, every
# account it is tried on: a pool-wide outage caused by one request) and moves on to an account with a
# larger limit, if the pool has one.
OVER_INPUT_LIMIT = "over_input_limit"


def input_tokens_per_minute_limit(body: object) -> int | None:
    """The smallest per-minute input-token limit a QuotaFailure names (`quotaValue`), if it names one."""
    limits: list[int] = []
    for d in details(body):
        violations = d.get("violations")
        if not isinstance(violations, list):
            continue
        for v in violations:
            if not isinstance(v, dict):
                continue
            quota = str(v.get("quotaId") or "")
            if "InputTokens" in quota and "PerMinute" in quota:
                value = str(v.get("quotaValue") or "")
                if value.isdigit() and int(value) > 0:
                    limits.append(int(value))
    return min(limits) if limits else None


def error_reasons(body: object) -> set[str]:
    """ErrorInfo reasons, the google.rpc status name, and `quotaResetDelay` when the body carries one."""
    reasons: set[str] = set()
    for d in details(body):
        if d.get("reason"):
            reasons.add(str(d["reason"]))
        meta = d.get("metadata")
        if isinstance(meta, dict) and meta.get("quotaResetDelay"):
            reasons.add("quotaResetDelay")
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        status = body["error"].get("status")
        if isinstance(status, str):
            reasons.add(status)
    return reasons


_URL = re.compile(r"https?://[^\s\"'<>)]+")


def validation_url(body: object, message: str = "") -> str:
    for d in details(body):
        meta = d.get("metadata")
        if isinstance(meta, dict):
            for key in ("validation_url", "validationUrl", "appeal_url", "appealUrl"):
                if meta.get(key):
                    return str(meta[key])
    if re.search(r"validation|verify", message, re.IGNORECASE):
        m = _URL.search(message)
        if m:
            return m.group(0).rstrip(".,")
    return ""


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


def explicit_delay(sources: Sequence[str], f: UpstreamFailure, message: str) -> float | None:
    for source in sources:
        value = _delay_from(source, f, message)
        if value is not None:
            return value
    return None


def _message(f: UpstreamFailure) -> str:
    return f.text if (f.network or f.timeout) else f.message


class Classifier:
    def __init__(
        self, extra: Iterable[dict[str, Any]] = (), cap: float = 24 * 3600.0, default_cooldown: float = 30.0
    ) -> None:
        self.rules: Sequence[Rule] = (*[rule_from_dict(d, default_cooldown) for d in extra], *DEFAULT_RULES)
        self.cap = cap
        self._blocks_as = {r.kind: r.blocks_as for r in reversed(self.rules)}

    def blocks_as(self, kind: str) -> str:
        """How a cooldown of this kind counts when no account is free (COOLING, PARKED or MISSING)."""
        return self._blocks_as.get(kind, COOLING)

    def rule_for(self, f: UpstreamFailure) -> Rule:
        reasons = error_reasons(f.body)
        haystack = "\n".join((_message(f), *quota_ids(f.body)))
        for rule in self.rules:
            if rule.matches(f, reasons, haystack):
                return rule
        return FALLBACK

    def classify(self, f: UpstreamFailure, previous_failures: int = 0, request_tokens: int = 0) -> Decision:
        return self.decide(self.rule_for(f), f, previous_failures, request_tokens)

    def decide(self, rule: Rule, f: UpstreamFailure, previous_failures: int = 0, request_tokens: int = 0) -> Decision:
        """`request_tokens`, the request's estimated input: a 429 on input tokens per minute that the request
        alone reaches is about the request, not the account (see OVER_INPUT_LIMIT)."""
        message = _message(f)
        haystack = "\n".join((message, *quota_ids(f.body)))
        step = min(max(0, previous_failures - max(0, rule.cool_after - 1)), len(rule.ladder) - 1) if rule.ladder else 0
        explicit = explicit_delay(rule.sources, f, haystack) if rule.sources else None
        cooldown = 0.0
        backoff = rule.backoff[min(previous_failures, len(rule.backoff) - 1)] if rule.backoff else 0.0
        account_state = rule.account_state
        scope = rule.scope
        if scope is Scope.REQUEST and rule.cool_after and previous_failures >= rule.cool_after - 1:
            scope = Scope.ACCOUNT_MODEL
            explicit = None  # the short hint is what kept failing; the ladder takes over
        if f.status == 429:
            account_state = ""  # a 429 is about load or quota, never about the account's standing
        if scope is Scope.REQUEST:
            if explicit is not None:
                backoff = min(explicit, rule.cap)
        elif not account_state:
            if explicit is not None:
                cooldown = max(1.0, explicit)
                if rule.ladder_floor and rule.ladder:
                    cooldown = max(cooldown, rule.ladder[step])
            elif rule.ladder:
                cooldown = rule.ladder[step]
            cooldown = min(cooldown, rule.cap if scope is rule.scope else max(rule.ladder, default=rule.cap), self.cap)
            if cooldown <= 0:
                cooldown = 1.0  # a rule that cools must cool, or the same account is hammered again
        if explicit is not None:
            source = next(s for s in rule.sources if _delay_from(s, f, haystack) is not None)
        else:
            source = "ladder" if (rule.ladder or rule.backoff) else "none"
        kind, reason = rule.kind, str(f)[:500]
        limit = input_tokens_per_minute_limit(f.body) if request_tokens and f.status == 429 else None
        if limit is not None and request_tokens >= limit:
            kind, scope, cooldown, backoff = OVER_INPUT_LIMIT, Scope.REQUEST, 0.0, 0.0
            reason = (
                f"prompt is too long: ~{request_tokens} tokens > {limit} maximum "
                "(the per-minute input-token limit of the Gemini account it was tried on)"
            )
        return Decision(
            kind=kind,
            scope=scope,
            cooldown=cooldown,
            rotate=rule.rotate,
            retry=rule.retry,
            client_error=rule.client_error,
            account_state=account_state,
            reason=reason,
            backoff=backoff,
            status=f.status,
            validation_url=validation_url(f.body, message),
            blocks_as=rule.blocks_as,
            source=source,
            refresh=rule.refresh,
            bounded=rule.bounded,
        )
