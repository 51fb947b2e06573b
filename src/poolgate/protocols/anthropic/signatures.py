"""How Gemini thought signatures travel inside Anthropic thinking blocks, and back.

A thinking block's `signature` is opaque to Anthropic clients, which replay it verbatim. poolgate
puts Gemini's `thoughtSignature` there with a marker saying which Gemini part owned it: `own` when
the thought part itself was signed, `next` when the signature belongs to the part that followed the
thinking (a functionCall or a text part). Signatures without the marker come from somewhere else
(for example a real Claude conversation) and are never sent to Gemini, which would reject them.
"""

from __future__ import annotations

from typing import Literal

PREFIX = "pgs1."
OWN: Literal["own"] = "own"
NEXT: Literal["next"] = "next"
Kind = Literal["own", "next"]

_CODES: dict[str, Kind] = {"t": OWN, "n": NEXT}


def wrap(kind: Kind, signature: str) -> str:
    return f"{PREFIX}{'t' if kind == OWN else 'n'}.{signature}"


def unwrap(value: object) -> tuple[Kind, str] | None:
    """The owner and Gemini signature inside a thinking block's signature, or None if it is not ours."""
    if not isinstance(value, str) or not value.startswith(PREFIX):
        return None
    code, _, signature = value[len(PREFIX) :].partition(".")
    kind = _CODES.get(code)
    if kind is None or not signature:
        return None
    return kind, signature
