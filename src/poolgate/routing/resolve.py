"""resolve(): custom exact → most specific custom wildcard → built-in table → pass-through."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from poolgate.routing.table import BUILTIN_EXACT, BUILTIN_PATTERNS


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
