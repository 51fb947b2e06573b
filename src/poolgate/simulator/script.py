"""Script steps: what one scripted upstream call does, parsed strictly from the control API's JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final


class ScriptError(ValueError):
    """A step the control API cannot accept; the message names the offending field."""


@dataclass(frozen=True, slots=True)
class FunctionCallSpec:
    name: str
    args: dict[str, Any]
    id: str | None = None


_UNSET: Final[Any] = object()


@dataclass(frozen=True, slots=True)
class Step:
    """One queued behaviour. Every field is optional and they combine; see `parse_step` for the wire names."""

    status: int | None = None
    reason: str | None = None
    retry_delay: str | None = None
    quota_reset_delay: str | None = None
    message: str | None = None
    retry_after_header: str | None = None
    validation_url: str | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    text: str | None = None
    thoughts: str | None = None
    function_calls: tuple[FunctionCallSpec, ...] | None = None
    finish_reason: str | None = None
    chunks: int | None = None
    cut_after: int | None = None
    empty: bool = False
    error_after: int | None = None
    usage: dict[str, Any] | None = None
    raw: Any = field(default=_UNSET)

    @property
    def has_raw(self) -> bool:
        return self.raw is not _UNSET

    @property
    def is_http_error(self) -> bool:
        """An error returned as the HTTP status (as opposed to one sent inside a started stream)."""
        return self.status is not None and self.status >= 400 and self.error_after is None


_STR_FIELDS: Final = (
    "reason",
    "retry_delay",
    "quota_reset_delay",
    "message",
    "retry_after_header",
    "validation_url",
    "text",
    "thoughts",
    "finish_reason",
)
_COUNT_FIELDS: Final = ("chunks", "cut_after", "error_after")
_DELAY_FIELDS: Final = ("delay", "chunk_delay")
KNOWN_FIELDS: Final = frozenset(
    (*_STR_FIELDS, *_COUNT_FIELDS, *_DELAY_FIELDS, "status", "function_calls", "empty", "usage", "raw")
)


def parse_step(obj: Any, where: str = "step") -> Step:
    """Validate one step object; unknown fields are rejected so a typo in a test fails loudly."""
    if not isinstance(obj, dict):
        raise ScriptError(f"{where}: expected an object")
    unknown = sorted(set(obj) - KNOWN_FIELDS)
    if unknown:
        raise ScriptError(f"{where}: unknown field(s) {', '.join(unknown)}")
    kwargs: dict[str, Any] = {}
    for name in _STR_FIELDS:
        if name in obj:
            kwargs[name] = _expect(obj[name], str, f"{where}.{name}")
    for name in _COUNT_FIELDS:
        if name in obj:
            value = _expect(obj[name], int, f"{where}.{name}")
            if value < (1 if name == "chunks" else 0):
                raise ScriptError(f"{where}.{name}: out of range")
            kwargs[name] = value
    for name in _DELAY_FIELDS:
        if name in obj:
            value = obj[name]
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ScriptError(f"{where}.{name}: expected a non-negative number of seconds")
            kwargs[name] = float(value)
    if "status" in obj:
        status = _expect(obj["status"], int, f"{where}.status")
        if not 100 <= status <= 599:
            raise ScriptError(f"{where}.status: not an HTTP status")
        kwargs["status"] = status
    if "empty" in obj:
        kwargs["empty"] = _expect(obj["empty"], bool, f"{where}.empty")
    if "usage" in obj:
        kwargs["usage"] = _expect(obj["usage"], dict, f"{where}.usage")
    if "function_calls" in obj:
        kwargs["function_calls"] = _parse_calls(obj["function_calls"], f"{where}.function_calls")
    if "raw" in obj:
        kwargs["raw"] = obj["raw"]
    if "error_after" in kwargs and "status" not in kwargs:
        kwargs["status"] = 503  # an in-stream error needs some code; 503 is what Google sends mid-stream
    return Step(**kwargs)


def parse_steps(obj: Any) -> list[Step]:
    if not isinstance(obj, list):
        raise ScriptError("steps: expected a list")
    return [parse_step(item, f"steps[{i}]") for i, item in enumerate(obj)]


def _parse_calls(obj: Any, where: str) -> tuple[FunctionCallSpec, ...]:
    if not isinstance(obj, list):
        raise ScriptError(f"{where}: expected a list")
    calls: list[FunctionCallSpec] = []
    for i, item in enumerate(obj):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise ScriptError(f"{at}: expected an object")
        name = _expect(item.get("name"), str, f"{at}.name")
        args = _expect(item.get("args", {}), dict, f"{at}.args")
        call_id = item.get("id")
        if call_id is not None:
            call_id = _expect(call_id, str, f"{at}.id")
        calls.append(FunctionCallSpec(name=name, args=args, id=call_id))
    return tuple(calls)


def _expect(value: Any, kind: type, where: str) -> Any:
    # bool is an int subclass; a count or status given as true is a mistake, not 1.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ScriptError(f"{where}: expected {kind.__name__}")
    return value
