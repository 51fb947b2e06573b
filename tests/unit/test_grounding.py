"""Grounding spans: Gemini's byte offsets become character offsets, and odd segments are found or dropped."""

from __future__ import annotations

from typing import Any

from poolgate.hub.grounding import Citation, citations, combines_search_with_functions

WEB = [{"web": {"uri": "https://a.example/", "title": "a"}}, {"retrievedContext": {"uri": "gs://b/doc", "title": "b"}}]


def meta(*supports: dict[str, Any], chunks: list[Any] | None = None) -> dict[str, Any]:
    return {"groundingChunks": WEB if chunks is None else chunks, "groundingSupports": list(supports)}


def test_byte_offsets_become_character_offsets_past_multibyte_text() -> None:
    text = "日本は島国です。Tokyo is big."
    start = len("日本は島国です。".encode())
    found = citations(
        meta({"segment": {"startIndex": start, "endIndex": start + 13}, "groundingChunkIndices": [0]}), text
    )
    assert found == [Citation(8, 21, "https://a.example/", "a")]
    assert text[8:21] == "Tokyo is big."


def test_character_offsets_are_accepted_when_the_quote_says_so() -> None:
    text = "Ünïcode first. Then this."
    segment = {"startIndex": 15, "endIndex": 25, "text": "Then this."}
    assert citations(meta({"segment": segment, "groundingChunkIndices": [1]}), text) == [
        Citation(15, 25, "gs://b/doc", "b")
    ]


def test_a_quote_outside_its_offsets_is_looked_up_and_a_missing_one_dropped() -> None:
    text = "Alpha. Beta."
    moved = {"segment": {"startIndex": 40, "endIndex": 45, "text": "Beta."}, "groundingChunkIndices": [0]}
    absent = {"segment": {"startIndex": 0, "endIndex": 3, "text": "Gamma"}, "groundingChunkIndices": [0]}
    assert citations(meta(moved, absent), text) == [Citation(7, 12, "https://a.example/", "a")]


def test_sources_that_do_not_exist_or_have_no_uri_are_skipped() -> None:
    support = {"segment": {"endIndex": 5}, "groundingChunkIndices": [0, 1, 7, -1, "0"]}
    chunks = [{"web": {"title": "no uri"}}, {"web": {"uri": "https://ok.example/"}}]
    assert citations(meta(support, chunks=chunks), "Hello world") == [Citation(0, 5, "https://ok.example/", "")]


def test_nothing_to_cite_without_supports() -> None:
    assert citations({"groundingChunks": WEB, "webSearchQueries": ["q"]}, "text") == []


def test_only_gemini_3_and_later_combine_search_with_functions() -> None:
    assert combines_search_with_functions("gemini-3-flash-preview")
    assert combines_search_with_functions("models/gemini-3.1-pro")
    assert not combines_search_with_functions("gemini-2.5-flash")
    assert not combines_search_with_functions("claude-sonnet-4-5")
