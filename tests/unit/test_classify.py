"""Delay parsing and the basic classes the foundation relies on."""

from __future__ import annotations

from poolgate.pool.classify import Classifier, Scope, message_delay, parse_duration, retry_after_delay
from poolgate.upstream.base import UpstreamFailure


def _body(status: int, reason: str | None = None, retry: str | None = None, quota: str | None = None) -> dict:
    details: list[dict] = []
    if reason or quota:
        meta = {"quotaResetDelay": quota} if quota else {}
        details.append({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "metadata": meta})
    if retry:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry})
    return {"error": {"code": status, "message": "x", "status": "RESOURCE_EXHAUSTED", "details": details}}


def test_parse_duration() -> None:
    assert parse_duration("1.5s") == 1.5
    assert parse_duration("200ms") == 0.2
    assert abs((parse_duration("1h16m0.667s") or 0) - 4560.667) < 1e-6
    assert parse_duration("invalid") is None
    assert parse_duration({"seconds": 3, "nanos": 500_000_000}) == 3.5


def test_message_and_header_delays() -> None:
    assert message_delay("Please retry in 37.2s.") == 37.2
    assert message_delay("Try again in 2m 30s") == 150
    assert message_delay("Retry After 99 Seconds") == 99
    assert retry_after_delay("30") == 30


def test_retry_info_sets_the_cooldown_per_model() -> None:
    d = Classifier().classify(UpstreamFailure(status=429, body=_body(429, "RATE_LIMIT_EXCEEDED", "12s")))
    assert d.kind == "rate_limit" and d.scope is Scope.ACCOUNT_MODEL and d.cooldown == 12 and d.rotate


def test_quota_exhausted_uses_reset_delay() -> None:
    d = Classifier().classify(UpstreamFailure(status=429, body=_body(429, "QUOTA_EXHAUSTED", quota="3h")))
    assert d.kind == "quota_exhausted" and d.cooldown == 3 * 3600


def test_client_error_is_not_retried() -> None:
    d = Classifier().classify(UpstreamFailure(status=400, body={"error": {"code": 400, "message": "bad"}}))
    assert d.client_error and not d.retry


def test_invalid_key_and_invalid_grant_change_account_state() -> None:
    body = {
        "error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
        }
    }
    assert Classifier().classify(UpstreamFailure(status=400, body=body)).account_state == "invalid"
    grant = Classifier().classify(UpstreamFailure(oauth_error="invalid_grant"))
    assert grant.account_state == "needs_relogin"


def test_5xx_retries_without_cooling() -> None:
    d = Classifier().classify(UpstreamFailure(status=503, body=None, text="unavailable"))
    assert d.scope is Scope.REQUEST and d.retry and d.backoff > 0
