"""SharedState: cooldowns, failure counts, session bindings and last use; in-process by default.

A Redis implementation can stand beside MemoryState with the same methods, so several gateway
instances share cooldowns and stickiness.
"""

from __future__ import annotations

from typing import Protocol

from poolgate.store.models import Cooldown

FAILURE_MEMORY_SECONDS = 3600.0


class SharedState(Protocol):
    async def cooldowns(self, now: float) -> dict[str, Cooldown]: ...

    async def set_cooldown(self, cooldown: Cooldown) -> None: ...

    async def clear_cooldowns(self, keys: list[str]) -> list[str]: ...

    async def failure_count(self, key: str, now: float) -> int: ...

    async def add_failure(self, key: str, now: float) -> int: ...

    async def reset_failures(self, *keys: str) -> None: ...

    async def binding(self, session: str, now: float) -> str | None: ...

    async def bind(self, session: str, account_id: str, until: float) -> None: ...

    async def unbind(self, session: str) -> None: ...


class MemoryState:
    """The default SharedState: plain dicts, valid for one process."""

    def __init__(self) -> None:
        self._cooldowns: dict[str, Cooldown] = {}
        self._failures: dict[str, tuple[int, float]] = {}
        self._bindings: dict[str, tuple[str, float]] = {}

    async def cooldowns(self, now: float) -> dict[str, Cooldown]:
        if not self._cooldowns:
            return self._cooldowns
        expired = [k for k, c in self._cooldowns.items() if c.until <= now]
        for key in expired:
            del self._cooldowns[key]
        return self._cooldowns

    async def set_cooldown(self, cooldown: Cooldown) -> None:
        self._cooldowns[cooldown.key] = cooldown

    async def clear_cooldowns(self, keys: list[str]) -> list[str]:
        cleared = [k for k in keys if self._cooldowns.pop(k, None) is not None]
        return cleared

    async def failure_count(self, key: str, now: float) -> int:
        entry = self._failures.get(key)
        if entry is None or now - entry[1] > FAILURE_MEMORY_SECONDS:
            return 0
        return entry[0]

    async def add_failure(self, key: str, now: float) -> int:
        count = await self.failure_count(key, now) + 1
        self._failures[key] = (count, now)
        return count

    async def reset_failures(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)

    async def binding(self, session: str, now: float) -> str | None:
        entry = self._bindings.get(session)
        if entry is None:
            return None
        if entry[1] <= now:
            del self._bindings[session]
            return None
        return entry[0]

    async def bind(self, session: str, account_id: str, until: float) -> None:
        if len(self._bindings) > 100_000:
            # Bounded: drop the oldest-expiring half rather than grow without limit.
            for key, _ in sorted(self._bindings.items(), key=lambda kv: kv[1][1])[:50_000]:
                del self._bindings[key]
        self._bindings[session] = (account_id, until)

    async def unbind(self, session: str) -> None:
        self._bindings.pop(session, None)
