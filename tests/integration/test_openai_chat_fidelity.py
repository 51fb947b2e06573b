"""OpenAI Chat fidelity end to end: the official SDK against `poolgate serve` and the simulator.

One gateway process serves the whole module. Its media allowlist admits the literal host 127.0.0.1
(the test's own file server) and nothing else, so `localhost`, private ranges and redirects to the
metadata address must all be refused with a 400 that names the client field.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import Gateway, Simulator
from tests.integration.gateways import gateway_for_module
from tests.support import GROUNDED_ANSWER, GROUNDED_CITATIONS, GROUNDED_TEXT

KEY = "key-chat-fidelity-0001"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "$schema": "http://json-schema.org/draft-07/schema#",
            "additionalProperties": False,
            "properties": {"city": {"type": "string", "title": "City"}},
            "required": ["city"],
        },
    },
}


class _Files(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        port = self.server.server_address[1]
        if self.path == "/cat.png":
            self._send(200, PNG, "image/png")
        elif self.path == "/big.bin":
            self._send(200, b"\x00" * (2 * 1024 * 1024 + 10), "application/octet-stream")
        elif self.path == "/to-metadata":
            self._redirect("http://169.254.169.254/latest/meta-data/iam/security-credentials/")
        elif self.path == "/to-localhost":
            self._redirect(f"http://localhost:{port}/cat.png")
        elif self.path == "/to-cat":
            self._redirect("/cat.png")
        else:
            self._send(404, b"missing", "text/plain")

    def _send(self, status: int, body: bytes, mime: str) -> None:
        self.send_response(status)
        self.send_header("content-type", mime)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, where: str) -> None:
        self.send_response(302)
        self.send_header("location", where)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def files() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, simulator_process: Simulator) -> Iterator[Gateway]:
    env = {"POOLGATE_UPSTREAM__MEDIA_FETCH_ALLOWLIST": '["127.0.0.1"]', "POOLGATE_UPSTREAM__MEDIA_FETCH_MAX_MB": "1"}
    gateway = gateway_for_module(tmp_path_factory.mktemp("chat-fidelity"), simulator_process, env, {"chat": KEY})
    yield gateway
    gateway.stop()


@pytest.fixture
def client(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-test", base_url=gw.v1, max_retries=0)


def upstream_bodies(sim: Simulator) -> list[dict[str, Any]]:
    return [c["body"] for c in sim.calls(KEY) if c["method"] in ("generateContent", "streamGenerateContent")]


def _assistant(message: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = message.model_dump(exclude_none=True)
    dumped.pop("reasoning_content", None)
    return dumped


@pytest.mark.parametrize("stream", [False, True])
def test_sdk_tool_loop_on_a_signature_checking_model(
    client: openai.OpenAI, simulator_process: Simulator, stream: bool
) -> None:
    # gemini-3 in the simulator rejects a replayed call without its thought signature, as Google does.
    model = "gemini-3-pro-preview"
    messages: list[Any] = [{"role": "user", "content": 'Weather? CALL_TOOL get_weather {"city": "Paris"}'}]
    if stream:
        with client.chat.completions.stream(model=model, messages=messages, tools=[WEATHER]) as s:
            first = s.get_final_completion()
    else:
        first = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert len(calls) == 1 and calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == {"city": "Paris"}
    assert calls[0].id.startswith("call_")

    messages.append(_assistant(choice.message))
    messages.append({"role": "tool", "tool_call_id": calls[0].id, "content": '{"temp_c": 18}'})
    if stream:
        with client.chat.completions.stream(model=model, messages=messages, tools=[WEATHER]) as s:
            second = s.get_final_completion()
    else:
        second = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER])
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == 'Tool result: {"temp_c":18}'
    # The replayed call went upstream with the signature Gemini issued, which the client never saw.
    replay = upstream_bodies(simulator_process)[-1]
    call_part = replay["contents"][1]["parts"][0]
    assert call_part["functionCall"] == {"name": "get_weather", "args": {"city": "Paris"}, "id": calls[0].id}
    assert call_part["thoughtSignature"].startswith("sig-")
    assert replay["contents"][2]["parts"][0]["functionResponse"]["id"] == calls[0].id
    # The schema reached Gemini cleaned.
    params = replay["tools"][0]["functionDeclarations"][0]["parameters"]
    assert "$schema" not in params and "additionalProperties" not in params


def test_streamed_parallel_calls_of_one_function_stay_apart(client: openai.OpenAI) -> None:
    text = 'Both please.\nCALL_TOOL get_weather {"city": "Paris"}\nCALL_TOOL get_weather {"city": "London"}'
    messages: list[Any] = [{"role": "user", "content": text}]
    with client.chat.completions.stream(model="gemini-2.5-flash", messages=messages, tools=[WEATHER]) as s:
        final = s.get_final_completion()
    calls = final.choices[0].message.tool_calls or []
    assert [json.loads(c.function.arguments) for c in calls] == [{"city": "Paris"}, {"city": "London"}]
    assert [c.function.name for c in calls] == ["get_weather", "get_weather"]
    assert len({c.id for c in calls}) == 2
    assert final.choices[0].finish_reason == "tool_calls"
    # Raw deltas: each call has its own index.
    raw = client.chat.completions.create(model="gemini-2.5-flash", messages=messages, tools=[WEATHER], stream=True)
    indices = {tc.index for chunk in raw for ch in chunk.choices for tc in ch.delta.tool_calls or []}
    assert indices == {0, 1}
    # Both results go back in one turn and the model answers.
    messages.append(_assistant(final.choices[0].message))
    for call, temp in zip(calls, (18, 12), strict=True):
        messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temp_c": temp})})
    answer = client.chat.completions.create(model="gemini-2.5-flash", messages=messages, tools=[WEATHER])
    assert answer.choices[0].message.content == 'Tool result: {"temp_c":18}'


def test_unknown_history_call_degrades_instead_of_400(client: openai.OpenAI, simulator_process: Simulator) -> None:
    # A call id poolgate never issued (another gateway, a restart): no signature exists for it.
    messages: Any = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "call_foreign", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_foreign", "content": "sunny"},
    ]
    out = client.chat.completions.create(model="gemini-3-pro-preview", messages=messages, tools=[WEATHER])
    assert out.choices[0].finish_reason == "stop"
    sent = upstream_bodies(simulator_process)[-1]["contents"]
    assert all("functionCall" not in p for c in sent for p in c["parts"])
    assert "get_weather" in sent[1]["parts"][0]["text"]


def test_reasoning_effort_returns_reasoning_content(client: openai.OpenAI, simulator_process: Simulator) -> None:
    out = client.chat.completions.create(
        model="gemini-2.5-flash", reasoning_effort="high", messages=[{"role": "user", "content": "think"}]
    )
    sent = upstream_bodies(simulator_process)[-1]["generationConfig"]["thinkingConfig"]
    assert sent == {"thinkingBudget": 24576, "includeThoughts": True}
    assert out.choices[0].message.model_extra is not None
    assert out.choices[0].message.model_extra["reasoning_content"] == "Let me think about that."
    assert out.usage is not None and out.usage.completion_tokens_details is not None
    assert (out.usage.completion_tokens_details.reasoning_tokens or 0) > 0
    stream = client.chat.completions.create(
        model="gemini-3-flash-preview",
        reasoning_effort="low",
        messages=[{"role": "user", "content": "think"}],
        stream=True,
    )
    thoughts = "".join(
        (ch.delta.model_extra or {}).get("reasoning_content") or "" for chunk in stream for ch in chunk.choices
    )
    assert thoughts == "Let me think about that."
    assert upstream_bodies(simulator_process)[-1]["generationConfig"]["thinkingConfig"]["thinkingLevel"] == "low"


def test_structured_output_n_and_logprobs(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"primes": {"type": "array", "items": {"type": "integer"}}, "label": {"type": "string"}},
        "required": ["primes", "label"],
    }
    out = client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "primes"}],
        response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": schema, "strict": True}},
        n=2,
    )
    assert [c.index for c in out.choices] == [0, 1]
    assert json.loads(out.choices[0].message.content or "") == {"primes": [], "label": "x"}
    probs = client.chat.completions.create(
        model="gemini-2.0-flash",
        messages=[{"role": "user", "content": "hello"}],
        logprobs=True,
        top_logprobs=2,
        user="someone",
        metadata={"team": "a"},
    )
    content = probs.choices[0].logprobs.content if probs.choices[0].logprobs else None
    assert content and len(content[0].top_logprobs) == 2
    assert "".join(t.token for t in content) == probs.choices[0].message.content


def test_media_urls_are_fetched_and_inlined(client: openai.OpenAI, files: str, simulator_process: Simulator) -> None:
    content: Any = [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": f"{files}/to-cat"}},
        {"type": "input_audio", "input_audio": {"data": base64.b64encode(b"RIFF").decode(), "format": "wav"}},
    ]
    out = client.chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": content}])
    assert out.choices[0].message.content
    parts = upstream_bodies(simulator_process)[-1]["contents"][0]["parts"]
    assert parts[1] == {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}}
    assert parts[2]["inlineData"]["mimeType"] == "audio/wav"


SSRF_URLS = [
    "http://10.0.0.7/secret.png",
    "http://192.168.1.1/router.png",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:{port}/cat.png",
    "http://[::ffff:127.0.0.1]:{port}/cat.png",
    "http://0.0.0.0:{port}/cat.png",
    "http://localhost:{port}/cat.png",
    "{files}/to-metadata",
    "{files}/to-localhost",
    "{files}/big.bin",
    "file:///etc/passwd",
]


@pytest.mark.parametrize("template", SSRF_URLS)
def test_ssrf_matrix_is_refused_with_400(gw: Gateway, files: str, simulator_process: Simulator, template: str) -> None:
    url = template.format(files=files, port=files.rsplit(":", 1)[1])
    before = len(upstream_bodies(simulator_process))
    body = {
        "model": "gemini-2.5-flash",
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": url}}],
            }
        ],
    }
    r = httpx.post(f"{gw.v1}/chat/completions", json=body, timeout=30)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "messages[0].content[1].image_url.url"
    assert "messages[0].content[1].image_url.url" in error["message"]
    assert len(upstream_bodies(simulator_process)) == before  # nothing reached the upstream


def test_unsupported_part_and_bad_tool_choice_are_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as bad_part:
        client.chat.completions.create(
            model="gemini-2.5-flash",
            messages=[{"role": "user", "content": [{"type": "video_url", "video_url": {"url": "x"}}]}],  # type: ignore[list-item]
        )
    assert "messages[0].content[0].type" in str(bad_part.value)
    with pytest.raises(openai.BadRequestError) as bad_choice:
        client.chat.completions.create(
            model="gemini-2.5-flash",
            messages=[{"role": "user", "content": "x"}],
            tools=[WEATHER],
            tool_choice={"type": "function", "function": {"name": "nope"}},
        )
    assert "tool_choice.function.name" in str(bad_choice.value)


@pytest.mark.parametrize("model", ["gemini-2.5-flash\u0000", "gemini-2.5-flash/../../v1beta/cachedContents"])
def test_a_model_name_that_is_no_upstream_model_is_a_400(gw: Gateway, simulator_process: Simulator, model: str) -> None:
    # A NUL used to reach the x-mapped-model header and drop the connection; a path would have sent the
    # account's key to another Google endpoint.
    before = len(simulator_process.calls(KEY))
    r = httpx.post(f"{gw.v1}/chat/completions", json={"model": model, "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "model" and "letters, digits" in r.json()["error"]["message"]
    assert len(simulator_process.calls(KEY)) == before


def test_a_role_or_part_type_of_the_wrong_json_type_is_a_400(gw: Gateway) -> None:
    for message, field in (
        ({"role": ["user"], "content": "x"}, "messages[0].role"),
        ({"role": "user", "content": [{"type": {"a": 1}, "text": "x"}]}, "messages[0].content[0].type"),
    ):
        body = {"model": "gemini-2.5-flash", "messages": [message]}
        r = httpx.post(f"{gw.v1}/chat/completions", json=body)
        assert r.status_code == 400 and r.json()["error"]["param"] == field, r.text


def test_named_tool_choice_restricts_functions(client: openai.OpenAI, simulator_process: Simulator) -> None:
    client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "x"}],
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    config = upstream_bodies(simulator_process)[-1]["toolConfig"]
    assert config == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}


PATCH_TOOL: Any = {
    "type": "custom",
    "custom": {
        "name": "apply_patch",
        "description": "Apply a patch to the files.",
        "format": {
            "type": "grammar",
            "grammar": {"syntax": "lark", "definition": 'start: "*** Begin Patch" /(.|\\n)*/'},
        },
    },
}


@pytest.mark.parametrize("stream", [False, True])
def test_custom_tool_round_trip(client: openai.OpenAI, simulator_process: Simulator, stream: bool) -> None:
    patch = "*** Begin Patch\n*** End Patch"
    messages: Any = [{"role": "user", "content": "Patch. CALL_TOOL apply_patch " + json.dumps({"input": patch})}]
    choice: Any = {"type": "custom", "custom": {"name": "apply_patch"}}
    if stream:
        deltas: list[Any] = []
        reason = None
        for chunk in client.chat.completions.create(
            model="gemini-2.5-flash", messages=messages, tools=[PATCH_TOOL], tool_choice=choice, stream=True
        ):
            for c in chunk.choices:
                deltas += [d.model_dump(exclude_none=True) for d in c.delta.tool_calls or []]
                reason = c.finish_reason or reason
        head, rest = deltas
        assert head["type"] == "custom" and head["custom"] == {"name": "apply_patch", "input": ""}
        assert rest == {"index": 0, "custom": {"input": patch}}
        call_id, name, text = head["id"], "apply_patch", patch
    else:
        first = client.chat.completions.create(
            model="gemini-2.5-flash", messages=messages, tools=[PATCH_TOOL], tool_choice=choice
        )
        reason = first.choices[0].finish_reason
        (call,) = first.choices[0].message.tool_calls or []
        assert call.type == "custom"
        call_id, name, text = call.id, call.custom.name, call.custom.input
    assert reason == "tool_calls" and (name, text) == ("apply_patch", patch)
    declared = upstream_bodies(simulator_process)[-1]
    (decl,) = declared["tools"][0]["functionDeclarations"]
    assert decl["parameters"]["required"] == ["input"]
    assert "*** Begin Patch" in decl["parameters"]["properties"]["input"]["description"]  # the grammar, as words
    assert declared["toolConfig"]["functionCallingConfig"] == {"mode": "ANY", "allowedFunctionNames": ["apply_patch"]}
    # The client replays the call and answers it; the model sees the answer as the call's response.
    messages += [
        {
            "role": "assistant",
            "tool_calls": [{"id": call_id, "type": "custom", "custom": {"name": name, "input": text}}],
        },
        {"role": "tool", "tool_call_id": call_id, "content": "Applied."},
    ]
    second = client.chat.completions.create(model="gemini-2.5-flash", messages=messages, tools=[PATCH_TOOL])
    assert second.choices[0].message.content == 'Tool result: {"result":"Applied."}'
    replayed = upstream_bodies(simulator_process)[-1]["contents"][1]["parts"][0]["functionCall"]
    assert replayed["name"] == "apply_patch" and replayed["args"] == {"input": patch}


def test_custom_tool_with_a_bad_grammar_is_a_400(gw: Gateway, simulator_process: Simulator) -> None:
    before = len(upstream_bodies(simulator_process))
    tool = {"type": "custom", "custom": {"name": "t", "format": {"type": "grammar", "grammar": {"syntax": "lark"}}}}
    body = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "x"}], "tools": [tool]}
    r = httpx.post(f"{gw.v1}/chat/completions", json=body)
    assert r.status_code == 400 and r.json()["error"]["param"] == "tools[0].custom.format.grammar.definition", r.text
    assert len(upstream_bodies(simulator_process)) == before


def test_logprobs_refused_by_the_model_is_a_clear_400(client: openai.OpenAI, simulator_process: Simulator) -> None:
    message = "Logprobs is not enabled for models/gemini-3-pro-preview"
    simulator_process.script(KEY, {"status": 400, "reason": "INVALID_ARGUMENT", "message": message})
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="gemini-3-pro-preview", messages=[{"role": "user", "content": "x"}], logprobs=True
        )
    assert message in str(refused.value)


def test_streamed_usage_counts_reasoning_tokens(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gemini-2.5-flash",
        reasoning_effort="medium",
        messages=[{"role": "user", "content": "think"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    usage = [chunk.usage for chunk in stream if chunk.usage is not None]
    assert len(usage) == 1 and usage[0].completion_tokens_details is not None
    reasoning = usage[0].completion_tokens_details.reasoning_tokens or 0
    assert reasoning > 0 and usage[0].completion_tokens > reasoning


def test_deprecated_functions_api_round_trip(client: openai.OpenAI) -> None:
    functions: Any = [WEATHER["function"]]
    messages: Any = [{"role": "user", "content": 'CALL_TOOL get_weather {"city": "Rome"}'}]
    first = client.chat.completions.create(model="gemini-2.5-flash", messages=messages, functions=functions)
    call = first.choices[0].message.function_call
    assert first.choices[0].finish_reason == "function_call"
    assert call is not None and call.name == "get_weather" and json.loads(call.arguments) == {"city": "Rome"}
    messages += [
        {"role": "assistant", "content": None, "function_call": {"name": call.name, "arguments": call.arguments}},
        {"role": "function", "name": "get_weather", "content": '{"temp_c": 21}'},
    ]
    second = client.chat.completions.create(model="gemini-2.5-flash", messages=messages, functions=functions)
    assert second.choices[0].message.content == 'Tool result: {"temp_c":21}'


def test_web_search_options_ground_the_answer_with_url_citations(
    client: openai.OpenAI, simulator_process: Simulator
) -> None:
    simulator_process.script(KEY, {"raw": GROUNDED_ANSWER})
    done = client.chat.completions.create(
        model="gemini-2.5-flash",
        messages=[{"role": "user", "content": "How are prices?"}],
        web_search_options={"search_context_size": "low"},
    )
    assert upstream_bodies(simulator_process)[-1]["tools"] == [{"googleSearch": {}}]
    message = done.choices[0].message
    assert message.content == GROUNDED_TEXT
    notes = message.annotations or []
    assert [(a.url_citation.start_index, a.url_citation.end_index, a.url_citation.url) for a in notes] == (
        GROUNDED_CITATIONS
    )
    assert GROUNDED_TEXT[notes[0].url_citation.start_index : notes[0].url_citation.end_index] == "Café prices rose."
    assert notes[2].type == "url_citation" and notes[2].url_citation.title == "news.example"


def test_streamed_web_search_sends_the_citations_as_an_annotations_delta(
    client: openai.OpenAI, simulator_process: Simulator
) -> None:
    simulator_process.script(KEY, {"raw": GROUNDED_ANSWER})
    chunks = list(
        client.chat.completions.create(
            model="gemini-2.5-flash",
            messages=[{"role": "user", "content": "How are prices?"}],
            web_search_options={},
            stream=True,
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == GROUNDED_TEXT
    deltas = [(c.choices[0].delta.model_extra or {}).get("annotations") for c in chunks if c.choices]
    notes = [n for d in deltas if d for n in d]
    got = [(n["url_citation"]["start_index"], n["url_citation"]["end_index"], n["url_citation"]["url"]) for n in notes]
    assert got == GROUNDED_CITATIONS
    assert chunks[-1].choices[0].finish_reason == "stop"
    # The SDK's stream helper folds that delta into the final message's typed annotations.
    simulator_process.script(KEY, {"raw": GROUNDED_ANSWER})
    with client.chat.completions.stream(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "And now?"}], web_search_options={}
    ) as s:
        final = s.get_final_completion().choices[0].message
    folded = [
        (a.url_citation.start_index, a.url_citation.end_index, a.url_citation.url) for a in final.annotations or []
    ]
    assert folded == GROUNDED_CITATIONS


def test_web_search_is_left_out_beside_functions_before_gemini_3(
    client: openai.OpenAI, simulator_process: Simulator
) -> None:
    client.chat.completions.create(
        model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}], tools=[WEATHER], web_search_options={}
    )
    sent = upstream_bodies(simulator_process)[-1]
    assert [list(t) for t in sent["tools"]] == [["functionDeclarations"]]
    client.chat.completions.create(
        model="gemini-3-flash-preview",
        messages=[{"role": "user", "content": "hi"}],
        tools=[WEATHER],
        web_search_options={},
    )
    sent = upstream_bodies(simulator_process)[-1]
    assert [list(t) for t in sent["tools"]] == [["functionDeclarations"], ["googleSearch"]]
    assert sent["toolConfig"] == {"includeServerSideToolInvocations": True}


def test_web_search_options_must_be_an_object(gw: Gateway) -> None:
    r = httpx.post(
        f"{gw.v1}/chat/completions",
        json={"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}], "web_search_options": "on"},
    )
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "web_search_options"
