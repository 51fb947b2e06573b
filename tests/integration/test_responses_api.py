"""The Responses API through a real gateway and simulator, with the openai SDK and raw HTTP."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import Gateway, Simulator
from tests.support import GROUNDED_ANSWER, GROUNDED_CITATIONS, GROUNDED_TEXT

KEY = "key-resp-000000000"
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "openai_responses"
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}


@pytest.fixture(scope="module")
def gw(make_module_gateway: Any) -> Gateway:
    gateway: Gateway = make_module_gateway(name="responses")
    gateway.add_key(KEY, "resp")
    return gateway.start()


@pytest.fixture
def sim(simulator_process: Simulator) -> Simulator:
    simulator_process.reset()
    return simulator_process


@pytest.fixture
def client(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-test", base_url=gw.v1, max_retries=0)


def sse_events(gw: Gateway, body: dict[str, Any]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    with httpx.stream("POST", f"{gw.v1}/responses", json={**body, "stream": True}, timeout=30) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                event = json.loads(line[6:])
                assert event["type"] == name
                events.append(event)
    return events


def normalise(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Volatile values (ids, timestamps, signatures) replaced by stable names in order of appearance."""
    names: dict[str, str] = {}

    def fix(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: fix(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [fix(v) for v in value]
        if key in ("created_at", "completed_at") and isinstance(value, int):
            return 0
        if isinstance(value, str):
            if key == "encrypted_content":
                return re.sub(r"sig-\S+$", "SIG", value)
            m = re.fullmatch(r"(resp|msg|rs|fc|call)_[0-9a-f]+(?:_\d+)?", value)
            if m:
                return names.setdefault(
                    value, f"{m.group(1)}_{len([n for n in names.values() if n.startswith(m.group(1) + '_')])}"
                )
        return value

    return [fix(e) for e in events]


def check_golden(name: str, events: list[dict[str, Any]]) -> None:
    got = normalise(events)
    path = GOLDEN / f"{name}.json"
    if os.environ.get("POOLGATE_UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps(got, indent=1) + "\n")
    assert path.exists(), f"{path} is missing; run with POOLGATE_UPDATE_GOLDEN=1 and review the diff"
    assert got == json.loads(path.read_text())


def check_grammar(events: list[dict[str, Any]]) -> None:
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[0]["type"] == "response.created" and events[1]["type"] == "response.in_progress"
    terminals = [e for e in events if e["type"] in ("response.completed", "response.incomplete", "response.failed")]
    assert len(terminals) == 1 and terminals[0] is events[-1]


def test_create_returns_a_response_object(client: openai.OpenAI, sim: Simulator) -> None:
    response = client.responses.create(model="gemini-2.5-flash", instructions="Be brief.", input="ping pong")
    assert response.object == "response" and response.id.startswith("resp_")
    assert response.status == "completed" and response.incomplete_details is None
    assert "You said: ping pong" in response.output_text
    assert response.output[0].type == "message"
    assert response.usage is not None and response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    call = sim.calls(KEY)[-1]
    assert call["body"]["systemInstruction"]["parts"][0]["text"] == "Be brief."


def test_stream_text_golden_and_sdk_parser(gw: Gateway, client: openai.OpenAI, sim: Simulator) -> None:
    events = sse_events(gw, {"model": "gemini-2.5-flash", "input": "stream me", "store": False})
    check_grammar(events)
    check_golden("text", events)
    with client.responses.stream(model="gemini-2.5-flash", input="stream me too") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text and "stream me too" in final.output_text
    # Stored before the terminal event went out, so it can be fetched (or chained) at once.
    assert client.responses.retrieve(final.id).output_text == final.output_text


def test_reasoning_and_text_carry_the_signature(gw: Gateway, client: openai.OpenAI, sim: Simulator) -> None:
    body = {"model": "gemini-2.5-flash", "input": "think first", "reasoning": {"effort": "low", "summary": "auto"}}
    events = sse_events(gw, {**body, "store": False})
    check_grammar(events)
    check_golden("reasoning_text", events)
    config = sim.calls(KEY)[-1]["body"]["generationConfig"]
    assert config["thinkingConfig"] == {"thinkingBudget": 1024, "includeThoughts": True}
    response = client.responses.create(**body)
    reasoning, message = response.output
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == "Let me think about that."
    assert reasoning.encrypted_content and message.type == "message"
    assert response.usage is not None and response.usage.output_tokens_details.reasoning_tokens > 0
    # Replayed statelessly (as Codex does), the signature goes back on the part it came with.
    replay = [
        {"role": "user", "content": "think first"},
        *[item.model_dump(exclude_none=True) for item in response.output],
        {"role": "user", "content": "more"},
    ]
    client.responses.create(model="gemini-2.5-flash", input=replay, store=False)
    sent = sim.calls(KEY)[-1]["body"]["contents"]
    signature = reasoning.encrypted_content.split(":", 1)[1]
    assert sent[1]["role"] == "model" and sent[1]["parts"][0]["thoughtSignature"] == signature


@pytest.mark.parametrize(
    ("model", "reasoning", "expected"),
    [
        ("gemini-3-pro-preview", {"effort": "medium"}, {"thinkingLevel": "high"}),
        (
            "gemini-3-flash-preview",
            {"effort": "low", "summary": "auto"},
            {"thinkingLevel": "low", "includeThoughts": True},
        ),
        # gpt-5 maps to gemini-2.5-pro, which cannot switch thinking off: the family of the mapped model decides.
        ("gpt-5", {"effort": "none", "summary": "auto"}, {"thinkingBudget": 128}),
        ("gemini-2.5-flash", {"effort": "xhigh"}, {"thinkingBudget": 24576}),
    ],
)
def test_reasoning_effort_follows_the_model_family(
    client: openai.OpenAI, sim: Simulator, model: str, reasoning: dict[str, Any], expected: dict[str, Any]
) -> None:
    client.responses.create(model=model, input="think", reasoning=reasoning)
    assert sim.calls(KEY)[-1]["body"]["generationConfig"]["thinkingConfig"] == expected


def test_parallel_function_calls_golden(gw: Gateway, sim: Simulator) -> None:
    sim.script(
        KEY,
        {
            "function_calls": [
                {"name": "get_weather", "args": {"city": "Paris"}},
                {"name": "get_weather", "args": {"city": "Oslo"}},
            ]
        },
    )
    events = sse_events(gw, {"model": "gemini-2.5-flash", "input": "weather?", "tools": [WEATHER_TOOL], "store": False})
    check_grammar(events)
    check_golden("parallel_function_calls", events)
    calls = [
        e["item"] for e in events if e["type"] == "response.output_item.done" and e["item"]["type"] == "function_call"
    ]
    assert [json.loads(c["arguments"])["city"] for c in calls] == ["Paris", "Oslo"]
    decl = sim.calls(KEY)[-1]["body"]["tools"][0]["functionDeclarations"][0]
    assert decl["name"] == "get_weather" and "additionalProperties" not in decl["parameters"]


def test_max_tokens_is_incomplete_golden(gw: Gateway, client: openai.OpenAI, sim: Simulator) -> None:
    sim.script(KEY, {"text": "cut short here", "finish_reason": "MAX_TOKENS"})
    events = sse_events(gw, {"model": "gemini-2.5-flash", "input": "long", "max_output_tokens": 16, "store": False})
    check_grammar(events)
    check_golden("max_tokens_incomplete", events)
    assert sim.calls(KEY)[-1]["body"]["generationConfig"]["maxOutputTokens"] == 16
    sim.script(KEY, {"text": "cut", "finish_reason": "MAX_TOKENS"})
    response = client.responses.create(model="gemini-2.5-flash", input="long", max_output_tokens=16)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None and response.incomplete_details.reason == "max_output_tokens"


def test_upstream_failure_mid_stream_golden(gw: Gateway, client: openai.OpenAI, sim: Simulator) -> None:
    sim.script(KEY, {"text": "one two three four", "chunks": 4, "error_after": 2})
    events = sse_events(gw, {"model": "gemini-2.5-flash", "input": "fail please", "store": False})
    check_grammar(events)
    check_golden("upstream_failure", events)
    assert events[-2]["type"] == "error" and events[-1]["response"]["status"] == "failed"
    sim.script(KEY, {"text": "one two three four", "chunks": 4, "error_after": 2})
    with client.responses.stream(model="gemini-2.5-flash", input="fail again") as stream:
        kinds = [e.type for e in stream]
    assert kinds[-2:] == ["error", "response.failed"]


def test_retrieve_delete_and_unknown_id(gw: Gateway, client: openai.OpenAI, sim: Simulator) -> None:
    created = client.responses.create(model="gemini-2.5-flash", input="keep me")
    again = client.responses.retrieve(created.id)
    assert again.id == created.id and again.output_text == created.output_text
    r = httpx.delete(f"{gw.v1}/responses/{created.id}")
    assert r.status_code == 200 and r.json()["deleted"] is True
    with pytest.raises(openai.NotFoundError) as err:
        client.responses.retrieve(created.id)
    assert err.value.status_code == 404
    body = httpx.get(f"{gw.v1}/responses/resp_nope").json()
    assert body["error"]["type"] == "invalid_request_error" and "resp_nope" in body["error"]["message"]
    unstored = client.responses.create(model="gemini-2.5-flash", input="forget me", store=False)
    assert httpx.get(f"{gw.v1}/responses/{unstored.id}").status_code == 404


def test_background_responses_come_back_done_and_cancel_returns_them(
    gw: Gateway, client: openai.OpenAI, sim: Simulator
) -> None:
    # A poller reads status "completed" at once; cancelling such a response returns it as it stands.
    made = client.responses.create(model="gemini-2.5-flash", input="in the background", background=True)
    assert made.background is True and made.status == "completed" and made.output_text
    assert client.responses.retrieve(made.id).status == "completed"
    cancelled = client.responses.cancel(made.id)
    assert cancelled.id == made.id and cancelled.status == "completed"
    plain = client.responses.create(model="gemini-2.5-flash", input="in the foreground")
    assert plain.background is False
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.cancel(plain.id)
    assert "background=true" in refused.value.message
    with pytest.raises(openai.NotFoundError):
        client.responses.cancel("resp_nope")
    other = httpx.post(f"{gw.v1}/responses/{made.id}/stop")
    assert other.status_code == 405


def test_tool_loop_through_previous_response_id(client: openai.OpenAI, sim: Simulator) -> None:
    first = client.responses.create(
        model="gemini-2.5-flash", input='CALL_TOOL get_weather {"city": "Lima"}', tools=[WEATHER_TOOL]
    )
    call = first.output[-1]
    assert call.type == "function_call" and call.name == "get_weather"
    second = client.responses.create(
        model="gemini-2.5-flash",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": '{"temp": 21}'}],
        tools=[WEATHER_TOOL],
    )
    assert second.output_text == 'Tool result: {"temp":21}'
    assert second.previous_response_id == first.id
    contents = sim.calls(KEY)[-1]["body"]["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[1]["parts"][0]["functionCall"]["name"] == "get_weather"
    # The stored reasoning item gave the replayed call its thought signature back.
    assert contents[1]["parts"][0]["thoughtSignature"].startswith("sig-")
    assert contents[2]["parts"][0]["functionResponse"]["response"] == {"temp": 21}
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="gemini-2.5-flash", previous_response_id="resp_missing", input="x")


def test_codex_shaped_request_is_accepted(gw: Gateway, sim: Simulator) -> None:
    """Developer items, namespace and web_search tools, include and client_metadata, as Codex sends them."""
    body = {
        "model": "gemini-2.5-flash",
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "You are Codex."}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello codex"}]},
        ],
        "tools": [
            WEATHER_TOOL,
            {
                "type": "namespace",
                "name": "agents",
                "description": "Sub-agents.",
                "tools": [{"type": "function", "name": "spawn", "parameters": {"type": "object", "properties": {}}}],
            },
            {"type": "web_search", "external_web_access": True},
            {"type": "image_generation"},
        ],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "reasoning": {"summary": "auto"},
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "abc",
        "client_metadata": {"session_id": "abc"},
    }
    events = sse_events(gw, body)
    check_grammar(events)
    assert events[-1]["type"] == "response.completed"
    sent = sim.calls(KEY)[-1]["body"]
    assert sent["systemInstruction"]["parts"][0]["text"] == "You are Codex."
    names = [d["name"] for d in sent["tools"][0]["functionDeclarations"]]
    assert names == ["get_weather", "agents__spawn"] and len(sent["tools"]) == 1


def test_web_search_alone_becomes_google_search(client: openai.OpenAI, sim: Simulator) -> None:
    client.responses.create(model="gemini-2.5-flash", input="news?", tools=[{"type": "web_search"}])
    assert sim.calls(KEY)[-1]["body"]["tools"] == [{"googleSearch": {}}]


def test_web_search_joins_functions_only_on_gemini_3(client: openai.OpenAI, sim: Simulator) -> None:
    tools: list[Any] = [WEATHER_TOOL, {"type": "web_search"}]
    sim.script(KEY, {"function_calls": [{"name": "get_weather", "args": {"city": "Oslo"}}]})
    response = client.responses.create(model="gemini-3-flash-preview", input="weather?", tools=tools)
    assert [item.type for item in response.output][-1] == "function_call"
    sent = sim.calls(KEY)[-1]["body"]
    assert sent["tools"] == [
        {"functionDeclarations": [sent["tools"][0]["functionDeclarations"][0]]},
        {"googleSearch": {}},
    ]
    assert sent["toolConfig"] == {"includeServerSideToolInvocations": True}
    client.responses.create(model="gemini-3-pro-preview", input="weather?", tools=tools, tool_choice="required")
    assert sim.calls(KEY)[-1]["body"]["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY"},
        "includeServerSideToolInvocations": True,
    }
    # Gemini 2.5 rejects the combination, so there the search tool is still dropped.
    client.responses.create(model="gemini-2.5-pro", input="weather?", tools=tools)
    sent = sim.calls(KEY)[-1]["body"]
    assert [list(tool) for tool in sent["tools"]] == [["functionDeclarations"]] and "toolConfig" not in sent


