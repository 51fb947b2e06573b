"""The seed tutorial's five checkpoints, with the official openai SDK and with raw HTTP."""

from __future__ import annotations

import httpx
import openai

from tests.conftest import Gateway


def test_checkpoint_1_health_and_models(module_gateway: Gateway) -> None:
    health = httpx.get(f"{module_gateway.base_url}/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    models = httpx.get(f"{module_gateway.v1}/models").json()
    assert models["object"] == "list"
    assert isinstance(models["data"], list) and models["data"]
    assert {"id", "object", "created", "owned_by"} <= set(models["data"][0])
    sdk_ids = [m.id for m in openai.OpenAI(api_key="sk-anything", base_url=module_gateway.v1).models.list()]
    assert "gemini-2.5-flash" in sdk_ids


def test_checkpoint_2_chat_completion_with_sdk(module_gateway: Gateway) -> None:
    client = openai.OpenAI(api_key="sk-antigravity", base_url=module_gateway.v1)
    response = client.chat.completions.create(
        model="gemini-3-flash", messages=[{"role": "user", "content": "Hola, por favor preséntate"}]
    )
    content = response.choices[0].message.content
    assert content and "Hola, por favor preséntate" in content
    assert response.choices[0].finish_reason == "stop"
    assert response.usage is not None and response.usage.total_tokens > 0


def test_checkpoint_2_chat_completion_raw(module_gateway: Gateway) -> None:
    r = httpx.post(
        f"{module_gateway.v1}/chat/completions",
        json={"model": "gemini-3-flash", "messages": [{"role": "user", "content": "hola"}]},
    )
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["content"].endswith("hola")


def test_checkpoint_3_stream_sse_ends_with_done(module_gateway: Gateway) -> None:
    body = {
        "model": "gemini-3-flash",
        "stream": True,
        "messages": [{"role": "user", "content": "Explica en tres oraciones qué es un gateway"}],
    }
    with httpx.stream("POST", f"{module_gateway.v1}/chat/completions", json=body) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    assert len(lines) > 3


def test_checkpoint_3_stream_with_sdk_and_usage(module_gateway: Gateway) -> None:
    client = openai.OpenAI(api_key="x", base_url=module_gateway.v1)
    stream = client.chat.completions.create(
        model="gemini-3-flash",
        messages=[{"role": "user", "content": "stream please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text = ""
    usage = None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage:
            usage = chunk.usage
    assert text.endswith("stream please")
    assert usage is not None and usage.completion_tokens > 0


def test_checkpoint_4_responses(module_gateway: Gateway) -> None:
    r = httpx.post(
        f"{module_gateway.v1}/responses",
        json={
            "model": "gemini-3-flash",
            "instructions": "Eres un revisor de código riguroso.",
            "input": "Por favor señala el bug:\n\nfunction add(a, b) { return a - b }",
        },
    )
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "response"
    assert body["output"][0]["content"][0]["type"] == "output_text"
    client = openai.OpenAI(api_key="x", base_url=module_gateway.v1)
    resp = client.responses.create(model="gemini-3-flash", instructions="be brief", input="hello there")
    assert resp.output_text.endswith("hello there")
    listed = client.responses.create(model="gemini-3-flash", input=[{"role": "user", "content": "message list input"}])
    assert "message list input" in listed.output_text
    # The instructions reach the upstream as the system instruction.
    sent = [c for c in gateway_calls(module_gateway) if c["method"] == "generateContent"]
    assert any("be brief" in str(c["body"].get("systemInstruction")) for c in sent)


def gateway_calls(gateway: Gateway) -> list[dict[str, object]]:
    sim_url = gateway.env["POOLGATE_UPSTREAM__GEMINI_API_BASE"]
    calls: list[dict[str, object]] = httpx.get(f"{sim_url}/_sim/calls").json()["calls"]
    return calls


def test_checkpoint_5_mapped_model_header(module_gateway: Gateway) -> None:
    r = httpx.post(
        f"{module_gateway.v1}/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert r.status_code == 200
    assert r.headers["x-mapped-model"] == "gemini-2.5-flash"
    assert r.headers["x-account-email"] == "key-a"
    assert r.headers["x-request-id"]
    assert float(r.headers["x-poolgate-overhead-ms"]) >= 0
    raw = openai.OpenAI(api_key="x", base_url=module_gateway.v1).chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-mapped-model"] == "gemini-2.5-flash"


def test_legacy_completions(module_gateway: Gateway) -> None:
    client = openai.OpenAI(api_key="x", base_url=module_gateway.v1)
    result = client.completions.create(model="gemini-3-flash", prompt="Say this is a test")
    assert result.choices[0].text.endswith("Say this is a test")
    chunks = list(client.completions.create(model="gemini-3-flash", prompt="stream it", stream=True))
    assert "".join(c.choices[0].text for c in chunks if c.choices).endswith("stream it")
