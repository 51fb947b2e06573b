"""The admin API under /api: auth, every account/mapping/config/cooldown action, log paging and filters, the feed."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from poolgate.server.app import ADMIN_AUTH, default_routes
from poolgate.store.models import API_KEY, Account
from poolgate.store.sql import SqlStore
from tests.conftest import ROOT, Gateway, Simulator
from tests.integration.gateways import gateway_for_module

ADMIN = "admin-pw-for-tests"
CLIENT = "client-key-for-tests"
KEY_A = "key-admin-a-000000"
KEY_B = "key-admin-b-000000"


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, simulator_process: Simulator) -> Iterator[Gateway]:
    env = {
        "POOLGATE_PROXY__ADMIN_PASSWORD": ADMIN,
        "POOLGATE_PROXY__API_KEY": CLIENT,
        "POOLGATE_PROXY__AUTH_MODE": "strict",
    }
    gateway = gateway_for_module(tmp_path_factory.mktemp("admin"), simulator_process, env, {"acc-a": KEY_A})
    yield gateway
    gateway.stop()


@pytest.fixture
def api(gw: Gateway, simulator: Simulator) -> httpx.Client:
    return httpx.Client(base_url=gw.base_url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=20)


def chat(gw: Gateway, model: str = "gpt-4o", content: str = "hi", **extra: Any) -> httpx.Response:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": content}], **extra}
    return httpx.post(f"{gw.v1}/chat/completions", json=body, headers={"Authorization": f"Bearer {CLIENT}"}, timeout=30)


def account_by_label(api: httpx.Client, label: str) -> dict[str, Any]:
    accounts = api.get("/api/accounts").json()["accounts"]
    return next(a for a in accounts if a["label"] == label)


def error_message(r: httpx.Response) -> str:
    return str(r.json()["error"]["message"])


# -- auth


def test_admin_routes_need_the_admin_password_not_the_client_key(gw: Gateway) -> None:
    url = f"{gw.base_url}/api/accounts"
    assert httpx.get(url).status_code == 401
    refused = httpx.get(url, headers={"Authorization": f"Bearer {CLIENT}"})
    assert refused.status_code == 401
    assert "Admin password" in error_message(refused)
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 200
    assert httpx.get(url, headers={"x-api-key": ADMIN}).status_code == 200
    # Every admin route refuses the client key, writes included.
    for method, path in (
        ("POST", "/api/accounts"),
        ("DELETE", "/api/cooldowns"),
        ("PUT", "/api/mapping"),
        ("PATCH", "/api/config"),
        ("GET", "/api/logs"),
        ("GET", "/api/stats"),
        ("GET", "/api/logs/stream"),
    ):
        r = httpx.request(method, f"{gw.base_url}{path}", headers={"Authorization": f"Bearer {CLIENT}"}, json={})
        assert r.status_code == 401, (method, path)
    # The admin password is not a client key.
    assert chat_with_key(gw, ADMIN).status_code == 401


def chat_with_key(gw: Gateway, key: str) -> httpx.Response:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(f"{gw.v1}/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def test_without_an_admin_password_the_client_key_opens_the_admin_api(make_gateway: Any) -> None:
    gw = make_gateway(env={"POOLGATE_PROXY__API_KEY": "only-client-key", "POOLGATE_PROXY__AUTH_MODE": "strict"})
    gw.start()
    url = f"{gw.base_url}/api/config"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer only-client-key"}).status_code == 200


def test_metrics_follow_the_client_auth_mode_and_openapi_is_public(gw: Gateway) -> None:
    assert httpx.get(f"{gw.base_url}/metrics").status_code == 401
    assert httpx.get(f"{gw.base_url}/metrics", headers={"Authorization": f"Bearer {CLIENT}"}).status_code == 200
    spec = httpx.get(f"{gw.base_url}/api/openapi.json")
    assert spec.status_code == 200
    assert spec.json()["openapi"].startswith("3.")


# -- accounts


def test_add_list_disable_enable_refresh_remove_an_account(
    gw: Gateway, api: httpx.Client, simulator: Simulator
) -> None:
    bad = api.post("/api/accounts", json={"label": "x"})
    assert bad.status_code == 400 and "'key'" in error_message(bad)
    assert api.post("/api/accounts", json={"key": 42}).status_code == 400
    assert api.post("/api/accounts", content=b"{not json").status_code == 400

    created = api.post("/api/accounts", json={"key": KEY_B, "label": "acc-b"})
    assert created.status_code == 201
    b = created.json()
    assert b["label"] == "acc-b" and b["state"] == "active" and b["kind"] == "api_key"
    assert KEY_B not in json.dumps(b)  # the secret is masked
    dup = api.post("/api/accounts", json={"key": KEY_B})
    assert dup.status_code == 409 and b["id"] in error_message(dup)

    listed = api.get("/api/accounts").json()
    assert {"acc-a", "acc-b"} <= {a["label"] for a in listed["accounts"]}
    assert listed["usable"] >= 2
    assert KEY_A not in json.dumps(listed)

    a = account_by_label(api, "acc-a")
    disabled = api.post(f"/api/accounts/{a['id']}/disable").json()
    assert disabled["state"] == "disabled" and disabled["enabled"] is False
    # With acc-a out of rotation the next request is answered by acc-b, at once (no restart, no poll wait).
    r = chat(gw)
    assert r.status_code == 200 and r.headers["x-account-email"] == "acc-b"
    enabled = api.post(f"/api/accounts/{a['id']}/enable").json()
    assert enabled["state"] == "active" and enabled["enabled"] is True

    refreshed = api.post(f"/api/accounts/{b['id']}/refresh").json()
    assert refreshed["refreshed"] is True and refreshed["models"] > 0
    assert "listModels" in [c["method"] for c in simulator.calls(KEY_B)]  # it asked upstream with that key

    assert api.get(f"/api/accounts/{b['id']}").json()["label"] == "acc-b"
    assert api.delete(f"/api/accounts/{b['id']}").json() == {"removed": b["id"]}
    assert "acc-b" not in {a["label"] for a in api.get("/api/accounts").json()["accounts"]}
    assert api.get(f"/api/accounts/{b['id']}").status_code == 404
    assert api.post("/api/accounts/nope/enable").status_code == 404
    assert api.post(f"/api/accounts/{a['id']}/explode").status_code == 404  # no such action
    # A known resource asked with the wrong method says which methods it takes (RFC 9110's Allow).
    wrong = api.get(f"/api/accounts/{a['id']}/enable")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "OPTIONS, POST"
    wrong = api.post(f"/api/accounts/{a['id']}")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "DELETE, GET, HEAD, OPTIONS"


def test_a_misspelt_field_or_an_empty_proxy_body_changes_nothing(gw: Gateway, api: httpx.Client) -> None:
    before = api.get("/api/accounts").json()["accounts"]
    # `proxy` for `proxy_url`: taken silently, the account would send from the gateway's own address.
    r = api.post("/api/accounts", json={"key": "AIzaTypo000000000000000000000000000", "proxy": "http://127.0.0.1:3128"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "proxy", r.text
    assert "'proxy_url'" in r.json()["error"]["message"]  # the message names the field that was meant
    assert api.get("/api/accounts").json()["accounts"] == before
    account = before[0]["id"]
    set_proxy = api.post(f"/api/accounts/{account}/proxy", json={"proxy_url": "http://127.0.0.1:3128"})
    assert set_proxy.status_code == 200 and set_proxy.json()["proxy"] == "http://127.0.0.1:3128"
    for body in (None, {}, {"url": ""}):
        r = api.post(f"/api/accounts/{account}/proxy", json=body)
        assert r.status_code == 400 and r.json()["error"]["param"] in ("proxy_url", "url"), r.text
    assert api.get(f"/api/accounts/{account}").json()["proxy"] == "http://127.0.0.1:3128"
    cleared = api.post(f"/api/accounts/{account}/proxy", json={"proxy_url": ""})
    assert cleared.status_code == 200 and cleared.json()["proxy"] == ""
    bad_flag = api.get("/api/logs", params={"errors": "null"})
    assert bad_flag.status_code == 400 and bad_flag.json()["error"]["param"] == "errors"


def test_a_key_or_label_that_cannot_travel_in_a_header_is_refused(gw: Gateway, api: httpx.Client) -> None:
    before = api.get("/api/accounts").json()["accounts"]
    # Taken, such a key failed every call of its account inside the HTTP client: a 500 and a dropped connection.
    for key in ("AIza\x02Bad00000000000", "AIzaÉtoile000000000", "AIza Bad 00000000", "short"):
        r = api.post("/api/accounts", json={"key": key})
        assert r.status_code == 400 and r.json()["error"]["param"] == "key", (key, r.text)
    r = api.post("/api/accounts", json={"key": "AIzaFineKey000000000", "label": "ops\x1bteam"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "label", r.text
    assert api.get("/api/accounts").json()["accounts"] == before
    cli = gw.cli("accounts", "add-key", "AIza\x02Bad00000000000", check=False)
    assert cli.returncode == 1 and "does not look like a Gemini API key" in cli.stdout + cli.stderr


def test_a_label_stored_with_a_control_character_does_not_break_answers(make_gateway: Any) -> None:
    gw = make_gateway()
    store = SqlStore.open(gw.data_dir)  # as a database written before labels were checked holds it
    try:
        store.add_account(Account(id="", kind=API_KEY, label="ops\x1bteam\nlead", secret="key-old-label-0000"))
    finally:
        store.close()
    gw.start()
    body = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}
    r = httpx.post(f"{gw.v1}/chat/completions", json=body, timeout=30)
    assert r.status_code == 200 and r.headers["x-account-email"] == "ops team lead"


def test_a_cooling_account_shows_its_countdown_and_the_cooldown_can_be_cleared(
    gw: Gateway, api: httpx.Client, simulator: Simulator
) -> None:
    simulator.script(KEY_A, {"status": 429, "reason": "RATE_LIMIT_EXCEEDED", "retry_delay": "90s"})
    before = time.time()
    r = chat(gw, model="gemini-2.5-flash")
    assert r.status_code == 429
    acc = account_by_label(api, "acc-a")
    assert acc["state"] == "cooling"
    assert acc["until"] is not None and before + 80 < acc["until"] < time.time() + 95
    assert acc["cooldowns"][0]["model"] == "gemini-2.5-flash"
    assert acc["last_error"]["status"] == 429
    cooldowns = api.get("/api/cooldowns").json()["cooldowns"]
    assert [c["account"] for c in cooldowns] == ["acc-a"]
    assert 80 < cooldowns[0]["seconds_left"] <= 90
    assert cooldowns[0]["kind"] == "rate_limit"

    assert api.delete("/api/cooldowns", params={"account": "nope"}).status_code == 404
    cleared = api.delete("/api/cooldowns", params={"account": acc["id"]}).json()["cleared"]
    assert cleared == [f"{acc['id']}:gemini-2.5-flash"]
    assert api.get("/api/cooldowns").json()["cooldowns"] == []
    assert account_by_label(api, "acc-a")["state"] == "active"
    assert chat(gw, model="gemini-2.5-flash").status_code == 200


# -- mapping


def test_mapping_crud_changes_the_mapped_model_of_the_next_call(gw: Gateway, api: httpx.Client) -> None:
    assert chat(gw, model="my-alias").headers["x-mapped-model"] == "my-alias"  # pass-through
    stored = api.put("/api/mapping", json={"pattern": "my-alias", "model": "gemini-2.5-pro"})
    assert stored.status_code == 200
    assert chat(gw, model="my-alias").headers["x-mapped-model"] == "gemini-2.5-pro"
    api.post("/api/mapping", json={"pattern": "my-*", "model": "gemini-2.5-flash-lite"})
    assert chat(gw, model="my-other").headers["x-mapped-model"] == "gemini-2.5-flash-lite"

    rules = api.get("/api/mapping").json()["rules"]
    assert {"pattern": "my-alias", "model": "gemini-2.5-pro", "source": "store"} in rules
    resolved = api.get("/api/mapping", params={"resolve": "my-thing"}).json()["resolved"]
    assert resolved == {
        "client_model": "my-thing",
        "model": "gemini-2.5-flash-lite",
        "rule": "custom-wildcard",
        "pattern": "my-*",
    }

    assert api.delete("/api/mapping", params={"pattern": "my-alias"}).json() == {"removed": "my-alias"}
    assert chat(gw, model="my-alias").headers["x-mapped-model"] == "gemini-2.5-flash-lite"  # the wildcard now
    assert api.delete("/api/mapping", params={"pattern": "my-*"}).status_code == 200
    assert api.delete("/api/mapping", params={"pattern": "my-*"}).status_code == 404
    missing = api.put("/api/mapping", json={"pattern": "x"})
    assert missing.status_code == 400 and "'model'" in error_message(missing)
    assert api.put("/api/mapping", json={"pattern": "x", "model": "gemini-*"}).status_code == 400
    bad_target = api.put("/api/mapping", json={"pattern": "x", "model": "gemini/../files"})
    assert bad_target.status_code == 400 and "letters, digits" in error_message(bad_target)


# -- config


def test_config_view_masks_secrets_and_live_keys_apply_without_restart(gw: Gateway, api: httpx.Client) -> None:
    view = api.get("/api/config").json()
    assert view["config"]["proxy"]["admin_password"] == "***"
    assert view["config"]["proxy"]["api_key"] == "***"
    assert ADMIN not in json.dumps(view) and CLIENT not in json.dumps(view)
    assert "scheduling.mode" in view["live_keys"] and "proxy.port" not in view["live_keys"]

    changed = api.patch(
        "/api/config", json={"scheduling": {"mode": "performance_first"}, "proxy": {"expose_account_header": False}}
    )
    assert changed.status_code == 200
    assert changed.json()["config"]["scheduling"]["mode"] == "performance_first"
    assert changed.json()["overrides"]["scheduling"] == {"mode": "performance_first"}
    r = chat(gw)
    assert r.status_code == 200 and "x-account-email" not in r.headers

    restart = api.patch("/api/config", json={"proxy": {"port": 9999}})
    assert restart.status_code == 400 and "proxy.port" in error_message(restart) and "restart" in error_message(restart)
    wrong = api.patch("/api/config", json={"scheduling": {"mode": "fastest"}})
    assert wrong.status_code == 400 and "scheduling.mode" in error_message(wrong)
    assert api.patch("/api/config", json={"monitor": {"retention_days": "many"}}).status_code == 400
    assert api.patch("/api/config", json={"nosuch": {}}).status_code == 400

    reset = api.delete("/api/config/overrides").json()
    assert reset["overrides"] == {} and reset["config"]["scheduling"]["mode"] == "balance"
    assert "x-account-email" in chat(gw).headers


def test_reload_rereads_the_config_file_and_names_keys_that_need_a_restart(gw: Gateway, api: httpx.Client) -> None:
    path = gw.data_dir / "poolgate.toml"
    path.write_text(
        '[monitor]\nretention_days = 12\n[proxy]\nmax_body_mb = 7\n[routing]\ncustom_mapping = { "file-alias" = "gemini-2.5-pro" }\n'
    )
    try:
        result = api.post("/api/config/reload").json()
        assert result["config"]["monitor"]["retention_days"] == 12
        assert result["restart_required"] == ["proxy.max_body_mb"]
        assert result["config"]["proxy"]["max_body_mb"] == 100  # still the running value
        assert chat(gw, model="file-alias").headers["x-mapped-model"] == "gemini-2.5-pro"
        assert {"pattern": "file-alias", "model": "gemini-2.5-pro", "source": "config"} in api.get(
            "/api/mapping"
        ).json()["rules"]
        path.write_text("[monitor]\nretention_days = 'x'\n")
        broken = api.post("/api/config/reload")
        assert broken.status_code == 400 and "monitor.retention_days" in error_message(broken)
    finally:
        path.unlink()
        api.post("/api/config/reload")
    assert api.get("/api/config").json()["config"]["monitor"]["retention_days"] == 30


# -- logs and stats


def test_logs_page_filter_and_detail(gw: Gateway, api: httpx.Client, simulator: Simulator) -> None:
    tag = f"page-{time.time_ns()}"
    api.put("/api/mapping", json={"pattern": f"{tag}-*", "model": "gemini-2.5-flash"})
    answers = [chat(gw, model=f"{tag}-{i}") for i in range(5)]
    assert [r.status_code for r in answers] == [200] * 5
    ids = [r.headers["x-request-id"] for r in answers]
    simulator.script(KEY_A, {"status": 400, "message": "Invalid value at 'contents' (scripted)"})
    assert chat(gw, model=f"{tag}-bad").status_code == 400

    everything = api.get("/api/logs", params={"q": tag, "limit": 100}).json()
    assert everything["total"] == 6
    assert [row["id"] for row in everything["items"][1:]] == list(reversed(ids))  # newest first
    first = api.get("/api/logs", params={"q": tag, "limit": 2}).json()
    second = api.get("/api/logs", params={"q": tag, "limit": 2, "offset": 2}).json()
    third = api.get("/api/logs", params={"q": tag, "limit": 2, "offset": 4}).json()
    paged = [row["id"] for page in (first, second, third) for row in page["items"]]
    assert paged == [row["id"] for row in everything["items"]]
    assert first["total"] == 6 and first["limit"] == 2 and second["offset"] == 2

    errors = api.get("/api/logs", params={"q": tag, "errors": "1"}).json()
    assert [row["client_model"] for row in errors["items"]] == [f"{tag}-bad"]
    assert errors["items"][0]["status"] == 400 and "scripted" in errors["items"][0]["error"]
    assert api.get("/api/logs", params={"q": tag, "status": "4xx"}).json()["total"] == 1
    assert api.get("/api/logs", params={"q": tag, "status": "200"}).json()["total"] == 5
    one_model = api.get("/api/logs", params={"model": f"{tag}-3"}).json()
    assert [row["id"] for row in one_model["items"]] == [ids[3]]
    by_account = api.get("/api/logs", params={"q": tag, "account": "acc-a"}).json()
    assert by_account["total"] == 6
    assert api.get("/api/logs", params={"q": tag, "account": "nobody"}).json()["total"] == 0

    detail = api.get(f"/api/logs/{ids[0]}").json()
    assert detail["client_model"] == f"{tag}-0" and detail["account"] == "acc-a" and detail["status"] == 200
    assert detail["route"] == "/v1/chat/completions" and detail["duration_ms"] > 0
    assert detail["input_tokens"] > 0 and detail["output_tokens"] > 0
    assert f"{tag}-0" in detail["request_body"] and "choices" in detail["response_body"]
    assert CLIENT not in json.dumps(detail)
    assert api.get("/api/logs/no-such-id").status_code == 404
    api.delete("/api/mapping", params={"pattern": f"{tag}-*"})

    for params in ({"limit": "0"}, {"limit": "x"}, {"offset": "-1"}, {"since": "yesterday"}):
        assert api.get("/api/logs", params=params).status_code == 400, params


def test_stats_count_requests_and_tokens(gw: Gateway, api: httpx.Client) -> None:
    before = api.get("/api/stats", params={"hours": 2}).json()
    r = chat(gw, model="gemini-2.5-pro")
    usage = r.json()["usage"]
    after = api.get("/api/stats", params={"hours": 2}).json()
    assert after["totals"]["requests"] == before["totals"]["requests"] + 1
    assert after["totals"]["input_tokens"] == before["totals"]["input_tokens"] + usage["prompt_tokens"]
    row = next(x for x in after["by_account_model"] if x["account"] == "acc-a" and x["model"] == "gemini-2.5-pro")
    assert row["requests"] >= 1
    assert sum(h["requests"] for h in after["by_hour"]) == after["totals"]["requests"]
    assert after["log"]["dropped_bodies"] == 0 and after["log"]["retention_days"] == 30
    assert api.get("/api/stats", params={"hours": 0}).status_code == 400


def test_live_feed_streams_finished_requests(gw: Gateway, api: httpx.Client) -> None:
    headers = {"Authorization": f"Bearer {ADMIN}"}
    with httpx.stream("GET", f"{gw.base_url}/api/logs/stream", headers=headers, timeout=20) as feed:
        assert feed.headers["content-type"].startswith("text/event-stream")
        lines = feed.iter_lines()
        assert next(lines).startswith("retry:")  # subscribed: what happens from here on is pushed
        r = chat(gw, model="gemini-2.5-flash-lite", content="feed")
        wanted = r.headers["x-request-id"]
        for line in lines:
            if line.startswith("data: ") and json.loads(line[6:])["id"] == wanted:
                row = json.loads(line[6:])
                break
    assert row["client_model"] == "gemini-2.5-flash-lite" and row["account"] == "acc-a" and row["status"] == 200
    assert "request_body" not in row


# -- the OpenAPI document


def test_openapi_documents_every_admin_route_and_matches_the_yaml(gw: Gateway) -> None:
    served = httpx.get(f"{gw.base_url}/api/openapi.json").json()
    source = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
    assert served == source, "regenerate src/poolgate/ui/openapi.json from docs/openapi.yaml (see docs/admin.md)"
    documented = {(m.upper(), p) for p, item in served["paths"].items() for m in item if m != "parameters"}
    router = default_routes()
    for path, methods in router.exact.items():
        for method, route in methods.items():
            if route.auth == ADMIN_AUTH:
                assert (method, path) in documented, (method, path)
    for prefix, methods in router.prefixes:
        for method, route in methods.items():
            if route.auth == ADMIN_AUTH:
                assert any(m == method and p.startswith(prefix) for m, p in documented), (method, prefix)


# -- the UI's static files


def test_ui_files_are_served_from_the_package_without_auth(gw: Gateway) -> None:
    page = httpx.get(f"{gw.base_url}/ui/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]  # nothing from a CDN can load
    assert 'src="app.js"' in page.text and "://" not in page.text
    script = httpx.get(f"{gw.base_url}/ui/app.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert httpx.get(f"{gw.base_url}/ui/style.css").headers["content-type"].startswith("text/css")
    redirect = httpx.get(f"{gw.base_url}/ui")
    assert redirect.status_code == 308 and redirect.headers["location"] == "/ui/"
    home = httpx.get(f"{gw.base_url}/")  # the gateway's bare address, opened in a browser
    assert home.status_code == 307 and home.headers["location"] == "/ui/"
    assert httpx.get(f"{gw.base_url}/ui/missing.js").status_code == 404
    with httpx.Client() as raw:
        # A path that climbs out of the UI directory is refused, whatever the encoding.
        for path in ("/ui/../pyproject.toml", "/ui/%2e%2e/%2e%2e/services.py", "/ui/views/../../services.py"):
            request = raw.build_request("GET", f"{gw.base_url}/")
            request.url = request.url.copy_with(raw_path=path.encode())
            assert raw.send(request).status_code == 404, path
