"""Building a hub `contents` list: consecutive parts of one role form one turn, as Gemini expects."""

from __future__ import annotations

from poolgate.hub.types import Content, Part


def append_turn(contents: list[Content], role: str, parts: list[Part]) -> None:
    """Add `parts` as a turn of `role`, merged into the last turn when that has the same role."""
    if not parts:
        return
    if contents and contents[-1].get("role") == role:
        contents[-1].setdefault("parts", []).extend(parts)
    else:
        contents.append({"role": role, "parts": parts})