def test_inputs_images_files_and_json_schema(client: openai.OpenAI, sim: Simulator) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    response = client.responses.create(
        model="gemini-2.5-flash",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "count"},
                    {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="},
                    {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="},
                ],
            }
        ],
        text={"format": {"type": "json_schema", "name": "count", "schema": schema}},
        temperature=0.5,
        top_p=0.9,
    )
    assert json.loads(response.output_text) == {"n": 1}
    sent = sim.calls(KEY)[-1]["body"]
    parts = sent["contents"][0]["parts"]
    assert parts[1] == {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}
    assert parts[2]["inlineData"]["mimeType"] == "application/pdf"
    assert sent["generationConfig"]["temperature"] == 0.5 and sent["generationConfig"]["topP"] == 0.9


def test_bad_input_and_websocket_probe_are_refused(gw: Gateway) -> None:
    r = httpx.post(f"{gw.v1}/responses", json={"model": "gemini-2.5-flash", "input": 42})
    assert r.status_code == 400 and r.json()["error"]["param"] == "input"
    probe = httpx.get(
        f"{gw.v1}/responses",
        headers={
            "connection": "Upgrade",
            "upgrade": "websocket",
            "sec-websocket-version": "13",
            "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
        timeout=5,
    )
    # 426 (not 405) is what makes Codex fall back to HTTP at once instead of retrying for seconds.
    assert probe.status_code == 426 and probe.json()["error"]["code"] == "websocket_not_supported"
    plain = httpx.get(f"{gw.v1}/responses")
    assert plain.status_code == 405 and plain.headers["allow"] == "OPTIONS, POST"


def test_input_items_list_what_a_response_was_made_from(gw: Gateway, client: openai.OpenAI, sim: Simulator) -> None:
    first = client.responses.create(model="gemini-2.5-flash", input="first question")
    second = client.responses.create(
        model="gemini-2.5-flash",
        previous_response_id=first.id,
        input=[{"role": "user", "content": [{"type": "input_text", "text": "second question"}]}],
    )
    # The SDK's own pager: newest first by default, every item with an id.
    items = list(client.responses.input_items.list(second.id))
    assert [i.type for i in items] == ["message", "message", "message"]
    texts = [i.content[0].text for i in items]
    assert texts[0] == "second question" and texts[2] == "first question"
    assert texts[1] == first.output_text  # the earlier answer is part of this response's input
    assert len({i.id for i in items}) == 3
    oldest_first = list(client.responses.input_items.list(second.id, order="asc"))
    assert [i.id for i in oldest_first] == [i.id for i in reversed(items)]
    # Pages of one, walked with `after`; the same ids on every listing.
    page = client.responses.input_items.list(second.id, limit=1, order="asc")
    assert len(page.data) == 1 and page.has_more and page.data[0].id == oldest_first[0].id
    walked = [i.id for i in page]  # auto-pagination follows last_id
    assert walked == [i.id for i in oldest_first]
    for query, param in (("limit=0", "limit"), ("order=sideways", "order"), ("after=msg_nope", "after")):
        r = httpx.get(f"{gw.v1}/responses/{second.id}/input_items?{query}")
        assert r.status_code == 400 and r.json()["error"]["param"] == param, r.text
    with pytest.raises(openai.NotFoundError):
        client.responses.input_items.list("resp_unknown")


def test_google_search_grounding_becomes_url_citations_and_a_web_search_call(
    client: openai.OpenAI, sim: Simulator
) -> None:
    sim.script(KEY, {"raw": GROUNDED_ANSWER})
    response = client.responses.create(model="gemini-2.5-flash", input="prices?", tools=[{"type": "web_search"}])
    assert response.output_text == GROUNDED_TEXT
    message, search = response.output
    assert message.type == "message"
    part = message.content[0]
    assert part.type == "output_text"
    notes = [(a.start_index, a.end_index, a.url) for a in part.annotations]
    assert notes == GROUNDED_CITATIONS
    assert part.annotations[2].title == "news.example"
    # The search Gemini ran; its sources only when `include` asks for them, as with OpenAI.
    assert search.type == "web_search_call" and search.status == "completed" and search.id.startswith("ws_")
    assert search.action.type == "search" and search.action.query == "cafe prices 2026"
    assert search.action.sources is None
    sim.script(KEY, {"raw": GROUNDED_ANSWER})
    response = client.responses.create(
        model="gemini-2.5-flash",
        input="prices?",
        tools=[{"type": "web_search"}],
        include=["web_search_call.action.sources"],
    )
    search = response.output[-1]
    assert search.type == "web_search_call" and search.action.type == "search"
    assert [s.url for s in search.action.sources or []] == ["https://example.com/prices", "https://news.example/rents"]


def test_streamed_grounding_announces_each_citation_before_the_text_is_done(
    client: openai.OpenAI, sim: Simulator
) -> None:
    sim.script(KEY, {"raw": GROUNDED_ANSWER})
    with client.responses.stream(model="gemini-2.5-flash", input="prices?", tools=[{"type": "web_search"}]) as s:
        events = list(s)
        final = s.get_final_response()
    kinds = [e.type for e in events]
    added = [e for e in events if e.type == "response.output_text.annotation.added"]
    assert [e.annotation_index for e in added] == [0, 1, 2]
    assert max(kinds.index("response.output_text.delta"), 0) < kinds.index("response.output_text.annotation.added")
    assert kinds.index("response.output_text.annotation.added") < kinds.index("response.output_text.done")
    got = [(a.start_index, a.end_index, a.url) for a in (e.annotation for e in added)]
    assert got == GROUNDED_CITATIONS
    part = final.output[0].content[0]
    assert [(a.start_index, a.end_index, a.url) for a in part.annotations] == GROUNDED_CITATIONS
    # The web_search_call item follows the message, with OpenAI's three phases between added and done.
    searching = kinds[kinds.index("response.output_text.done") :]
    assert [k for k in searching if "web_search_call" in k or k.startswith("response.output_item")] == [
        "response.output_item.done",
        "response.output_item.added",
        "response.web_search_call.in_progress",
        "response.web_search_call.searching",
        "response.web_search_call.completed",
        "response.output_item.done",
    ]
    assert final.output[1].type == "web_search_call" and final.output[1].status == "completed"


def test_compact_keeps_the_user_messages_and_a_summary_the_next_turn_reads(
    client: openai.OpenAI, sim: Simulator
) -> None:
    conversation: list[Any] = [
        {"role": "user", "content": "Plan three days in Lisbon."},
        {"role": "assistant", "content": "Day one: Alfama. Day two: Belem. Day three: Sintra."},
        {"role": "user", "content": [{"type": "input_text", "text": "Add a museum each day."}]},
    ]
    sim.script(KEY, {"text": "The user plans 3 days in Lisbon (Alfama, Belem, Sintra) and wants a museum daily."})
    compacted = client.responses.compact(model="gemini-2.5-flash", input=conversation)
    assert compacted.object == "response.compaction" and compacted.id.startswith("resp_")
    kinds = [(item.type, getattr(item, "role", None)) for item in compacted.output]
    assert kinds == [("message", "user"), ("message", "user"), ("compaction", None)]
    assert compacted.output[0].content[0].text == "Plan three days in Lisbon."  # type: ignore[union-attr]
    assert compacted.usage.output_tokens > 0
    # The summary was asked of the upstream model with the whole conversation and no tools.
    asked = sim.calls(KEY)[-1]["body"]
    assert "tools" not in asked and "summary" in asked["contents"][-1]["parts"][-1]["text"]
    assert len(asked["contents"]) == 3

    # The compacted window, plus a new message, is the next request's input: the summary comes back.
    # (The SDK types these user messages as output messages; OpenAI sends them the same way.)
    follow_up = [item.model_dump(exclude_none=True, warnings=False) for item in compacted.output]
    follow_up.append({"role": "user", "content": "Which museum on day two?"})
    client.responses.create(model="gemini-2.5-flash", input=follow_up, store=False)
    sent = sim.calls(KEY)[-1]["body"]["contents"]
    texts = [p.get("text", "") for c in sent for p in c["parts"]]
    assert any(t.startswith("Summary of the conversation so far:\nThe user plans 3 days in Lisbon") for t in texts)
    assert not any("Day one: Alfama" in t for t in texts)  # the assistant turn it replaced is gone


def test_compact_follows_previous_response_id_and_skips_foreign_compaction_items(
    client: openai.OpenAI, sim: Simulator
) -> None:
    first = client.responses.create(model="gemini-2.5-flash", input="Remember the code LIME-42.")
    compacted = client.responses.compact(
        model="gemini-2.5-flash", previous_response_id=first.id, input="What was the code?"
    )
    users = [item for item in compacted.output if item.type == "message"]
    assert len(users) == 2 and compacted.output[-1].type == "compaction"
    # A compaction item made by OpenAI carries nothing Gemini can read: it is skipped, not an error.
    foreign = {"type": "compaction", "id": "cmp_x", "encrypted_content": "gAAAAABforeign"}
    client.responses.create(model="gemini-2.5-flash", input=[foreign, {"role": "user", "content": "hi"}], store=False)
    assert [c["role"] for c in sim.calls(KEY)[-1]["body"]["contents"]] == ["user"]
    with pytest.raises(openai.BadRequestError):
        client.responses.compact(model="gemini-2.5-flash", previous_response_id="resp_missing", input="x")


def test_input_tokens_counts_instructions_tools_and_the_stored_conversation(
    gw: Gateway, client: openai.OpenAI, sim: Simulator
) -> None:
    plain = client.responses.input_tokens.count(model="gemini-2.5-flash", input="count these words please")
    assert plain.object == "response.input_tokens" and plain.input_tokens > 0
    tools: Any = [{"type": "function", "name": "search", "description": "Search things " * 20, "parameters": {}}]
    first = client.responses.create(model="gemini-2.5-flash", input="an earlier turn " * 10)
    full = client.responses.input_tokens.count(
        model="gemini-2.5-flash",
        instructions="You are careful. " * 20,
        tools=tools,
        input="count these words please",
        previous_response_id=first.id,
    )
    assert full.input_tokens > plain.input_tokens + 60
    # Counted upstream, from the same request a create would send: system, tools, the earlier turns.
    inner = [c for c in sim.calls(KEY) if c["method"] == "countTokens"][-1]["body"]["generateContentRequest"]
    assert inner["model"] == "models/gemini-2.5-flash"
    assert inner["systemInstruction"]["parts"][0]["text"].startswith("You are careful.")
    assert inner["tools"][0]["functionDeclarations"][0]["name"] == "search"
    assert [c["role"] for c in inner["contents"]] == ["user", "model", "user"]
    # Without a model (the SDK allows it) the request is still counted.
    assert client.responses.input_tokens.count(input="count these words please").input_tokens == plain.input_tokens


def test_input_tokens_estimates_when_upstream_cannot_count(gw: Gateway, sim: Simulator) -> None:
    body = {"model": "gemini-2.5-flash", "instructions": "s" * 300, "input": "w" * 300}
    r = httpx.post(f"{gw.v1}/responses/input_tokens", json=body, timeout=30)
    assert r.headers["x-poolgate-token-count"] == "upstream"
    counted = r.json()["input_tokens"]
    sim.script(KEY, *[{"status": 500, "message": "backend error"}] * 4)
    r = httpx.post(f"{gw.v1}/responses/input_tokens", json=body, timeout=30)
    assert r.status_code == 200 and r.headers["x-poolgate-token-count"] == "estimate"
    assert r.json() == {"object": "response.input_tokens", "input_tokens": r.json()["input_tokens"]}
    assert r.json()["input_tokens"] >= counted  # the estimate errs high
    bad = httpx.post(f"{gw.v1}/responses/input_tokens", json={"input": "x", "previous_response_id": "resp_nope"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "previous_response_not_found"


@pytest.mark.parametrize("stream", [False, True])
def test_logprobs_when_included(client: openai.OpenAI, sim: Simulator, stream: bool) -> None:
    asked: dict[str, Any] = {"include": ["message.output_text.logprobs"], "top_logprobs": 2}
    deltas: list[str] = []
    if stream:
        with client.responses.stream(model="gemini-2.5-flash", input="hi there", **asked) as s:
            for ev in s:
                if ev.type == "response.output_text.delta":
                    deltas += [t.token for t in ev.logprobs]
            response = s.get_final_response()
    else:
        response = client.responses.create(model="gemini-2.5-flash", input="hi there", **asked)
    part = response.output[0].content[0]
    assert part.type == "output_text" and part.logprobs
    assert "".join(t.token for t in part.logprobs) == response.output_text
    assert all(len(t.top_logprobs) == 2 and t.top_logprobs[0].token == t.token for t in part.logprobs)
    if stream:
        assert "".join(deltas) == response.output_text
    assert response.top_logprobs == 2
    config = sim.calls(KEY)[-1]["body"]["generationConfig"]
    assert config["responseLogprobs"] is True and config["logprobs"] == 2
    # As at OpenAI, top_logprobs alone asks for nothing.
    plain = client.responses.create(model="gemini-2.5-flash", input="hi there", top_logprobs=2)
    assert plain.output[0].content[0].logprobs == []  # type: ignore[union-attr]
    assert "responseLogprobs" not in sim.calls(KEY)[-1]["body"].get("generationConfig", {})


@pytest.mark.parametrize(
    ("extra", "param"),
    [({"conversation": "conv_123"}, "conversation"), ({"prompt": {"id": "pmpt_123", "version": "2"}}, "prompt")],
)
def test_state_held_at_openai_is_refused_not_ignored(
    client: openai.OpenAI, sim: Simulator, extra: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="gemini-2.5-flash", input="and then?", extra_body=extra)
    body = caught.value.body
    assert isinstance(body, dict) and body["param"] == param and "stored at OpenAI" in body["message"]
    assert sim.calls(KEY) == []  # nothing went upstream to be answered without the state it names


def test_settings_gemini_lacks_are_reported_back(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model="gemini-2.5-flash", input="hi", text={"verbosity": "low"}, max_tool_calls=4
    )
    assert response.text is not None and response.text.verbosity == "low"
    assert response.max_tool_calls == 4


PATCH_TOOL: dict[str, Any] = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Apply a patch to the files.",
    "format": {"type": "grammar", "syntax": "lark", "definition": 'start: "*** Begin Patch" /(.|\\n)*/'},
}


@pytest.mark.parametrize("stream", [False, True])
def test_custom_tool_round_trip(client: openai.OpenAI, sim: Simulator, stream: bool) -> None:
    patch = "*** Begin Patch\n*** End Patch"
    asked: list[Any] = [{"role": "user", "content": "Patch. CALL_TOOL apply_patch " + json.dumps({"input": patch})}]
    kinds: list[str] = []
    if stream:
        with client.responses.stream(
            model="gemini-2.5-flash",
            input=asked,
            tools=[PATCH_TOOL],
            tool_choice={"type": "custom", "name": "apply_patch"},
        ) as s:
            kinds = [ev.type for ev in s]
            first = s.get_final_response()
    else:
        first = client.responses.create(
            model="gemini-2.5-flash",
            input=asked,
            tools=[PATCH_TOOL],
            tool_choice={"type": "custom", "name": "apply_patch"},
        )
    call = first.output[-1]
    assert call.type == "custom_tool_call"
    assert (call.name, call.input) == ("apply_patch", patch)
    if stream:
        custom = [k for k in kinds if "custom_tool_call" in k]
        assert custom == ["response.custom_tool_call_input.delta", "response.custom_tool_call_input.done"]
    declared = sim.calls(KEY)[-1]["body"]
    (decl,) = declared["tools"][0]["functionDeclarations"]
    assert decl["name"] == "apply_patch" and decl["parameters"]["required"] == ["input"]
    assert "*** Begin Patch" in decl["parameters"]["properties"]["input"]["description"]  # the grammar, as words
    assert declared["toolConfig"]["functionCallingConfig"] == {"mode": "ANY", "allowedFunctionNames": ["apply_patch"]}
    # The client returns the tool's output; the model sees it as the call's response.
    history = [*asked, *(item.model_dump(exclude_none=True) for item in first.output)]
    history.append({"type": "custom_tool_call_output", "call_id": call.call_id, "output": "Applied."})
    second = client.responses.create(model="gemini-2.5-flash", input=history, tools=[PATCH_TOOL])
    assert second.output_text == 'Tool result: {"output":"Applied."}'


def test_a_long_chain_of_stored_turns_keeps_every_turn_even_when_one_is_deleted(
    client: openai.OpenAI, sim: Simulator
) -> None:
    previous: str | None = None
    ids = []
    for n in range(6):
        turn = client.responses.create(
            model="gemini-2.5-flash", input=f"turn {n}", **({"previous_response_id": previous} if previous else {})
        )
        ids.append(turn.id)
        previous = turn.id
    client.responses.delete(ids[2])
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(ids[2])
    # The deleted turn is gone for the client, yet the turns after it still carry the whole conversation.
    final = client.responses.create(model="gemini-2.5-flash", previous_response_id=ids[-1], input="and now?")
    contents = sim.calls(KEY)[-1]["body"]["contents"]
    said = [part["text"] for content in contents if content["role"] == "user" for part in content["parts"]]
    assert said == [f"turn {n}" for n in range(6)] + ["and now?"]
    listed = client.responses.input_items.list(final.id, order="asc", limit=100)
    texts = [item.content[0].text for item in listed.data if item.type == "message"]  # type: ignore[union-attr]
    assert texts[0] == "turn 0" and texts[-1] == "and now?" and len(texts) == 13  # 7 asked, 6 answered


@pytest.mark.parametrize(
    ("part", "field"),
    [
        ({"type": "input_file", "file_url": "http://10.0.0.1/a.pdf"}, "input[0].content[1].file_url"),
        ({"type": "input_image", "image_url": "http://127.0.0.1:9/x.png"}, "input[0].content[1].image_url"),
    ],
)
def test_a_media_url_that_cannot_be_fetched_names_the_clients_field(
    client: openai.OpenAI, sim: Simulator, part: dict[str, Any], field: str
) -> None:
    content = [{"type": "input_text", "text": "look"}, part]
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="gemini-2.5-flash", input=[{"role": "user", "content": content}])
    body = caught.value.body
    assert isinstance(body, dict) and body["param"] == field and "private or reserved" in body["message"]
    assert sim.calls(KEY) == []
