"""The failure table (Google-shaped bodies): every class of upstream failure gets its kind, scope, cooldown source, cap and rotation."""

from __future__ import annotations

from typing import Any

import pytest

from poolgate.config import ConfigError, load_config
from poolgate.pool.classify import COOLING, MISSING, PARKED, Classifier, Scope
from poolgate.pool.durations import message_delay, parse_duration, retry_after_delay
from poolgate.upstream.base import UpstreamFailure
from tests.unit import google_bodies as g


def http(status: int, body: dict[str, Any] | None = None, retry_after: str | None = None) -> UpstreamFailure:
    text = body["error"]["message"] if body and isinstance(body.get("error"), dict) else str(body or "")
    return UpstreamFailure(status=status, body=body, text=text, retry_after_header=retry_after)


# (failure, kind, scope, cooldown, source, rotate, blocks_as)
TABLE = [
    ("per_request", http(429, g.PER_REQUEST), "request_throttled", Scope.REQUEST, 0.0, "retry_info", True, COOLING),
    ("per_minute", http(429, g.PER_MINUTE), "rate_limit", Scope.ACCOUNT_MODEL, 52.0, "retry_info", True, COOLING),
    ("bare_429", http(429, g.BARE_429), "rate_limit", Scope.ACCOUNT_MODEL, 30.0, "ladder", True, COOLING),
    ("retry_after", http(429, g.BARE_429, "17"), "rate_limit", Scope.ACCOUNT_MODEL, 17.0, "retry_after", True, COOLING),
    ("per_day", http(429, g.PER_DAY), "quota_exhausted", Scope.ACCOUNT_MODEL, 60.0, "retry_info", True, COOLING),
    (
        "quota_reset",
        http(429, g.QUOTA_EXHAUSTED),
        "quota_exhausted",
        Scope.ACCOUNT_MODEL,
        3600.0,  # 2h1m1.5s, capped by scheduling.cooldown_cap_seconds (one probe an hour at most)
        "quota_reset",
        True,
        COOLING,
    ),
    ("capacity", http(429, g.CAPACITY), "capacity", Scope.REQUEST, 0.0, "ladder", True, COOLING),
    ("overloaded_503", http(503, g.OVERLOADED_503), "capacity", Scope.REQUEST, 0.0, "ladder", True, COOLING),
    ("overloaded_529", http(529, None), "capacity", Scope.REQUEST, 0.0, "ladder", True, COOLING),
    ("unauthenticated", http(401, g.UNAUTHENTICATED), "unauthenticated", Scope.ACCOUNT, 60.0, "ladder", True, PARKED),
    (
        "validation",
        http(403, g.VALIDATION_REQUIRED),
        "validation_required",
        Scope.ACCOUNT,
        600.0,
        "ladder",
        True,
        PARKED,
    ),
    ("forbidden", http(403, g.FORBIDDEN), "forbidden", Scope.ACCOUNT, 600.0, "ladder", True, PARKED),
    ("foreign_file", http(403, g.FOREIGN_FILE), "foreign_resource", Scope.REQUEST, 0.0, "none", False, COOLING),
    ("foreign_cache", http(403, g.FOREIGN_CACHE), "foreign_resource", Scope.REQUEST, 0.0, "none", False, COOLING),
    ("missing_cache", http(404, g.MISSING_CACHE), "foreign_resource", Scope.REQUEST, 0.0, "none", False, COOLING),
    ("not_found", http(404, g.MODEL_NOT_FOUND), "model_not_found", Scope.ACCOUNT_MODEL, 600.0, "ladder", True, MISSING),
    ("bad_request", http(400, g.BAD_REQUEST), "client_error", Scope.REQUEST, 0.0, "none", False, COOLING),
    ("internal", http(500, g.INTERNAL), "server_error", Scope.REQUEST, 0.0, "ladder", True, COOLING),
    (
        "network",
        UpstreamFailure(network=True, text="ClientConnectorError: refused"),
        "network",
        Scope.ACCOUNT,
        2.0,
        "ladder",
        True,
        COOLING,
    ),
    (
        "timeout",
        UpstreamFailure(timeout=True, text="no answer"),
        "timeout",
        Scope.ACCOUNT_MODEL,
        5.0,
        "ladder",
        True,
        COOLING,
    ),
    ("empty", UpstreamFailure(empty=True), "empty_stream", Scope.REQUEST, 0.0, "ladder", True, COOLING),
]


@pytest.mark.parametrize(
    ("failure", "kind", "scope", "cooldown", "source", "rotate", "blocks_as"),
    [row[1:] for row in TABLE],
    ids=[row[0] for row in TABLE],
)
def test_failure_table(
    failure: UpstreamFailure, kind: str, scope: Scope, cooldown: float, source: str, rotate: bool, blocks_as: str
) -> None:
    classifier = Classifier(cap=3600.0)
    d = classifier.classify(failure)
    assert (d.kind, d.scope, d.cooldown, d.source, d.rotate, d.blocks_as) == (
        kind,
        scope,
        cooldown,
        source,
        rotate,
        blocks_as,
    )
    assert d.account_state == ""  # none of these is a lasting state


