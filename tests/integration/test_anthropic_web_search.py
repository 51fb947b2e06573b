"""Anthropic's web search tool over Google Search grounding, with the anthropic SDK: blocks, citations, usage."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from tests.conftest import Gateway, Simulator
from tests.integration.gateways import gateway_for_module
from tests.support import GROUNDED_ANSWER, GROUNDED_TEXT

KEY = "key-anthropic-search-1"
MODEL = "claude-sonnet-4-5"
SEARCH_TOOL: dict[str, Any] = {"type": "web_search_20250305", "name": "web_search", "max_uses": 8}
WEATHER: dict[str, Any] = {"name": "weather", "input_schema": {"type": "object", "properties": {}}}
# What the anthropic SDK reads from GROUNDED_ANSWER: (cited text, url) per citation, in order.
CITED = [
    ("Café prices rose.", "https://example.com/prices"),
    ("Rents fell.", "https://example.com/prices"),
    ("Rents fell.", "https://news.example/rents"),
]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, simulator_process: Simulator) -> Iterator[Gateway]:
    gateway = gateway_for_module(tmp_path_factory.mktemp("anthropic-search"), simulator_process, keys={"s": KEY})
    yield gateway
    gateway.stop()


@pytest.fixture
def client(gw: Gateway, simulator: Simulator) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="dummy", base_url=gw.base_url, max_retries=0, timeout=30)


def last_body(sim: Simulator) -> dict[str, Any]:
    body: dict[str, Any] = sim.calls(KEY)[-1]["body"]
    return body


def summary(message: anthropic.types.Message) -> list[Any]:
    """Each block as the facts a client reads from it; a result names the search it answers by its position."""
    out: list[Any] = []
    ids: list[str] = []
    for block in message.content:
        if block.type == "text":
            cites = [(c.cited_text, c.url) for c in block.citations or [] if c.type == "web_search_result_location"]
            out.append(("text", block.text, cites))
        elif block.type == "server_tool_use":
            assert block.id.startswith("srvtoolu_") and block.id not in ids
            ids.append(block.id)
            out.append(("server_tool_use", block.name, block.input))
        elif block.type == "web_search_tool_result":
            results = block.content if isinstance(block.content, list) else []
            search = ids.index(block.tool_use_id) if block.tool_use_id in ids else None
            out.append(("web_search_tool_result", search, [(r.url, r.title) for r in results]))
        else:
            out.append((block.type,))
    return out


def ask_grounded(client: anthropic.Anthropic, simulator: Simulator) -> Any:
    """Asks "Prices?" with the search tool; Google answers with the grounded answer (search + citations)."""
    simulator.script(KEY, {"raw": GROUNDED_ANSWER})
    return client.messages.create(
        model=MODEL, max_tokens=256, tools=[SEARCH_TOOL], messages=[{"role": "user", "content": "Prices?"}]
    )


def test_grounded_answer_has_search_blocks_citations_and_usage(
    client: anthropic.Anthropic, simulator: Simulator
) -> None:
    message = ask_grounded(client, simulator)
    assert last_body(simulator)["tools"] == [{"googleSearch": {}}]
    blocks = summary(message)
    assert blocks[0] == ("text", GROUNDED_TEXT, CITED)
    assert blocks[1] == ("server_tool_use", "web_search", {"query": "cafe prices 2026"})
    assert blocks[2] == (
        "web_search_tool_result",
        0,
        [("https://example.com/prices", "example.com"), ("https://news.example/rents", "news.example")],
    )
    assert len(blocks) == 3
    assert message.usage.server_tool_use is not None and message.usage.server_tool_use.web_search_requests == 1
    assert message.stop_reason == "end_turn"


def test_streamed_search_folds_into_the_same_message(client: anthropic.Anthropic, simulator: Simulator) -> None:
    whole = ask_grounded(client, simulator)
    simulator.script(KEY, {"raw": GROUNDED_ANSWER})
    kinds: list[str] = []
    with client.messages.stream(
        model=MODEL, max_tokens=256, tools=[SEARCH_TOOL], messages=[{"role": "user", "content": "Prices?"}]
    ) as stream:
        for event in stream:
            if event.type == "content_block_delta":
                kinds.append(f"{event.index}:{event.delta.type}")
            elif event.type in ("content_block_start", "content_block_stop"):
                kinds.append(f"{event.index}:{event.type}")
        streamed = stream.get_final_message()
    # The citations arrive on the open text block, before it stops; the search blocks follow it.
    assert kinds == [
        "0:content_block_start",
        "0:text_delta",
        "0:citations_delta",
        "0:citations_delta",
        "0:citations_delta",
        "0:content_block_stop",
        "1:content_block_start",
        "1:input_json_delta",
        "1:content_block_stop",
        "2:content_block_start",
        "2:content_block_stop",
    ]
    assert summary(streamed) == summary(whole)
    assert streamed.usage.server_tool_use is not None and streamed.usage.server_tool_use.web_search_requests == 1


def test_claude_code_websearch_request_is_answered_with_its_results(gw: Gateway, simulator: Simulator) -> None:
    # Claude Code's WebSearch tool names the server tool in tool_choice; Anthropic accepts that.
    r = httpx.post(
        f"{gw.base_url}/v1/messages",
        headers={"x-api-key": "dummy", "anthropic-version": "2023-06-01"},
        json={
            "model": MODEL,
            "max_tokens": 1024,
            "messages": [{"role": "user", "content": "Perform a web search for the query: poolgate release"}],
            "tools": [SEARCH_TOOL],
            "tool_choice": {"type": "tool", "name": "web_search"},
        },
        timeout=30,
    )
    assert r.status_code == 200, r.text
    body = last_body(simulator)
    assert body["tools"] == [{"googleSearch": {}}] and "toolConfig" not in body
    content = r.json()["content"]
    assert [b["type"] for b in content] == ["text", "server_tool_use", "web_search_tool_result"]
    assert content[1]["input"] == {"query": "Perform a web search for the query: poolgate release"}
    urls = [x["url"] for x in content[2]["content"]]
    assert len(urls) == 2 and urls[0].startswith("https://example.com/search/perform-a-web-search"), urls
    assert all(x["type"] == "web_search_result" and x["encrypted_content"] for x in content[2]["content"])
    assert [c["url"] for c in content[0]["citations"]][:1] == [content[2]["content"][0]["url"]]


def test_search_beside_functions_only_from_gemini_3(client: anthropic.Anthropic, simulator: Simulator) -> None:
    question = [{"role": "user", "content": "hi"}]
    client.messages.create(model="gemini-3-pro-preview", max_tokens=64, tools=[WEATHER, SEARCH_TOOL], messages=question)
    body = last_body(simulator)
    assert body["tools"] == [{"functionDeclarations": [{"name": "weather"}]}, {"googleSearch": {}}]
    assert body["toolConfig"] == {"includeServerSideToolInvocations": True}
    client.messages.create(model="gemini-2.5-flash", max_tokens=64, tools=[WEATHER, SEARCH_TOOL], messages=question)
    body = last_body(simulator)
    assert body["tools"] == [{"functionDeclarations": [{"name": "weather"}]}]
    # Forcing the search beside functions: no function may be called instead.
    client.messages.create(
        model="gemini-3-pro-preview",
        max_tokens=64,
        tools=[WEATHER, SEARCH_TOOL],
        tool_choice={"type": "tool", "name": "web_search"},
        messages=question,
    )
    assert last_body(simulator)["toolConfig"] == {
        "functionCallingConfig": {"mode": "NONE"},
        "includeServerSideToolInvocations": True,
    }


def test_tool_choice_none_offers_no_search_and_unknown_names_still_fail(
    client: anthropic.Anthropic, simulator: Simulator
) -> None:
    question = [{"role": "user", "content": "hi"}]
    message = client.messages.create(
        model=MODEL, max_tokens=64, tools=[SEARCH_TOOL], tool_choice={"type": "none"}, messages=question
    )
    assert "tools" not in last_body(simulator)
    assert [b.type for b in message.content] == ["text"] and message.usage.server_tool_use is None
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(
            model=MODEL,
            max_tokens=64,
            tools=[SEARCH_TOOL],
            tool_choice={"type": "tool", "name": "fetch"},
            messages=question,
        )
    assert "tool_choice.name" in str(info.value)


def test_a_replayed_search_keeps_its_sources_for_the_next_turn(
    client: anthropic.Anthropic, simulator: Simulator
) -> None:
    first = ask_grounded(client, simulator)
    history: list[Any] = [
        {"role": "user", "content": "Prices?"},
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": "Which source says so?"},
    ]
    client.messages.create(model=MODEL, max_tokens=256, tools=[SEARCH_TOOL], messages=history)
    model_turn = last_body(simulator)["contents"][1]
    assert model_turn["role"] == "model"
    texts = [p["text"] for p in model_turn["parts"] if "text" in p]
    assert texts[0] == GROUNDED_TEXT
    # Gemini cannot take Anthropic's search blocks back; their sources come back as text instead.
    assert texts[1] == (
        '[Web search results for "cafe prices 2026"]\n'
        "1. example.com <https://example.com/prices>\n"
        "2. news.example <https://news.example/rents>"
    )


def test_the_web_fetch_tool_offers_gemini_url_context(client: anthropic.Anthropic, simulator: Simulator) -> None:
    fetch = {"type": "web_fetch_20250910", "name": "web_fetch", "max_uses": 3}
    message = client.messages.create(
        model=MODEL,
        max_tokens=256,
        tools=[fetch],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "Summarise https://example.com/article"}],
    )
    assert message.stop_reason == "end_turn" and message.content[0].type == "text"
    assert last_body(simulator)["tools"] == [{"urlContext": {}}]
    # Beside search and a function on Gemini 3: all three, with the flag that lets them mix.
    client.messages.create(
        model="gemini-3-pro-preview",
        max_tokens=256,
        tools=[fetch, SEARCH_TOOL, WEATHER],  # type: ignore[list-item]
        tool_choice={"type": "tool", "name": "web_fetch"},
        messages=[{"role": "user", "content": "Read https://example.com/article"}],
    )
    body = last_body(simulator)
    assert body["tools"] == [
        {"functionDeclarations": [{"name": "weather"}]},  # an empty schema is left out
        {"googleSearch": {}},
        {"urlContext": {}},
    ]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "NONE"}, "includeServerSideToolInvocations": True}
