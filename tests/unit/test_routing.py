"""Model routing precedence: custom exact, most specific wildcard, built-in table, pass-through."""

from __future__ import annotations

import pytest

from poolgate.errors import GatewayError
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


@pytest.mark.parametrize(
    "name",
    [
        "../files",
        "gemini-2.5-flash/../../v1beta/cachedContents",
        "x?alt=sse",
        "a b",
        "a#b",
        "%2e%2e",
        "a\x00",
        "g" * 129,
    ],
)
def test_a_name_that_would_leave_the_models_path_upstream_is_refused(name: str) -> None:
    # The upstream model becomes a URL segment with the account's key attached; it must stay one segment.
    with pytest.raises(GatewayError) as err:
        Router().resolve(name)
    assert err.value.status == 400 and err.value.param == "model"


def test_a_mapping_to_a_malformed_name_is_refused_naming_the_mapping() -> None:
    with pytest.raises(GatewayError) as err:
        Router({"my-model": "gemini/../files"}).resolve("my-model")
    assert "maps to 'gemini/../files'" in err.value.message


@pytest.mark.parametrize(
    "name", ["gemini-2.5-flash", "models/gemini-2.5-flash", "vertex-model_v2@001", "gemini-3-pro-preview"]
)
def test_real_model_names_pass(name: str) -> None:
    assert Router().resolve(name).model == name.removeprefix("models/")
