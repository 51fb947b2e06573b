"""Per-account egress proxies: an account's upstream traffic, token refresh included, goes through its own proxy."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Gateway, Simulator
from tests.integration.oauth_support import account_row, control, new_user, oauth_gateway, start_login
from tests.support import ForwardProxy, poll

KEY_A, KEY_B = "key-egress-aaaaaaaa", "key-egress-bbbbbbbb"
ADMIN = "egress-admin-password"
CHAT = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}


def chat(gw: Gateway) -> httpx.Response:
    return httpx.post(f"{gw.v1}/chat/completions", json=CHAT, timeout=30)


def generate_calls(simulator: Simulator, key: str) -> int:
    return sum(1 for c in simulator.calls(key) if c["method"] == "generateContent")


def test_each_key_goes_through_its_own_proxy(make_gateway: Any, simulator: Simulator) -> None:
    with ForwardProxy() as proxy:
        gw: Gateway = make_gateway(
            env={"POOLGATE_SCHEDULING__MODE": "performance_first", "POOLGATE_PROXY__ADMIN_PASSWORD": ADMIN},
            name="egress",
        )
        routed = proxy.url.replace("http://", "http://egress-user:s3cret-pw@")
        out = gw.cli("accounts", "add-key", KEY_A, "--label", "a", "--proxy", routed).stdout
        assert "via http://egress-user:***@127.0.0.1:" in out and "s3cret-pw" not in out
        gw.add_key(KEY_B, "b")
        listing = gw.cli("accounts", "list").stdout
        assert "egress-user:***@127.0.0.1" in listing and "s3cret-pw" not in listing
        gw.start()

        for _ in range(6):
            assert chat(gw).status_code == 200
        through_a, through_b = generate_calls(simulator, KEY_A), generate_calls(simulator, KEY_B)
        assert through_a and through_b  # both keys served
        # Every call key a made went through the proxy, with the proxy's credentials; key b's did not.
        assert len(proxy.records) == through_a
        assert {headers["x-goog-api-key"] for _, _, headers in proxy.records} == {KEY_A}
        expected = "Basic " + base64.b64encode(b"egress-user:s3cret-pw").decode()
        assert {headers.get("proxy-authorization") for _, _, headers in proxy.records} == {expected}
        assert all(url.startswith(f"{simulator.url}/v1beta/models/") for _, url, _ in proxy.records)

        accounts = httpx.get(f"{gw.base_url}/api/accounts", headers={"authorization": f"Bearer {ADMIN}"}).json()
        shown = {a["label"]: a["proxy"] for a in accounts["accounts"]}
        assert shown["a"].startswith("http://egress-user:***@127.0.0.1:") and shown["b"] == ""

        # Moving key b behind the proxy takes effect in the running gateway.
        gw.cli("accounts", "set-proxy", "b", proxy.url)
        before = len(proxy.records)

        def b_proxied() -> bool:
            assert chat(gw).status_code == 200
            return any(h["x-goog-api-key"] == KEY_B for _, _, h in proxy.records[before:])

        poll(b_proxied, "key b's traffic through the proxy")
        # And an empty proxy takes it out again.
        gw.cli("accounts", "set-proxy", "a")
        assert "egress-user" not in gw.cli("accounts", "list").stdout


def test_a_google_account_refreshes_and_calls_cloud_code_through_its_proxy(
    simulator_process: Simulator, tmp_path: Path
) -> None:
    sim = simulator_process
    with ForwardProxy() as proxy:
        gw = oauth_gateway(sim, tmp_path / "egress-oauth")
        token = new_user(sim, "egress@example.com", project="egress-project")
        entries = gw.data_dir / "import.json"
        entries.write_text(json.dumps([{"refresh_token": token}]))
        gw.cli("accounts", "import", str(entries), "--proxy", proxy.url)
        # The import looked the account up through its proxy already: token, email, project, quota.
        paths = [url.removeprefix(sim.url) for _, url, _ in proxy.records]
        assert paths[0] == "/token" and "/oauth2/v2/userinfo" in paths
        assert "/v1internal:loadCodeAssist" in paths and "/v1internal:fetchAvailableModels" in paths
        before = len(proxy.records)
        gw.start()
        try:
            # A revoked access token makes the next call a 401, so the gateway must refresh it first.
            control(sim, "expire", {"email": "egress@example.com"})
            r = chat(gw)
            assert r.status_code == 200, r.text
            paths = [url.removeprefix(sim.url) for _, url, _ in proxy.records[before:]]
            assert "/token" in paths  # the access token was refreshed through the proxy
            assert "/v1internal:generateContent" in paths
            assert all(h.get("authorization", "Bearer ").startswith("Bearer ") for _, _, h in proxy.records)
        finally:
            gw.stop()


def test_a_login_exchanges_its_code_through_the_new_accounts_proxy(
    simulator_process: Simulator, tmp_path: Path
) -> None:
    sim = simulator_process
    with ForwardProxy() as proxy:
        gw = oauth_gateway(sim, tmp_path / "egress-login", POOLGATE_PROXY__ADMIN_PASSWORD=ADMIN)
        new_user(sim, "cli-login@example.com", project="cli-login-project")
        control(sim, "next_login", {"email": "cli-login@example.com"})
        proc, url = start_login(gw, "--no-browser", "--proxy", proxy.url)
        try:
            # The browser reaches Google on its own; only what the gateway sends goes through the proxy.
            location = httpx.get(url, follow_redirects=False, timeout=10).headers["location"]
            out, _ = proc.communicate(location + "\n", timeout=60)
        finally:
            proc.kill()
        assert proc.returncode == 0, out
        paths = [url.removeprefix(sim.url) for _, url, _ in proxy.records]
        assert paths[0] == "/token" and "/oauth2/v2/userinfo" in paths and "/v1internal:loadCodeAssist" in paths
        assert proxy.url.removeprefix("http://") in account_row(gw, "cli-login@example.com")

        # The web UI's login: the proxy named when the login starts carries the exchange after the callback.
        gw.start()
        try:
            before = len(proxy.records)
            new_user(sim, "web-login@example.com", project="web-login-project")
            control(sim, "next_login", {"email": "web-login@example.com"})
            admin = {"authorization": f"Bearer {ADMIN}"}
            started = httpx.post(
                f"{gw.base_url}/api/accounts/oauth/start", headers=admin, json={"proxy_url": proxy.url}, timeout=10
            ).json()
            location = httpx.get(started["url"], follow_redirects=False, timeout=10).headers["location"]
            assert httpx.get(location, timeout=30).status_code == 200
            paths = [url.removeprefix(sim.url) for _, url, _ in proxy.records[before:]]
            assert paths[0] == "/token" and "/v1internal:loadCodeAssist" in paths
            listed = httpx.get(f"{gw.base_url}/api/accounts", headers=admin, timeout=10).json()
            web = [a for a in listed["accounts"] if a["email"] == "web-login@example.com"]
            assert web and web[0]["proxy"] == proxy.url
            bad = httpx.post(
                f"{gw.base_url}/api/accounts/oauth/start", headers=admin, json={"proxy_url": "socks5://x"}, timeout=10
            )
            assert bad.status_code == 400 and bad.json()["error"]["param"] == "proxy_url"
        finally:
            gw.stop()


def test_a_proxy_that_cannot_work_is_refused(make_gateway: Any) -> None:
    gw: Gateway = make_gateway(env={"POOLGATE_PROXY__ADMIN_PASSWORD": ADMIN}, name="egress-bad")
    account = gw.add_key(KEY_A, "a")
    bad = gw.cli("accounts", "set-proxy", "a", "socks5://127.0.0.1:1080", check=False)
    assert bad.returncode == 1 and "http:// or https://" in bad.stdout + bad.stderr
    gw.start()
    r = httpx.post(
        f"{gw.base_url}/api/accounts/{account}/proxy",
        json={"proxy_url": "http://127.0.0.1:notaport"},
        headers={"authorization": f"Bearer {ADMIN}"},
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "proxy_url", r.text
    ok = httpx.post(
        f"{gw.base_url}/api/accounts/{account}/proxy",
        json={"proxy_url": "http://u:p@127.0.0.1:3128"},
        headers={"authorization": f"Bearer {ADMIN}"},
    )
    assert ok.status_code == 200 and ok.json()["proxy"] == "http://u:***@127.0.0.1:3128"
