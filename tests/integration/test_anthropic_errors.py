"""Anthropic-shaped errors: types and statuses for client mistakes, auth, and upstream failures."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from tests.conftest import Gateway, Simulator
from tests.integration.gateways import gateway_for_module

KEY = "key-anthropic-err-01"
CLIENT_KEY = "sk-client-secret-123"
MODEL = "claude-haiku-4-5"


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, simulator_process: Simulator) -> Iterator[Gateway]:
    # One gateway for the module; the rate-limit test runs last because it leaves the account cooling.
    env = {"POOLGATE_PROXY__API_KEY": CLIENT_KEY, "POOLGATE_PROXY__AUTH_MODE": "strict"}
    gateway = gateway_for_module(tmp_path_factory.mktemp("anthropic-errors"), simulator_process, env, {"err": KEY})
    yield gateway
    gateway.stop()


def error_of(r: httpx.Response) -> dict[str, Any]:
    body = r.json()
    assert body["type"] == "error" and set(body["error"]) >= {"type", "message"}
    error: dict[str, Any] = body["error"]
    return error


def test_client_errors_have_anthropic_types(gw: Gateway, simulator: Simulator) -> None:
    url = f"{gw.base_url}/v1/messages"
    good = {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"}
    r = httpx.post(url, json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 401 and error_of(r)["type"] == "authentication_error"
    r = httpx.post(url, json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}, headers=good)
    assert r.status_code == 400 and error_of(r)["type"] == "invalid_request_error"
    assert "max_tokens" in error_of(r)["message"]
    r = httpx.post(url, content=b"{not json", headers=good)
    assert r.status_code == 400 and error_of(r)["type"] == "invalid_request_error"
    bad_block = {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "hologram"}]}]}
    r = httpx.post(url, json=bad_block, headers=good)
    assert r.status_code == 400 and "messages[0].content[0].type" in error_of(r)["message"]
    bad_choice = {
        "model": MODEL,
        "max_tokens": 5,
        "tools": [{"name": "a", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "tool", "name": "zzz"},
        "messages": [{"role": "user", "content": "hi"}],
    }
    r = httpx.post(url, json=bad_choice, headers=good)
    assert r.status_code == 400 and "tool_choice.name" in error_of(r)["message"]
    r = httpx.get(f"{gw.base_url}/v1/messages", headers=good)
    assert r.status_code == 405 and error_of(r)["type"] == "invalid_request_error"
    assert r.headers["allow"] == "OPTIONS, POST"
    assert simulator.calls(KEY) == []


def test_a_count_that_is_no_json_object_falls_back_to_the_estimate(gw: Gateway, simulator: Simulator) -> None:
    # countTokens read its answer unchecked: a JSON array (or a proxy's HTML) upstream became a 500.
    simulator.script(KEY, *[{"raw": ["not", "an", "object"]}] * 3)
    client = anthropic.Anthropic(api_key=CLIENT_KEY, base_url=gw.base_url, max_retries=0)
    raw = client.messages.with_raw_response.count_tokens(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-poolgate-token-count"] == "estimate" and raw.parse().input_tokens > 0


def test_sdk_sees_auth_and_upstream_errors(gw: Gateway, simulator: Simulator) -> None:
    messages: Any = [{"role": "user", "content": "hi"}]
    wrong = anthropic.Anthropic(api_key="wrong", base_url=gw.base_url, max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        wrong.messages.create(model=MODEL, max_tokens=5, messages=messages)
    client = anthropic.Anthropic(api_key=CLIENT_KEY, base_url=gw.base_url, max_retries=0)
    simulator.script(KEY, {"status": 400, "message": "Request contains an invalid argument."})
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(model=MODEL, max_tokens=5, messages=messages)
    assert "invalid argument" in str(bad.value)
    simulator.script(KEY, *[{"status": 429, "reason": "RATE_LIMIT_EXCEEDED", "retry_delay": "30s"}] * 3)
    with pytest.raises(anthropic.RateLimitError) as limited:
        client.messages.create(model=MODEL, max_tokens=5, messages=messages)
    assert limited.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
