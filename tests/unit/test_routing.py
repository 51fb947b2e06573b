"""Model routing precedence: custom exact, most specific wildcard, built-in table, pass-through."""

from __future__ import annotations

from poolgate.routing.resolve import Router, resolve


def test_exact_beats_every_wildcard() -> None:
    custom = {"gpt-4o": "exact-model", "gpt-4*": "wild", "*": "catch-all"}
    r = resolve("gpt-4o", custom)
    assert (r.model, r.rule) == ("exact-model", "custom")


def test_most_specific_wildcard_wins() -> None:
    custom = {"gpt*": "short", "gpt-4*": "longer", "*": "any"}
    assert resolve("gpt-4-turbo", custom).model == "longer"
    assert resolve("gpt-3.5", custom).model == "short"
    assert resolve("llama", custom).model == "any"
    custom = {"claude-opus-*": "opus", "claude-opus*thinking": "opus-thinking"}
    assert resolve("claude-opus-4-thinking", custom).model == "opus-thinking"


def test_ties_are_broken_by_pattern_text_not_insertion_order() -> None:
    a = {"a*c": "first", "*bc": "second"}
    b = {"*bc": "second", "a*c": "first"}
    # Same specificity (2 literal characters): the lexically smaller pattern wins in both orders.
    assert resolve("abc", a).model == resolve("abc", b).model == "second"


def test_multi_star_and_anchoring() -> None:
    custom = {"claude-*-sonnet-*": "s"}
    assert resolve("claude-3-sonnet-2024", custom).model == "s"
    assert resolve("xclaude-3-sonnet-2024", custom).rule != "custom-wildcard"


def test_builtin_table_then_passthrough() -> None:
    assert resolve("gpt-4o", {}).model == "gemini-2.5-flash"
    assert resolve("gpt-4o", {}).rule == "builtin"
    assert resolve("claude-sonnet-4-5-20250929", {}).rule == "builtin"
    r = resolve("gemini-3-pro-preview", {})
    assert (r.model, r.rule) == ("gemini-3-pro-preview", "passthrough")
    assert resolve("models/gemini-2.5-pro", {}).model == "gemini-2.5-pro"


def test_custom_wildcard_beats_builtin() -> None:
    assert resolve("gpt-4o", {"gpt-*": "mine"}).model == "mine"


def test_router_cache_follows_mapping_changes() -> None:
    router = Router({"x": "one"})
    assert router.resolve("x").model == "one"
    router.set_custom({"x": "two"})
    assert router.resolve("x").model == "two"
