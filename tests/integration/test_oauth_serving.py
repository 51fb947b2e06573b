"""Serving from OAuth accounts through Cloud Code: envelope, streaming, fallback, tokens, quota, mixed pools."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from poolgate.store.sql import SqlStore
from tests.conftest import Gateway, Simulator, free_port
from tests.integration.oauth_support import (
    account_row,
    calls_since,
    control,
    import_entries,
    mark,
    new_user,
    oauth_gateway,
)
from tests.support import poll

SOLO = "solo@example.com"
FLASH = "gemini-2.5-flash"


def chat(gw: Gateway, text: str, model: str = FLASH) -> httpx.Response:
    return httpx.post(
        f"{gw.v1}/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": text}]},
        timeout=60,
    )


@pytest.fixture(scope="module")
def solo(tmp_path_factory: pytest.TempPathFactory, simulator_process: Simulator) -> Iterator[Gateway]:
    """One OAuth account behind four Cloud Code bases: a dead port, then /a, /b and /c on the simulator."""
    sim = simulator_process
    bases = [f"http://127.0.0.1:{free_port()}", f"{sim.url}/a", f"{sim.url}/b", f"{sim.url}/c"]
    gw = oauth_gateway(sim, tmp_path_factory.mktemp("solo"), bases)
    token = new_user(
        sim,
        SOLO,
        project="solo-project",
        quota={FLASH: {"remainingFraction": 0.25, "resetTime": "2030-01-01T00:00:00Z"}},
    )
    assert import_entries(gw, [{"refresh_token": token}]).returncode == 0
    gw.start()
    yield gw
    gw.stop()


def test_envelope_headers_and_account_email(solo: Gateway, simulator_process: Simulator) -> None:
    sim = simulator_process
    start = mark(sim)
    r = chat(solo, "envelope please")
    assert r.status_code == 200, r.text
    assert r.headers["x-account-email"] == SOLO
    assert r.json()["choices"][0]["message"]["content"].endswith("You said: envelope please")
    (call,) = calls_since(sim, start, "generateContent")
    assert call["path"] == "/a/v1internal:generateContent"
    envelope = call["body"]
    assert set(envelope) == {"model", "project", "request", "requestId", "userAgent"}
    assert envelope["model"] == FLASH and envelope["project"] == "solo-project"
    assert envelope["request"]["contents"] == [{"role": "user", "parts": [{"text": "envelope please"}]}]
    assert envelope["requestId"] == r.headers["x-request-id"]
    assert envelope["userAgent"] == "poolgate-tests"
    headers = call["headers"]
    assert headers["authorization"].startswith("Bearer ya29.sim-")
    assert headers["user-agent"] == "poolgate-tests/1.0"
    assert headers["x-client-name"] == "poolgate-tests" and headers["x-client-version"] == "9.9.9"


def test_streaming_unwraps_every_chunk(solo: Gateway, simulator_process: Simulator) -> None:
    sim = simulator_process
    start = mark(sim)
    client = openai.OpenAI(api_key="unused", base_url=solo.v1)
    stream = client.chat.completions.create(
        model=FLASH, messages=[{"role": "user", "content": "stream through the envelope"}], stream=True
    )
    pieces = [chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices]
    assert len([p for p in pieces if p]) >= 3
    assert "".join(pieces) == f"Hello from the simulator (model {FLASH}). You said: stream through the envelope"
    (call,) = calls_since(sim, start, "streamGenerateContent")
    assert call["stream"] and call["body"]["project"] == "solo-project"


def test_base_urls_are_tried_in_order_on_404_and_5xx(solo: Gateway, simulator_process: Simulator) -> None:
    sim = simulator_process
    control(sim, "base", {"prefix": "/a", "status": 503})
    control(sim, "base", {"prefix": "/b", "status": 404})
    try:
        start = mark(sim)
        r = chat(solo, "fallback")
        assert r.status_code == 200, r.text
        paths = [c["path"] for c in calls_since(sim, start, "generateContent")]
        # The dead port first (a network error, so the simulator never sees it), then /a, /b, /c.
        assert paths == [f"/{p}/v1internal:generateContent" for p in ("a", "b", "c")]
    finally:
        control(sim, "base", {"prefix": "/a", "status": 0})
        control(sim, "base", {"prefix": "/b", "status": 0})


def test_a_429_never_moves_to_the_next_base_and_refetches_quota(solo: Gateway, simulator_process: Simulator) -> None:
    sim = simulator_process
    sim.script(SOLO, {"status": 429, "reason": "RATE_LIMIT_EXCEEDED", "retry_delay": "1s"})
    start = mark(sim)
    r = chat(solo, "rate limited", model="gemini-2.5-pro")
    # A 1 s hint is a per-request throttle (docs/scheduling.md): the same account waits it out and retries,
    # on the same base both times.
    assert r.status_code == 200, r.text
    paths = [c["path"] for c in calls_since(sim, start, "generateContent")]
    assert paths == ["/a/v1internal:generateContent"] * 2
    poll(lambda: calls_since(sim, start, "fetchAvailableModels"), "a quota lookup after the 429")


def test_quota_is_shown_per_model(solo: Gateway) -> None:
    row = account_row(solo, SOLO)
    assert f"{FLASH} 25%" in row and "gemini-2.5-pro 100%" in row
    assert "free" in row


def test_a_401_forces_one_refresh_and_one_retry(solo: Gateway, simulator_process: Simulator) -> None:
    sim = simulator_process
    control(sim, "expire", {"email": SOLO})
    start = mark(sim)
    r = chat(solo, "after expiry")
    assert r.status_code == 200, r.text
    flow = [(c["method"], c["key"]) for c in calls_since(sim, start, "generateContent", "token")]
    assert flow == [("generateContent", ""), ("token", SOLO), ("generateContent", SOLO)]


def test_fifty_concurrent_requests_share_one_refresh(solo: Gateway, simulator_process: Simulator) -> None:
    sim = simulator_process
    control(sim, "expire", {"email": SOLO})
    start = mark(sim)
    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(lambda n: chat(solo, f"burst {n}"), range(50)))
    assert [r.status_code for r in responses] == [200] * 50
    assert len(calls_since(sim, start, "token")) == 1
    assert len(calls_since(sim, start, "generateContent")) >= 50


def test_invalid_grant_needs_relogin_and_is_logged(solo: Gateway, simulator_process: Simulator) -> None:
    # Runs last in this module: it takes the only account out of rotation.
    control(simulator_process, "revoke", {"email": SOLO})
    r = chat(solo, "after revocation")
    assert r.status_code == 503
    assert "invalid_grant" in r.json()["error"]["message"]
    assert "needs re-login" in account_row(solo, SOLO)
    store = SqlStore.open(solo.data_dir)
    try:
        rows = poll(lambda: store.query_logs(errors_only=True, search="invalid_grant"), "the request log row")
    finally:
        store.close()
    assert rows[0]["status"] == 503 and rows[0]["account"] == SOLO
    assert chat(solo, "still revoked").status_code == 503


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory, simulator_process: Simulator) -> Iterator[Gateway]:
    """An API key plus three OAuth accounts; mix2 has almost no flash quota left, mix3 none at all."""
    sim = simulator_process
    # Quota is looked up every 1.2 s here, so a test can watch the periodic refresh happen.
    gw = oauth_gateway(
        sim, tmp_path_factory.mktemp("mixed"), [sim.url], POOLGATE_UPSTREAM__QUOTA_REFRESH_MINUTES="0.02"
    )
    gw.add_key("key-b-0000000000", "key-b")
    low = {FLASH: {"remainingFraction": 0.05, "resetTime": "2030-01-01T00:00:00Z"}}
    none = {FLASH: {"resetTime": "2030-01-01T00:00:00Z"}}  # Google leaves the fraction out at zero
    entries = [
        {"refresh_token": new_user(sim, "mix1@example.com", project="mix1-project", tier="standard-tier")},
        {"refresh_token": new_user(sim, "mix2@example.com", project="mix2-project", tier="standard-tier", quota=low)},
        {"refresh_token": new_user(sim, "mix3@example.com", project="mix3-project", tier="standard-tier", quota=none)},
    ]
    assert import_entries(gw, entries).returncode == 0
    gw.start()
    yield gw
    gw.stop()


def test_mixed_pool_serves_keys_and_oauth_side_by_side(mixed: Gateway, simulator_process: Simulator) -> None:
    sim = simulator_process
    start = mark(sim)
    served = [chat(mixed, f"mixed {uuid.uuid4()}") for _ in range(6)]
    assert all(r.status_code == 200 for r in served)
    emails = [r.headers["x-account-email"] for r in served]
    assert {"key-b", "mix1@example.com"} <= set(emails)
    assert "mix2@example.com" not in emails  # the account with 5% flash quota left waits while others have more
    assert "mix3@example.com" not in emails
    calls = calls_since(sim, start, "generateContent")
    assert any(c["path"] == f"/v1beta/models/{FLASH}:generateContent" and c["key"] == "key-b-0000000000" for c in calls)
    assert any(c["path"] == "/v1internal:generateContent" and c["key"] == "mix1@example.com" for c in calls)


def test_an_account_without_quota_cools_for_that_model(mixed: Gateway) -> None:
    def listing() -> str | None:
        out = mixed.cli("accounts", "list").stdout
        return out if "cooling" in account_row(out, "mix3@example.com") else None

    row = account_row(poll(listing, "mix3 to cool for flash"), "mix3@example.com")
    assert f"cooling ({FLASH})" in row and "quota_exhausted" in row
    assert f"{FLASH} 0%" in row


@pytest.fixture()
def revocable(tmp_path_factory: pytest.TempPathFactory, simulator_process: Simulator) -> Iterator[Gateway]:
    """An API key and two OAuth accounts, quota looked up only at start.

    Not the `mixed` gateway: its 1.2 s quota refresh may meet a revoked token before any request
    does, and then no request's log row could say why its first attempt failed.
    """
    sim = simulator_process
    gw = oauth_gateway(
        sim, tmp_path_factory.mktemp("revocable"), [sim.url], POOLGATE_UPSTREAM__QUOTA_REFRESH_MINUTES="0"
    )
    gw.add_key("key-b-0000000000", "key-b")
    entries = [
        {"refresh_token": new_user(sim, "rev1@example.com", project="rev1-project", tier="standard-tier")},
        {"refresh_token": new_user(sim, "rev2@example.com", project="rev2-project", tier="standard-tier")},
    ]
    assert import_entries(gw, entries).returncode == 0
    start = mark(sim)
    gw.start()
    # The quota lookup at start must be over before a test revokes a token, for the same reason.
    poll(
        lambda: (
            {"rev1@example.com", "rev2@example.com"}
            <= {c["key"] for c in calls_since(sim, start, "fetchAvailableModels")}
        ),
        "the quota lookup at start",
    )
    yield gw
    gw.stop()


def test_invalid_grant_takes_only_that_account_out(revocable: Gateway, simulator_process: Simulator) -> None:
    control(simulator_process, "revoke", {"email": "rev1@example.com"})
    for n in range(6):
        r = chat(revocable, f"after revoke {n}")
        assert r.status_code == 200, r.text

    def relogin_listing() -> str | None:
        out = revocable.cli("accounts", "list").stdout
        return out if "needs re-login" in out else None

    listing = poll(relogin_listing, "rev1 to need a re-login")
    assert "needs re-login" in account_row(listing, "rev1@example.com")
    assert "active" in account_row(listing, "rev2@example.com")
    assert "active" in account_row(listing, "key-b")
    later = [chat(revocable, f"later {n}") for n in range(4)]
    assert all(r.status_code == 200 for r in later)
    assert "rev1@example.com" not in {r.headers["x-account-email"] for r in later}
    # The request that met the revoked token was served by another account, and its log row says why
    # the first attempt failed.
    store = SqlStore.open(revocable.data_dir)
    try:
        rows = poll(
            lambda: [r for r in store.query_logs(limit=200) if "invalid_grant" in (r["failed_attempts"] or "")] or None,
            "a log row with the invalid_grant attempt",
        )
    finally:
        store.close()
    assert rows[0]["status"] == 200
    assert "rev1@example.com: invalid_grant" in rows[0]["failed_attempts"]
    assert rows[0]["account"] != "rev1@example.com"


def test_quota_is_refreshed_periodically_and_lifts_the_cooldown(mixed: Gateway, simulator_process: Simulator) -> None:
    back = {FLASH: {"remainingFraction": 0.8, "resetTime": "2030-01-01T00:00:00Z"}}
    control(simulator_process, "user", {"email": "mix3@example.com", "quota": back})

    def refreshed() -> str | None:
        row = account_row(mixed.cli("accounts", "list").stdout, "mix3@example.com")
        return row if f"{FLASH} 80%" in row and "active" in row else None

    poll(refreshed, "mix3's new quota and the end of its cooldown", timeout=30)