def test_capacity_waits_a_short_backoff_without_cooling() -> None:
    d = Classifier().classify(http(503, g.OVERLOADED_503), 1)
    assert (d.cooldown, d.backoff) == (0.0, 1.0)
    hinted = Classifier().classify(http(429, g.CAPACITY, "30"))
    assert (hinted.cooldown, hinted.backoff) == (0.0, 5.0)  # a long hint is capped: other accounts may serve


def test_per_request_throttle_waits_the_hint_instead_of_cooling() -> None:
    d = Classifier().classify(http(429, g.PER_REQUEST))
    assert d.cooldown == 0 and d.backoff == pytest.approx(0.847)
    # Throttled a third time in a row (no success between): the key is not probed again for a while.
    later = [Classifier().classify(http(429, g.PER_REQUEST), n) for n in range(1, 5)]
    assert [(d.scope, d.cooldown) for d in later] == [
        (Scope.REQUEST, 0.0),
        (Scope.ACCOUNT_MODEL, 5.0),
        (Scope.ACCOUNT_MODEL, 10.0),
        (Scope.ACCOUNT_MODEL, 30.0),
    ]


def test_lasting_states() -> None:
    c = Classifier()
    grant = c.classify(UpstreamFailure(oauth_error="invalid_grant", text="Token has been expired or revoked."))
    assert (grant.kind, grant.account_state, grant.blocks_as) == ("invalid_grant", "needs_relogin", PARKED)
    token_endpoint = c.classify(UpstreamFailure(status=400, body=g.INVALID_GRANT, text='{"error":"invalid_grant"}'))
    assert token_endpoint.account_state == "needs_relogin"
    bad_key = c.classify(http(400, g.API_KEY_INVALID))
    assert (bad_key.kind, bad_key.account_state, bad_key.client_error) == ("invalid_key", "invalid", False)


def test_validation_url_is_extracted_from_details_or_message() -> None:
    c = Classifier()
    assert c.classify(http(403, g.VALIDATION_REQUIRED)).validation_url == g.VALIDATION_URL
    text_only = {
        "error": {
            "code": 403,
            "message": f"Please verify your account at {g.VALIDATION_URL}.",
            "status": "PERMISSION_DENIED",
        }
    }
    d = c.classify(http(403, text_only))
    assert d.kind == "validation_required" and d.validation_url == g.VALIDATION_URL


def test_ladders_climb_with_repeated_failures_and_stop_at_the_cap() -> None:
    c = Classifier(cap=3600.0)
    steps = [c.classify(http(429, g.BARE_429), n).cooldown for n in range(5)]
    assert steps == [30.0, 60.0, 120.0, 120.0, 120.0]
    # Daily quota: Google's short RetryInfo is not trusted below the ladder step.
    daily = [c.classify(http(429, g.PER_DAY), n).cooldown for n in range(5)]
    assert daily == [60.0, 300.0, 1800.0, 3600.0, 3600.0]
    uncapped = Classifier(cap=24 * 3600.0).classify(http(429, g.QUOTA_EXHAUSTED))
    assert uncapped.cooldown == pytest.approx(2 * 3600 + 61.5)


def test_a_429_never_sets_a_lasting_state_even_from_config() -> None:
    rule = {"kind": "ban", "status": [429], "account_state": "disabled", "scope": "account"}
    d = Classifier([rule]).classify(http(429, g.BARE_429))
    assert d.kind == "ban" and d.account_state == "" and d.cooldown > 0


def test_config_rules_come_first_and_are_validated() -> None:
    cfg = load_config(
        '[scheduling]\nextra_rules = [{kind = "tpm", status = [429], text = "tokens per minute", '
        'scope = "account", cooldown = [45], cap = 90, blocks_as = "cooling"}]\n'
    )
    c = Classifier(cfg.scheduling.extra_rules)
    body = {"error": {"code": 429, "message": "Too many tokens per minute", "status": "RESOURCE_EXHAUSTED"}}
    d = c.classify(http(429, body))
    assert (d.kind, d.scope, d.cooldown) == ("tpm", Scope.ACCOUNT, 45.0)
    assert c.classify(http(429, g.PER_MINUTE)).kind == "rate_limit"  # others still reach the defaults
    with pytest.raises(ConfigError, match=r"extra_rules\[0\]"):
        load_config('[scheduling]\nextra_rules = [{kind = "x", sources = ["tea_leaves"]}]\n')
    with pytest.raises(ConfigError, match="prefer"):
        load_config('[scheduling]\nprefer = ["vibes"]\n')


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("1.203608125s", 1.203608125),
        ("2h1m1s", 7261.0),
        ("510.79ms", 0.51079),
        ({"seconds": 3, "nanos": 5e8}, 3.5),
        ("soon", None),
    ],
)
def test_durations(value: object, seconds: float | None) -> None:
    assert parse_duration(value) == (pytest.approx(seconds) if seconds is not None else None)


def test_delay_hints_in_text_and_headers() -> None:
    assert message_delay("Please retry in 52.870255807s.") == pytest.approx(52.870255807)
    assert message_delay("Your quota will reset after 1h16m0.667s.") == pytest.approx(4560.667)
    assert message_delay("nothing here") is None
    assert retry_after_delay("12") == 12.0
    assert retry_after_delay("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
