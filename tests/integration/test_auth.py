"""Auth modes, the three key headers, and the 401 shape, against a real gateway process."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.conftest import Gateway

KEY = "sk-test-client-key-123456"
CHAT = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}


def _gateway(make_gateway: Any, mode: str, lan: bool = False, key: str = KEY) -> Gateway:
    env = {"POOLGATE_PROXY__AUTH_MODE": mode, "POOLGATE_PROXY__API_KEY": key}
    if lan:
        # LAN access changes the meaning of "auto"; bind stays on loopback via --host for the test.
        env["POOLGATE_PROXY__ALLOW_LAN_ACCESS"] = "true"
        env["POOLGATE_PROXY__HOST"] = "127.0.0.1"
    gw: Gateway = make_gateway(env=env, name=f"auth-{mode}-{lan}")
    gw.add_key("key-auth-000000000", "auth-key")
    return gw.start()


def _status(gw: Gateway, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> int:
    if method == "GET":
        return httpx.get(f"{gw.base_url}{path}", headers=headers).status_code
    return httpx.post(f"{gw.base_url}{path}", json=CHAT, headers=headers).status_code


def test_strict_requires_key_everywhere_and_accepts_three_headers(make_gateway: Any) -> None:
    gw = _gateway(make_gateway, "strict")
    assert _status(gw, "/healthz") == 401
    assert _status(gw, "/readyz") == 401
    r = httpx.post(f"{gw.v1}/chat/completions", json=CHAT)
    assert r.status_code == 401
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["code"] == "invalid_api_key"
    assert _status(gw, "/v1/chat/completions", {"Authorization": "Bearer wrong"}, "POST") == 401
    for headers in ({"Authorization": f"Bearer {KEY}"}, {"x-api-key": KEY}, {"x-goog-api-key": KEY}):
        assert _status(gw, "/v1/chat/completions", headers, "POST") == 200, headers
        assert _status(gw, "/healthz", headers) == 200
    client = openai.OpenAI(api_key=KEY, base_url=gw.v1)
    assert client.chat.completions.create(**CHAT).choices[0].message.content
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(api_key="nope", base_url=gw.v1).chat.completions.create(**CHAT)
    # The model list is shared by three protocols; each client reads the refusal in its own shape.
    as_anthropic = httpx.get(f"{gw.v1}/models", headers={"x-api-key": "nope", "anthropic-version": "2023-06-01"})
    assert as_anthropic.status_code == 401 and as_anthropic.json()["error"]["type"] == "authentication_error"
    as_gemini = httpx.get(f"{gw.v1}/models", headers={"x-goog-api-key": "nope"})
    assert as_gemini.status_code == 401 and as_gemini.json()["error"]["status"] == "UNAUTHENTICATED"


def test_all_except_health_and_auto_with_lan(make_gateway: Any) -> None:
    for gw in (_gateway(make_gateway, "all_except_health"), _gateway(make_gateway, "auto", lan=True)):
        assert _status(gw, "/healthz") == 200
        assert _status(gw, "/health") == 200
        assert _status(gw, "/readyz") == 200  # load balancers probe without a key
        assert _status(gw, "/v1/models") == 401
        assert _status(gw, "/v1/models", {"x-api-key": KEY}) == 200
        gw.stop()


def test_off_and_auto_local_need_no_key(make_gateway: Any) -> None:
    for gw in (_gateway(make_gateway, "off"), _gateway(make_gateway, "auto")):
        assert _status(gw, "/v1/chat/completions", None, "POST") == 200
        assert "auth: off" in gw.output()
        gw.stop()


def test_generated_key_is_printed_and_persisted(make_gateway: Any) -> None:
    gw: Gateway = make_gateway(env={"POOLGATE_PROXY__AUTH_MODE": "strict"}, name="gen")
    gw.add_key("key-gen-0000000000")
    gw.start()
    out = gw.output()
    line = next(x for x in out.splitlines() if x.startswith("generated API key:"))
    key = line.split(":", 1)[1].strip()
    assert _status(gw, "/v1/models", {"Authorization": f"Bearer {key}"}) == 200
    gw.stop()
    gw.start()
    assert "generated API key" not in gw.output()
    assert _status(gw, "/v1/models", {"Authorization": f"Bearer {key}"}) == 200


def test_browsers_get_cors_answers_without_a_key(make_gateway: Any) -> None:
    gw = _gateway(make_gateway, "strict")
    origin = {"Origin": "http://localhost:3000"}
    # A preflight carries no credentials, so it is answered before auth, with everything it asks about.
    pre = httpx.request(
        "OPTIONS",
        f"{gw.v1}/chat/completions",
        headers={**origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"},
    )
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == "*"
    assert "POST" in pre.headers["access-control-allow-methods"]
    assert pre.headers["access-control-allow-headers"] == "*"
    auth = {"Authorization": f"Bearer {KEY}"}
    # The actual request from a page may read its answer (and its errors) ...
    r = httpx.post(f"{gw.v1}/chat/completions", json=CHAT, headers={**origin, **auth})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "*"
    denied = httpx.post(f"{gw.v1}/chat/completions", json=CHAT, headers=origin)
    assert denied.status_code == 401 and denied.headers["access-control-allow-origin"] == "*"
    # ... while clients that are not browsers get no CORS lines at all.
    plain = httpx.post(f"{gw.v1}/chat/completions", json=CHAT, headers=auth)
    assert plain.status_code == 200 and "access-control-allow-origin" not in plain.headers


def test_wrong_admin_passwords_lock_out_that_address_only(make_gateway: Any) -> None:
    env = {"POOLGATE_PROXY__API_KEY": KEY, "POOLGATE_PROXY__ADMIN_PASSWORD": "right-horse-battery"}
    gw: Gateway = make_gateway(env=env, name="admin-lockout")
    gw.add_key("key-lockout-000000", "lockout-key")
    gw.start()
    url = f"{gw.base_url}/api/accounts"

    def get(password: str | None, address: str = "203.0.113.7") -> httpx.Response:
        # The gateway trusts X-Forwarded-For from 127.0.0.1 (a local reverse proxy), so it names the client.
        headers = {"x-forwarded-for": address}
        if password is not None:
            headers["authorization"] = f"Bearer {password}"
        return httpx.get(url, headers=headers)

    for _ in range(15):  # a UI page before sign-in sends no password: that is no attempt
        assert get(None).status_code == 401
    assert get("right-horse-battery").status_code == 200
    for _ in range(10):
        assert get("guess").status_code == 401
    locked = get("right-horse-battery")
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "too_many_failed_sign_ins"
    assert 1 <= int(locked.headers["retry-after"]) <= 300
    assert get("right-horse-battery", address="198.51.100.9").status_code == 200  # another address
    # The locked address still uses the API with the client key: only admin sign-in is refused.
    chat = httpx.post(
        f"{gw.v1}/chat/completions", json=CHAT, headers={"x-api-key": KEY, "x-forwarded-for": "203.0.113.7"}
    )
    assert chat.status_code == 200


@pytest.mark.parametrize(
    ("trusted", "believed"), [('["127.0.0.0/8"]', True), ("[]", False)], ids=["loopback-network", "nobody"]
)
def test_forwarded_addresses_are_believed_only_from_trusted_proxies(
    make_gateway: Any, trusted: str, believed: bool
) -> None:
    env = {"POOLGATE_PROXY__ADMIN_PASSWORD": "right-horse-battery", "POOLGATE_PROXY__TRUSTED_PROXIES": trusted}
    gw: Gateway = make_gateway(env=env, name="forwarded")
    gw.add_key("key-forwarded-0000", "forwarded-key")
    gw.start()
    r = httpx.post(f"{gw.v1}/chat/completions", json=CHAT, headers={"x-forwarded-for": "203.0.113.7"})
    admin = {"authorization": "Bearer right-horse-battery"}
    row = httpx.get(f"{gw.base_url}/api/logs/{r.headers['x-request-id']}", headers=admin).json()
    assert row["client_ip"] == ("203.0.113.7" if believed else "127.0.0.1")
    # The lockout counts the address the gateway believes: one client's guesses lock out only that client
    # when the proxy is trusted, and everyone behind it when it is not.
    for _ in range(10):
        guess = {"authorization": "Bearer guess", "x-forwarded-for": "203.0.113.7"}
        assert httpx.get(f"{gw.base_url}/api/accounts", headers=guess).status_code == 401
    other = httpx.get(f"{gw.base_url}/api/accounts", headers={**admin, "x-forwarded-for": "198.51.100.9"})
    assert other.status_code == (200 if believed else 429)


def test_a_trusted_proxy_entry_that_is_not_an_address_stops_the_start(make_gateway: Any) -> None:
    gw: Gateway = make_gateway(env={"POOLGATE_PROXY__TRUSTED_PROXIES": '["lb.internal"]'}, name="bad-proxy-entry")
    with pytest.raises(RuntimeError) as failed:
        gw.start()
    assert "proxy.trusted_proxies: 'lb.internal' is not an IP address" in str(failed.value)
