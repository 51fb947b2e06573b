"""Rotation away from a throttled key, retries on 5xx, final errors, and CLI edits seen live."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Gateway, Simulator
from tests.support import poll

CHAT = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}


def chat(gw: Gateway, **extra: Any) -> httpx.Response:
    return httpx.post(f"{gw.v1}/chat/completions", json={**CHAT, **extra}, timeout=30)


def test_429_rotates_and_cools_the_key(make_gateway: Any, simulator: Simulator) -> None:
    gw: Gateway = make_gateway(env={"POOLGATE_SCHEDULING__MODE": "performance_first"})
    gw.add_key("key-a-0000000000", "a")
    gw.add_key("key-b-0000000000", "b")
    gw.start()
    simulator.script("key-a-0000000000", {"status": 429, "reason": "RATE_LIMIT_EXCEEDED", "retry_delay": "30s"})
    answers = [chat(gw) for _ in range(6)]
    assert all(r.status_code == 200 for r in answers)
    assert answers[0].headers["x-account-email"] in ("a", "b")
    calls_a = [c for c in simulator.calls("key-a-0000000000") if c["method"] == "generateContent"]
    calls_b = [c for c in simulator.calls("key-b-0000000000") if c["method"] == "generateContent"]
    # key-a answered 429 once and was never asked again while it cools; key-b took everything else.
    assert len(calls_a) == 1
    assert len(calls_b) == 6
    listing = gw.cli("accounts", "list").stdout
    assert "cooling" in listing


def test_503_is_retried(gateway: Gateway, simulator: Simulator) -> None:
    simulator.script("key-a-0000000000", {"status": 503, "message": "overloaded"})
    r = chat(gateway)
    assert r.status_code == 200
    assert len([c for c in simulator.calls("key-a-0000000000") if c["method"] == "generateContent"]) == 2


def test_400_is_returned_not_retried(gateway: Gateway, simulator: Simulator) -> None:
    simulator.script("key-a-0000000000", {"status": 400, "message": "Invalid value at 'contents'"})
    r = chat(gateway)
    assert r.status_code == 400
    assert "Invalid value at 'contents'" in r.json()["error"]["message"]
    assert len(simulator.calls("key-a-0000000000")) == 1


def test_all_cooling_gives_429_with_retry_after(gateway: Gateway, simulator: Simulator) -> None:
    simulator.script("key-a-0000000000", {"status": 429, "reason": "RATE_LIMIT_EXCEEDED", "retry_delay": "40s"})
    r = chat(gateway)
    assert r.status_code == 429
    assert 30 <= int(r.headers["retry-after"]) <= 41
    assert r.json()["error"]["type"] == "rate_limit_error"
    again = chat(gateway)
    assert again.status_code == 429
    assert "frees up" in again.json()["error"]["message"]
    assert len(simulator.calls("key-a-0000000000")) == 1  # no second request to the cooling key


def test_no_account_gives_503_with_hint(make_gateway: Any) -> None:
    gw: Gateway = make_gateway().start()
    r = chat(gw)
    assert r.status_code == 503
    assert "accounts add-key" in r.json()["error"]["message"]


def test_cli_changes_apply_without_restart(make_gateway: Any, simulator: Simulator) -> None:
    gw: Gateway = make_gateway().start()
    assert chat(gw).status_code == 503
    account_id = gw.add_key("key-live-000000000", "live")
    poll(lambda: chat(gw).status_code == 200, "the gateway to pick up the new account", 5)
    gw.cli("accounts", "disable", account_id)
    poll(lambda: chat(gw).status_code == 503, "the gateway to notice the disabled account", 5)
    refused = gw.cli("map", "set", "my-model", "gemini-2.5-pro?alt=sse", check=False)
    assert refused.returncode == 1 and "letters, digits" in refused.stderr
    gw.cli("map", "set", "my-model", "gemini-2.5-pro")
    gw.cli("accounts", "enable", "live")

    def mapped() -> bool:
        r = chat(gw, model="my-model")
        return r.status_code == 200 and r.headers["x-mapped-model"] == "gemini-2.5-pro"

    poll(mapped, "the new mapping and the re-enabled account", 5)
    listing = gw.cli("accounts", "list").stdout
    assert "key-live-000000000" not in listing
    assert "key-…0000" in listing
    assert "never" not in listing  # last use is recorded


def test_bad_input_names_the_field(gateway: Gateway) -> None:
    cases = [
        (b"{not json", None),
        (b'{"model": "x", "messages": "hi"}', "messages"),
        (b'{"model": "x", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}', "temperature"),
        (b'{"model": "x", "messages": [{"role": "wizard", "content": "hi"}]}', "messages[0].role"),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', "model"),
    ]
    for raw, param in cases:
        r = httpx.post(f"{gateway.v1}/chat/completions", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 400, raw
        err = r.json()["error"]
        assert err["type"] == "invalid_request_error"
        if param:
            assert err["param"] == param
            assert param.split(".")[-1].split("[")[0] in err["message"]


def test_unknown_route_hint_and_oversized_body(make_gateway: Any) -> None:
    gw: Gateway = make_gateway(env={"POOLGATE_PROXY__MAX_BODY_MB": "1"})
    gw.add_key("key-x-000000000")
    gw.start()
    r = httpx.post(f"{gw.v1}/chat/completions/responses", json=CHAT)
    assert r.status_code == 404
    assert "/v1/chat/completions" in r.json()["error"]["message"]
    big = {**CHAT, "messages": [{"role": "user", "content": "x" * (2 * 1024 * 1024)}]}
    r = httpx.post(f"{gw.v1}/chat/completions", json=big)
    assert r.status_code == 413
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_a_file_of_another_account_is_the_clients_error_not_the_accounts(
    make_gateway: Any, simulator: Simulator
) -> None:
    gw: Gateway = make_gateway()
    keys = ("key-files-a-000000", "key-files-b-000000")
    for key, label in zip(keys, ("a", "b"), strict=True):
        gw.add_key(key, label)
    gw.start()
    denied = {
        "status": 403,
        "message": "You do not have permission to access the File 3kx9rb2lq0v1 or it may not exist.",
    }
    for key in keys:
        simulator.script(key, denied)
    uri = "https://generativelanguage.googleapis.com/v1beta/files/3kx9rb2lq0v1"
    body = {
        "contents": [
            {
                "role": "user",
                "parts": [{"text": "Summarise"}, {"fileData": {"mimeType": "application/pdf", "fileUri": uri}}],
            }
        ]
    }
    r = httpx.post(f"{gw.base_url}/v1beta/models/gemini-2.5-flash:generateContent", json=body, timeout=30)
    assert r.status_code == 403
    assert r.json()["error"]["status"] == "PERMISSION_DENIED"
    assert "permission to access the File" in r.json()["error"]["message"]
    # Tried once, on one account: no rotation, and neither account is parked as forbidden.
    assert sum(len(simulator.calls(key)) for key in keys) == 1
    listing = gw.cli("accounts", "list").stdout
    assert listing.count("active") == 2, listing
    simulator.reset()  # the other key's scripted 403 was never used
    assert all(chat(gw).status_code == 200 for _ in range(4))


def _tokens_per_minute_429(limit: int) -> dict[str, Any]:
    """Google's answer when a request's input tokens exceed what the key may send per minute."""
    violation = {
        "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count",
        "quotaId": "GenerateContentInputTokensPerModelPerMinute-FreeTier",
        "quotaDimensions": {"location": "global", "model": "gemini-2.5-flash"},
        "quotaValue": str(limit),
    }
    error = {
        "code": 429,
        "message": "You exceeded your current quota. Please retry in 40s.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [violation]},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "40s"},
        ],
    }
    return {"status": 429, "raw": {"error": error}}


def test_one_request_over_the_per_minute_token_limit_cools_no_account(make_gateway: Any, simulator: Simulator) -> None:
    gw: Gateway = make_gateway(env={"POOLGATE_SCHEDULING__MODE": "performance_first"})  # no stickiness
    keys = ("key-tpm-a-000000", "key-tpm-b-000000")
    for n, key in enumerate(keys):
        gw.add_key(key, f"tpm-{n}")
    gw.start()
    for key in keys:
        simulator.script(key, _tokens_per_minute_429(1000))
    # ~2,500 input tokens against a 1,000-token minute: no minute will let it through on these keys.
    r = chat(gw, messages=[{"role": "user", "content": "word " * 2500}])
    assert r.status_code == 400, r.text
    assert r.json()["error"]["message"].startswith("prompt is too long: ~")  # Claude Code compacts on this
    tried = [c for key in keys for c in simulator.calls(key) if c["method"] == "generateContent"]
    assert len(tried) == 2  # each key once, neither twice
    # It cooled nothing: both keys serve the next, normal request at once, and nothing is listed as cooling.
    assert {chat(gw).headers["x-account-email"] for _ in range(4)} == {"tpm-0", "tpm-1"}
    assert "cooling" not in gw.cli("accounts", "list").stdout
    # The same 429 for a small request is the minute being used up by others: that key cools as before.
    simulator.script(keys[0], _tokens_per_minute_429(1000))
    answers = [chat(gw) for _ in range(4)]
    assert all(a.status_code == 200 for a in answers)
    assert "cooling" in gw.cli("accounts", "list").stdout
