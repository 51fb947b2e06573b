"""Request-log rows: built from a finished request, redacted, and written with their usage increments.

Rows travel as plain lists in LOG_COLUMNS order (JSON-friendly, so the writer process can take them
over a pipe); bodies are already capped and decoded to text but not yet redacted: redaction is the
writer's job, off the event loop.
"""

from __future__ import annotations

import re
from typing import Any

from poolgate.gateway import RequestContext
from poolgate.store.sql import SqlStore

LOG_COLUMNS = (
    "id",
    "ts",
    "method",
    "route",
    "protocol",
    "client_model",
    "mapped_model",
    "account_id",
    "account",
    "status",
    "stream",
    "duration_ms",
    "overhead_ms",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "thought_tokens",
    "attempts",
    "error",
    "failed_attempts",
    "client_ip",
    "user_agent",
    "request_body",
    "response_body",
)
_COL = {name: i for i, name in enumerate(LOG_COLUMNS)}
REQUEST_BODY = _COL["request_body"]
RESPONSE_BODY = _COL["response_body"]
_TOKEN_FIELDS = ("input_tokens", "output_tokens", "cached_tokens", "thought_tokens")

# Each pattern with literals one of which any match must contain. A body without them skips the
# pattern: six full regex scans per body were a tenth of the server's CPU under load, and most
# bodies hold no secret at all. Substitutions only insert "***", so they never create a literal.
_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (re.compile(r"(AIza[0-9A-Za-z_\-]{4})[0-9A-Za-z_\-]+"), ("AIza",)),
    (re.compile(r"(ya29\.[0-9A-Za-z_\-]{4})[0-9A-Za-z_\-.]+"), ("ya29.",)),
    (re.compile(r"(1//[0-9A-Za-z_\-]{4})[0-9A-Za-z_\-]+"), ("1//",)),
    (re.compile(r"(sk-[0-9A-Za-z]{2})[0-9A-Za-z_\-]{8,}"), ("sk-",)),
    # Case-insensitive: the check runs on the lower-cased body (see redact()).
    (re.compile(r"((?i:bearer)\s+[0-9A-Za-z_\-.]{2})[0-9A-Za-z_\-.]{6,}"), ()),
    (
        re.compile(
            r'("(?:api_key|apiKey|api-key|x-api-key|x-goog-api-key|key|access_token|refresh_token|id_token|'
            r'client_secret|authorization|password|secret|token)"\s*:\s*")[^"]+'
        ),
        ('key"', 'Key"', 'token"', 'secret"', 'authorization"', 'password"'),
    ),
)
_ALL_LITERALS = tuple(lit for _, lits in _SECRET_PATTERNS for lit in lits)


def clip(body: bytes | None, cap: int) -> str | None:
    """A body as stored: at most `cap` bytes, as text, saying how much was cut."""
    if body is None:
        return None
    text = body[:cap].decode("utf-8", "replace")
    if len(body) > cap:
        text += f"… [{len(body) - cap} more bytes]"
    return text


def _may_hold_secret(text: str) -> bool:
    """False when no pattern can match: none of their literals occurs (most bodies)."""
    return any(lit in text for lit in _ALL_LITERALS) or "bearer" in text.lower()


def redact(text: str | None) -> str | None:
    if text is None or not _may_hold_secret(text):
        return text
    lowered = text.lower()
    for pattern, literals in _SECRET_PATTERNS:
        for literal in literals:
            if literal in text:
                text = pattern.sub(r"\1***", text)
                break
        else:
            if not literals and "bearer" in lowered:
                text = pattern.sub(r"\1***", text)
    return text


def log_values(ctx: RequestContext, ended: float, overhead_ms: float, capture: bool, cap: int) -> list[Any]:
    """One finished request as a row in LOG_COLUMNS order (bodies clipped, not yet redacted)."""
    usage = ctx.usage
    account = ctx.account
    return [
        ctx.request_id,
        ctx.started_wall,
        ctx.method,
        ctx.route,
        ctx.protocol,
        ctx.client_model,
        ctx.mapped_model,
        account.id if account else "",
        account.display_name if account else "",
        ctx.status,
        int(ctx.stream),
        round((ended - ctx.started_wall) * 1000.0, 2),
        round(overhead_ms, 3),
        usage.prompt_tokens if usage else 0,
        usage.completion_tokens if usage else 0,
        usage.cached_tokens if usage else 0,
        usage.thought_tokens if usage else 0,
        ctx.attempts,
        ctx.error[:2000],
        " | ".join(ctx.failed_attempts)[:2000],
        ctx.client_ip,
        ctx.user_agent[:300],
        clip(ctx.request_body, cap) if capture else None,
        clip(ctx.response_body, cap) if capture else None,
    ]


def as_dict(values: list[Any]) -> dict[str, Any]:
    return dict(zip(LOG_COLUMNS, values, strict=True))


def usage_rows(rows: list[list[Any]]) -> list[dict[str, Any]]:
    """Fold log rows into hour × account × model usage increments."""
    ts, account, mapped, client = _COL["ts"], _COL["account"], _COL["mapped_model"], _COL["client_model"]
    status, error = _COL["status"], _COL["error"]
    tokens = [(name, _COL[name]) for name in _TOKEN_FIELDS]
    usage: dict[tuple[int, str, str], dict[str, Any]] = {}
    for row in rows:
        key = (int(row[ts] // 3600), row[account], row[mapped] or row[client])
        agg = usage.get(key)
        if agg is None:
            agg = {"hour": key[0], "account": key[1], "model": key[2], "requests": 0, "errors": 0}
            agg.update(dict.fromkeys(_TOKEN_FIELDS, 0))
            usage[key] = agg
        agg["requests"] += 1
        agg["errors"] += int(row[status] >= 400 or bool(row[error]))
        for name, i in tokens:
            agg[name] += row[i]
    return list(usage.values())


def write_rows(store: SqlStore, rows: list[list[Any]]) -> None:
    """Redact, insert and count one batch (blocking: a writer thread or the writer process runs it)."""
    for row in rows:
        row[REQUEST_BODY] = redact(row[REQUEST_BODY])
        row[RESPONSE_BODY] = redact(row[RESPONSE_BODY])
    store.insert_log_values(LOG_COLUMNS, rows)
    store.add_usage(usage_rows(rows))
