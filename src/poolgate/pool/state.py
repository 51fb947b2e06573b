"""SharedState: cooldowns, failure counts, session bindings and last use; in-process by default.

A Redis implementation can stand beside MemoryState with the same methods, so several gateway
instances share cooldowns and stickiness — and the count of wrong admin passwords per address, so
that running more instances does not multiply the guesses an address gets.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from poolgate.store.models import Cooldown

FAILURE_MEMORY_SECONDS = 3600.0
# Addresses with recent wrong admin passwords kept in one process's memory (Redis expires its own).
MAX_TRACKED_ADDRESSES = 10_000
# How often expired cooldowns are swept out, by the caller's clock. Reads skip expired ones themselves;
# the sweep only keeps a client that sprays unknown model names (one cooldown per account and name)
# from growing the table for longer than the cooldowns last.
SWEEP_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class View:
    """What a pick reads: the cooldowns that can block its accounts, and its session's binding."""

    cooldowns: dict[str, Cooldown] = field(default_factory=dict)
    bound: str | None = None  # the bound account's id, while the binding holds
    bound_until: float = 0.0


def cooldown_keys(account_ids: Iterable[str], model: str) -> list[str]:
    """The keys that can block these accounts from `model`: each whole account and each account × model."""
    keys: list[str] = []
    for account_id in account_ids:
        keys.append(account_id)
        if model:
            keys.append(f"{account_id}:{model}")
    return keys


class SharedState(Protocol):
    async def cooldowns(self, now: float) -> dict[str, Cooldown]:
        """Every cooldown still running at `now` (admin listings; O(all cooldowns))."""
        ...

    async def cooldowns_for(self, account_ids: Iterable[str], model: str, now: float) -> dict[str, Cooldown]:
        """The running cooldowns that can block these accounts from `model` (per request: O(accounts))."""
        ...

    async def lookup(self, account_ids: Iterable[str], model: str, session: str, now: float) -> View:
        """`cooldowns_for` and the session's binding (none for an empty session): one round trip on Redis."""
        ...

    async def set_cooldown(self, cooldown: Cooldown) -> None: ...

    async def clear_cooldowns(self, keys: list[str]) -> list[str]: ...

    async def failure_count(self, key: str, now: float) -> int: ...

    async def add_failure(self, key: str, now: float) -> int: ...

    async def reset_failures(self, *keys: str) -> None: ...

    async def binding(self, session: str, now: float) -> str | None: ...

    async def bind(self, session: str, account_id: str, until: float) -> None: ...

    async def unbind(self, session: str) -> None: ...

    async def sign_in_failures(self, address: str, now: float, window: float) -> list[float]:
        """When the address's wrong admin passwords of the last `window` seconds came, oldest first."""
        ...

    async def add_sign_in_failure(self, address: str, now: float, window: float, keep: int) -> None:
        """Note one at `now`; only the latest `keep` need be kept."""
        ...

    async def clear_sign_in_failures(self, address: str) -> None: ...

    async def ping(self) -> None:
        """Return if the state can be reached; raise otherwise (the readiness probe)."""
        ...


class MemoryState:
    """The default SharedState: plain dicts, valid for one process."""

    def __init__(self) -> None:
        self._cooldowns: dict[str, Cooldown] = {}
        self._next_sweep = 0.0
        self._failures: dict[str, tuple[int, float]] = {}
        self._bindings: dict[str, tuple[str, float]] = {}
        self._sign_ins: dict[str, deque[float]] = {}

    def _sweep(self, now: float) -> None:
        expired = [k for k, c in self._cooldowns.items() if c.until <= now]
        for key in expired:
            del self._cooldowns[key]
        # Failure counts are kept per account and model name, and a name that never succeeds is never reset.
        stale = [k for k, (_, last) in self._failures.items() if now - last > FAILURE_MEMORY_SECONDS]
        for key in stale:
            del self._failures[key]
        self._next_sweep = now + SWEEP_SECONDS

    async def cooldowns(self, now: float) -> dict[str, Cooldown]:
        if self._cooldowns:
            self._sweep(now)
        return self._cooldowns

    async def cooldowns_for(self, account_ids: Iterable[str], model: str, now: float) -> dict[str, Cooldown]:
        return self._cooldowns_for(account_ids, model, now)

    def _cooldowns_for(self, account_ids: Iterable[str], model: str, now: float) -> dict[str, Cooldown]:
        current = self._cooldowns
        if not current:
            return {}
        if now >= self._next_sweep:
            self._sweep(now)
        found: dict[str, Cooldown] = {}
        ids = account_ids if isinstance(account_ids, (set, frozenset)) else set(account_ids)
        if len(current) < 2 * len(ids):
            # Fewer cooldowns than keys to look up (the usual case in a large pool): walk the cooldowns.
            for key, cooldown in current.items():
                if cooldown.until > now and cooldown.model in ("", model) and cooldown.account_id in ids:
                    found[key] = cooldown
            return found
        for key in cooldown_keys(ids, model):
            held = current.get(key)
            if held is not None and held.until > now:
                found[key] = held
        return found

    async def lookup(self, account_ids: Iterable[str], model: str, session: str, now: float) -> View:
        cooldowns = self._cooldowns_for(account_ids, model, now)
        entry = self._bindings.get(session) if session else None
        if entry is None or entry[1] <= now:
            return View(cooldowns)
        return View(cooldowns, entry[0], entry[1])

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
        if now >= self._next_sweep:
            self._sweep(now)
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

    async def sign_in_failures(self, address: str, now: float, window: float) -> list[float]:
        times = self._sign_ins.get(address)
        if times is None:
            return []
        while times and times[0] <= now - window:
            times.popleft()
        if not times:
            del self._sign_ins[address]
        return list(times)

    async def add_sign_in_failure(self, address: str, now: float, window: float, keep: int) -> None:
        times = self._sign_ins.get(address)
        if times is None:
            if len(self._sign_ins) >= MAX_TRACKED_ADDRESSES:
                # Bounded memory: forget the address whose latest failure is oldest.
                del self._sign_ins[min(self._sign_ins, key=lambda a: self._sign_ins[a][-1])]
            times = self._sign_ins[address] = deque(maxlen=keep)
        times.append(now)

    async def clear_sign_in_failures(self, address: str) -> None:
        self._sign_ins.pop(address, None)

    async def ping(self) -> None:
        return None  # in this process: always there
