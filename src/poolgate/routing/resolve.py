"""resolve(): custom exact → most specific custom wildcard → built-in table → pass-through."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from poolgate.errors import invalid
from poolgate.routing.table import BUILTIN_EXACT, BUILTIN_PATTERNS

# What a model name sent upstream may hold. It becomes a segment of the upstream URL
# (`…/models/{model}:generateContent`) and the x-mapped-model header, so '/', '?', '#', '%', spaces
# and control characters would reach another Google endpoint with the account's key, or break the
# answer's headers. Google's and Cloud Code's model ids (gemini-2.5-flash, claude-sonnet-4-5@20250929,
# gemini-3-pro-preview) use only these, and are far shorter than the bound.
UPSTREAM_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")
UPSTREAM_MODEL_RULE = "a model name is up to 128 letters, digits, '.', '_', '@' and '-'"


def valid_upstream_model(model: str) -> bool:
    return UPSTREAM_MODEL.fullmatch(model) is not None


@dataclass(frozen=True, slots=True)
class Resolution:
    client_model: str
    model: str
    rule: str  # "custom", "custom-wildcard", "builtin", "passthrough"
    pattern: str = ""


@lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(re.escape(piece) for piece in pattern.split("*")) + "$", re.DOTALL)


def wildcard_match(pattern: str, name: str) -> bool:
    return _compile(pattern).match(name) is not None


def _specificity(pattern: str) -> tuple[int, str]:
    # More literal characters wins; ties go to the lexically smaller pattern so the result never
    # depends on dict order.
    return (-(len(pattern) - pattern.count("*")), pattern)


def _best_wildcard(patterns: dict[str, str], name: str) -> str | None:
    best: str | None = None
    for pattern in patterns:
        if "*" not in pattern or not wildcard_match(pattern, name):
            continue
        if best is None or _specificity(pattern) < _specificity(best):
            best = pattern
    return best


class Router:
    """Holds the current custom mapping; the gateway swaps it when the store changes."""

    def __init__(self, custom: dict[str, str] | None = None) -> None:
        self._custom: dict[str, str] = dict(custom or {})
        self._cache: dict[str, Resolution] = {}

    @property
    def custom(self) -> dict[str, str]:
        return dict(self._custom)

    def set_custom(self, custom: dict[str, str]) -> None:
        if custom != self._custom:
            self._custom = dict(custom)
            self._cache = {}

    def resolve(self, client_model: str) -> Resolution:
        hit = self._cache.get(client_model)
        if hit is not None:
            return hit
        result = resolve(client_model, self._custom)
        if len(self._cache) < 4096:
            self._cache[client_model] = result
        return result


def resolve(client_model: str, custom: dict[str, str]) -> Resolution:
    """The upstream model for a client's name; a 400 when that name cannot be sent upstream."""
    result = _resolve(client_model, custom)
    if not valid_upstream_model(result.model):
        shown = client_model[:200] if client_model.isprintable() else repr(client_model[:200])
        if result.rule == "passthrough":
            message = f"Unknown model name {shown}: {UPSTREAM_MODEL_RULE}."
        else:
            message = f"Model {shown} maps to {result.model[:200]!r}, which is not an upstream model name: {UPSTREAM_MODEL_RULE}."
        raise invalid(message, "model")
    return result


def _resolve(client_model: str, custom: dict[str, str]) -> Resolution:
    name = client_model.strip()
    if name.startswith("models/"):
        name = name[len("models/") :]
    if name in custom and "*" not in name:
        return Resolution(client_model, custom[name], "custom", name)
    pattern = _best_wildcard(custom, name)
    if pattern is not None:
        return Resolution(client_model, custom[pattern], "custom-wildcard", pattern)
    if name in BUILTIN_EXACT:
        return Resolution(client_model, BUILTIN_EXACT[name], "builtin", name)
    pattern = _best_wildcard(BUILTIN_PATTERNS, name)
    if pattern is not None:
        return Resolution(client_model, BUILTIN_PATTERNS[pattern], "builtin", pattern)
    return Resolution(client_model, name, "passthrough")
