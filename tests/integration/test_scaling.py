"""Two `poolgate serve` processes on one store and one Redis share cooldowns: a key that one instance saw
throttled is not used by the other while it cools."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis

from poolgate import __version__
from tests.conftest import Gateway, Simulator
from tests.servers import PgCluster, Postgres, Redis, free_port, start_redis, stop_process
from tests.support import poll

CHAT = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}
KEY_A, KEY_B = "key-a-0000000000", "key-b-0000000000"


def chat(gw: Gateway) -> httpx.Response:
    return httpx.post(f"{gw.v1}/chat/completions", json=CHAT, timeout=30)


def generate_calls(simulator: Simulator, key: str) -> int:
    return sum(1 for c in simulator.calls(key) if c["method"] == "generateContent")


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_cooldown_seen_by_one_instance_holds_on_the_other(
    database: str,
    request: pytest.FixtureRequest,
    make_gateway: Any,
    simulator: Simulator,
    redis_server: Redis,
    tmp_path: Path,
) -> None:
    if database == "postgresql":
        server: Postgres = request.getfixturevalue("postgres_server")
        database_url = server.new_database()
    else:
        database_url = f"sqlite:///{tmp_path / 'shared.db'}"
    env = {
        "POOLGATE_STORE__DATABASE_URL": database_url,
        "POOLGATE_STORE__REDIS_URL": redis_server.url,
        "POOLGATE_SCHEDULING__MODE": "performance_first",
    }
    first: Gateway = make_gateway(env=env, name="a")
    second: Gateway = make_gateway(env=env, name="b")
    first.add_key(KEY_A, "a")
    first.add_key(KEY_B, "b")
    # Secrets are encrypted with the data directory's key: every instance needs the same key file.
    shutil.copy(first.data_dir / "secret.key", second.data_dir / "secret.key")
    first.start()
    second.start()

    simulator.script(KEY_A, {"status": 429, "reason": "RATE_LIMIT_EXCEEDED", "retry_delay": "30s"})
    # Instance A spreads its requests, so within two requests it meets key-a's 429 and rotates to key-b.
    for _ in range(2):
        assert chat(first).status_code == 200
        if generate_calls(simulator, KEY_A):
            break
    assert generate_calls(simulator, KEY_A) == 1

    # Instance B never saw that 429, yet it leaves key-a alone while the cooldown runs.
    answers = [chat(second) for _ in range(5)]
    assert [r.status_code for r in answers] == [200] * 5
    assert {r.headers["x-account-email"] for r in answers} == {"b"}
    assert generate_calls(simulator, KEY_A) == 1
    assert "cooling" in second.cli("accounts", "list").stdout


def test_wrong_admin_passwords_count_across_instances(make_gateway: Any, redis_server: Redis, tmp_path: Path) -> None:
    env = {
        "POOLGATE_STORE__DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}",
        "POOLGATE_STORE__REDIS_URL": redis_server.url,
        "POOLGATE_PROXY__ADMIN_PASSWORD": "right-horse-battery",
    }
    first: Gateway = make_gateway(env=env, name="lock-a").start()
    second: Gateway = make_gateway(env=env, name="lock-b").start()

    def get(gw: Gateway, password: str, address: str = "203.0.113.51") -> httpx.Response:
        # Both trust X-Forwarded-For from 127.0.0.1 (a local reverse proxy), so it names the client.
        headers = {"x-forwarded-for": address, "authorization": f"Bearer {password}"}
        return httpx.get(f"{gw.base_url}/api/accounts", headers=headers, timeout=10)

    # Ten guesses, taking turns between the instances: five each, below the limit of ten on either alone.
    for n in range(10):
        assert get(first if n % 2 else second, "guess").status_code == 401
    for gw in (first, second):
        locked = get(gw, "right-horse-battery")
        assert locked.status_code == 429 and locked.json()["error"]["code"] == "too_many_failed_sign_ins"
        assert 1 <= int(locked.headers["retry-after"]) <= 300
    assert get(second, "right-horse-battery", address="198.51.100.51").status_code == 200


def gateway_on_redis(make_gateway: Any, port: int) -> Gateway:
    """A started gateway with one key, its shared state in the Redis on `port`."""
    gw: Gateway = make_gateway(env={"POOLGATE_STORE__REDIS_URL": f"redis://127.0.0.1:{port}/0"})
    gw.add_key(KEY_A, "a")
    return gw.start()


def test_while_redis_is_down_requests_get_a_503_and_resume_after(make_gateway: Any, tmp_path: Path) -> None:
    # Without the shared cooldowns an instance could send traffic to an account another saw throttled,
    # so requests are refused in the client's protocol (not a 500 and a traceback each) until Redis is back.
    port = free_port()
    redis = start_redis(port)
    try:
        gw = gateway_on_redis(make_gateway, port)
        assert chat(gw).status_code == 200
        assert httpx.get(f"{gw.base_url}/readyz").json() == {
            "status": "ready",
            "version": __version__,
            "accounts_usable": 1,
            "problems": [],
        }
        stop_process(redis)
        # A load balancer's readiness probe sees it too, and can send traffic to instances that can serve.
        probe = httpx.get(f"{gw.base_url}/readyz")
        assert probe.status_code == 503 and probe.json()["status"] == "not ready"
        assert probe.json()["problems"] == ["shared state cannot be reached (ConnectionError)"]
        down = chat(gw)
        assert down.status_code == 503 and down.headers["retry-after"] == "5"
        assert down.json()["error"]["code"] == "state_unavailable" and "Redis" in down.json()["error"]["message"]
        anthropic_down = httpx.post(
            f"{gw.base_url}/v1/messages",
            json={"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
            headers={"anthropic-version": "2023-06-01"},
            timeout=30,
        )
        assert anthropic_down.status_code == 503 and anthropic_down.json()["error"]["type"] == "overloaded_error"
        redis = start_redis(port)
        assert chat(gw).status_code == 200
        assert httpx.get(f"{gw.base_url}/readyz").status_code == 200
        assert "Traceback" not in gw.output() and "Redis cannot be reached" in gw.output()
    finally:
        stop_process(redis)


def test_a_database_outage_loses_no_request_log_rows(make_gateway: Any) -> None:
    # Requests go on from the accounts already loaded; their log rows wait and are written once the
    # database is back, and the gateway's log says so in a line or two instead of a traceback per flush.
    cluster = PgCluster.create()
    try:
        url = cluster.server.new_database()
        gw: Gateway = make_gateway(
            env={"POOLGATE_STORE__DATABASE_URL": url, "POOLGATE_PROXY__ADMIN_PASSWORD": "admin-outage"}
        )
        gw.add_key(KEY_A, "a")
        gw.start()
        assert chat(gw).status_code == 200
        first = httpx.post(f"{gw.v1}/responses", json={"model": "gemini-2.5-flash", "input": "hi"}, timeout=30)
        assert first.status_code == 200
        cluster.stop()
        assert [chat(gw).status_code for _ in range(6)] == [200] * 6
        # A stored conversation cannot be read back meanwhile: a 503 that says so, not a 500.
        follow = {"model": "gemini-2.5-flash", "input": "and?", "previous_response_id": first.json()["id"]}
        later = httpx.post(f"{gw.v1}/responses", json=follow, timeout=30)
        assert later.status_code == 503 and later.json()["error"]["code"] == "store_unavailable"
        admin = httpx.get(f"{gw.base_url}/api/accounts", headers={"authorization": "Bearer admin-outage"}, timeout=30)
        assert admin.status_code == 503 and admin.json()["error"]["code"] == "store_unavailable"
        probe = httpx.get(f"{gw.base_url}/readyz", timeout=30)
        assert probe.status_code == 503 and probe.json()["problems"] == [
            "database cannot be reached (OperationalError)"
        ]
        time.sleep(2)  # four flushes fail meanwhile
        cluster.start()
        poll(lambda: httpx.get(f"{gw.base_url}/readyz", timeout=30).status_code == 200, "the probe to pass again", 15)

        def logged() -> bool:
            with psycopg.connect(url) as conn:
                row = conn.execute("SELECT count(*) FROM request_logs").fetchone()
            return row is not None and row[0] == 9

        poll(logged, "the rows of the outage to reach the database", 15)
        # Said right after the batch that went through, so it may follow the rows by a moment.
        poll(lambda: "request log written again" in gw.output(), "the log to say the writes resumed", 5)
        output = gw.output()
        assert "Traceback" not in output, output
        assert output.count("request log cannot be written") == 1 and "request log written again" in output
    finally:
        cluster.remove()


def redis_calls(client: redis.Redis) -> dict[str, int]:
    stats: dict[str, Any] = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(entry["calls"]) for name, entry in stats.items()}


def test_a_request_costs_the_shared_redis_few_commands_and_its_success_is_recorded_after_the_answer(
    make_gateway: Any, simulator: Simulator
) -> None:
    # Every command is a round trip from every instance: a pick reads its accounts' cooldowns and the
    # conversation's binding at once (one script, whatever the number of accounts), rewrites the binding
    # only once a minute, and tells Redis of the success (failure counts cleared) after the answer has
    # gone. Before: five commands per request, two of them reading every cooldown of every account.
    port = free_port()
    server = start_redis(port)
    try:
        gw = gateway_on_redis(make_gateway, port)
        client = redis.Redis(port=port)
        assert chat(gw).status_code == 200  # binds the conversation
        before = redis_calls(client)
        for _ in range(20):
            assert chat(gw).status_code == 200
        after = redis_calls(client)
        spent = {name: after.get(name, 0) - before.get(name, 0) for name in after}
        spent["info"] -= 1
        assert spent.get("hgetall", 0) == 0
        # The pick is one script (EVALSHA) whose HMGET and GET Redis counts as commands of their own; what
        # travels is the script and, after the answer, one UNLINK: two round trips per request.
        assert spent["evalsha"] == 20 and spent["hmget"] == 20, spent
        round_trips = sum(count for name, count in spent.items() if name not in ("hmget", "get"))
        assert round_trips <= 20 * 2 + 2, spent

        # A failed attempt is counted; the success that follows clears the count, once it has answered.
        simulator.script(KEY_A, {"status": 500, "message": "backend error"}, {"text": "second try"})
        answer = chat(gw)
        assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"] == "second try"
        poll(lambda: not client.keys("poolgate:fail:*"), "the failure count to be cleared", 10)
    finally:
        stop_process(server)
