"""RedisState: the SharedState in Redis, so several gateway instances share cooldowns and stickiness.

Layout under one key prefix:
- `{prefix}cooldowns`: a hash, cooldown key → JSON; a pick reads only its accounts' keys (a script that
  HMGETs them and returns only the ones set, with the session's binding).
- `{prefix}cooldowns:until`: a sorted set of the same keys scored by `until`, so that expired entries
  can be swept out without reading the whole hash (Redis 7.0 has no per-field expiry). A sweep runs at
  most every SWEEP_SECONDS per instance, as one script; the full listing (admin) also removes what it
  finds expired.
- `{prefix}fail:{scope}`: a failure counter that expires FAILURE_MEMORY_SECONDS after its last failure.
- `{prefix}bind:{session}`: `until|account_id`, expiring with the binding.
- `{prefix}signin:{address}`: a sorted set of wrong admin passwords (member and score: when), trimmed to
  the window and the newest `keep` on each write, expiring a window after the last one.
Expiry in Redis runs on Redis's wall clock; the `until` values inside are the scheduler's clock, checked
on read, so a gateway with another clock (tests) still sees the right answer.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Concatenate, ParamSpec, TypeVar

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from poolgate.errors import ErrorKind, GatewayError
from poolgate.outages import Outage
from poolgate.pool.state import FAILURE_MEMORY_SECONDS, SWEEP_SECONDS, View
from poolgate.store.models import Cooldown

P = ParamSpec("P")
T = TypeVar("T")
# How soon a client is told to try again while Redis is away: reconnecting is redis-py's own, per call.
RETRY_AFTER_SECONDS = 5.0
# One log line per this many seconds of outage, not one per refused request.
WARN_EVERY_SECONDS = 10.0

log = logging.getLogger("poolgate.state")

DEFAULT_PREFIX = "poolgate:"
# Bindings outlive their `until` a little in Redis: reads decide by `until`, the TTL only collects garbage.
BINDING_GRACE_SECONDS = 60
# Removes the cooldowns that expired by ARGV[1] from the hash (KEYS[1]) and its index (KEYS[2]) in one
# step, so a cooldown another instance sets again meanwhile is never lost. At most 1,000 per run.
_SWEEP = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, 1000)
if #expired > 0 then
  redis.call('HDEL', KEYS[1], unpack(expired))
  redis.call('ZREM', KEYS[2], unpack(expired))
end
return #expired
"""


# A pick's read: KEYS[1] the cooldown hash, KEYS[2] (optional) the session's binding; ARGV[1] the account
# ids, one per line, ARGV[2] ":" .. model ("" for none). Returns {field, value, field, value, …} for the
# cooldowns that exist, then the binding (or false). The ids travel as one argument and the fields are
# made here: redis-py packs and parses each argument and reply in Python, which for 100 accounts cost
# a millisecond of the gateway's CPU per request as an HMGET of 200 fields; this costs ~a ping.
_LOOKUP = """
local fields = {}
for id in string.gmatch(ARGV[1], '[^\\n]+') do
  fields[#fields + 1] = id
  if ARGV[2] ~= '' then fields[#fields + 1] = id .. ARGV[2] end
end
local found = {}
for first = 1, #fields, 4000 do
  local batch = {unpack(fields, first, math.min(first + 3999, #fields))}
  local values = redis.call('HMGET', KEYS[1], unpack(batch))
  for i = 1, #batch do
    if values[i] then
      found[#found + 1] = batch[i]
      found[#found + 1] = values[i]
    end
  end
end
local bound = false
if #KEYS > 1 then bound = redis.call('GET', KEYS[2]) end
return {found, bound}
"""


def _encode(c: Cooldown) -> bytes:
    return orjson.dumps(
        {"a": c.account_id, "m": c.model, "u": c.until, "r": c.reason, "k": c.kind, "s": c.since},
    )


def _decode(raw: bytes | str) -> Cooldown:
    d: dict[str, Any] = orjson.loads(raw)
    return Cooldown(str(d["a"]), str(d["m"]), float(d["u"]), str(d["r"]), str(d["k"]), float(d.get("s") or 0.0))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def unreachable(exc: RedisError) -> GatewayError:
    """A 503 in the client's protocol instead of a 500 and a traceback on every request while Redis is down.

    Requests are refused rather than served from this process's memory alone: instances that shared
    cooldowns would otherwise each send traffic to accounts another has seen rate-limited.
    """
    reason = str(exc).rstrip(".") or type(exc).__name__
    return GatewayError(
        ErrorKind.NO_ACCOUNT,
        f"The gateway's shared state (Redis) cannot be reached: {reason}. Requests resume when it is back.",
        retry_after=RETRY_AFTER_SECONDS,
        code="state_unavailable",
    )


def _guarded(
    method: Callable[Concatenate[RedisState, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[RedisState, P], Coroutine[Any, Any, T]]:
    async def call(self: RedisState, /, *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            result = await method(self, *args, **kwargs)
        except RedisError as exc:
            self.outage.failed(exc, "requests get a 503 until it is back")
            raise unreachable(exc) from None
        self.outage.succeeded()
        return result

    call.__name__ = method.__name__
    call.__doc__ = method.__doc__
    return call


class RedisState:
    """SharedState over redis-py's asyncio client; every method is one round trip (a 503 when Redis is down)."""

    def __init__(self, client: aioredis.Redis, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self.prefix = prefix
        self._cooldowns_key = f"{prefix}cooldowns"
        self._until_key = f"{prefix}cooldowns:until"
        self._sweep = client.register_script(_SWEEP)
        self._read = client.register_script(_LOOKUP)
        self._next_sweep = 0.0
        self.outage = Outage(log, "Redis cannot be reached", "Redis answers again", WARN_EVERY_SECONDS)

    @classmethod
    def from_url(cls, url: str, prefix: str = DEFAULT_PREFIX) -> RedisState:
        return cls(aioredis.Redis.from_url(url), prefix)

    async def close(self) -> None:
        await self.client.aclose()

    async def ping(self) -> None:
        await self.client.ping()

    # -- cooldowns
    @_guarded
    async def cooldowns(self, now: float) -> dict[str, Cooldown]:
        raw = await self.client.hgetall(self._cooldowns_key)
        current: dict[str, Cooldown] = {}
        expired: list[str] = []
        for field, value in raw.items():
            key = _text(field)
            cooldown = _decode(value)
            if cooldown.until <= now:
                expired.append(key)
            else:
                current[key] = cooldown
        if expired:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hdel(self._cooldowns_key, *expired)
                pipe.zrem(self._until_key, *expired)
                await pipe.execute()
        return current

    @_guarded
    async def cooldowns_for(self, account_ids: Iterable[str], model: str, now: float) -> dict[str, Cooldown]:
        return (await self._lookup(account_ids, model, "", now)).cooldowns

    @_guarded
    async def lookup(self, account_ids: Iterable[str], model: str, session: str, now: float) -> View:
        return await self._lookup(account_ids, model, session, now)

    async def _lookup(self, account_ids: Iterable[str], model: str, session: str, now: float) -> View:
        ids = "\n".join(account_ids)
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_SECONDS
            await self._sweep(keys=[self._cooldowns_key, self._until_key], args=[repr(now)])
        if not ids and not session:
            return View()
        keys = [self._cooldowns_key, self._bind_key(session)] if session else [self._cooldowns_key]
        pairs, bound = await self._read(keys=keys, args=[ids, f":{model}" if model else ""])
        found: dict[str, Cooldown] = {}
        for i in range(0, len(pairs), 2):
            cooldown = _decode(pairs[i + 1])
            if cooldown.until > now:
                found[_text(pairs[i])] = cooldown
        if bound is None:
            return View(found)
        until, _, account_id = _text(bound).partition("|")
        return View(found, account_id, float(until)) if float(until) > now else View(found)

    @_guarded
    async def set_cooldown(self, cooldown: Cooldown) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(self._cooldowns_key, cooldown.key, _encode(cooldown))
            pipe.zadd(self._until_key, {cooldown.key: cooldown.until})
            await pipe.execute()

    @_guarded
    async def clear_cooldowns(self, keys: list[str]) -> list[str]:
        if not keys:
            return []
        async with self.client.pipeline(transaction=True) as pipe:
            for key in keys:
                pipe.hdel(self._cooldowns_key, key)
            pipe.zrem(self._until_key, *keys)
            removed: list[int] = (await pipe.execute())[:-1]
        return [k for k, n in zip(keys, removed, strict=True) if n]

    # -- failure counts
    def _fail_key(self, key: str) -> str:
        return f"{self.prefix}fail:{key}"

    @_guarded
    async def failure_count(self, key: str, now: float) -> int:
        value = await self.client.get(self._fail_key(key))
        return int(value) if value is not None else 0

    @_guarded
    async def add_failure(self, key: str, now: float) -> int:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.incr(self._fail_key(key))
            pipe.expire(self._fail_key(key), int(FAILURE_MEMORY_SECONDS))
            count, _ = await pipe.execute()
        return int(count)

    @_guarded
    async def reset_failures(self, *keys: str) -> None:
        if keys:
            await self.client.unlink(*(self._fail_key(key) for key in keys))

    # -- session bindings
    def _bind_key(self, session: str) -> str:
        return f"{self.prefix}bind:{session}"

    @_guarded
    async def binding(self, session: str, now: float) -> str | None:
        raw = await self.client.get(self._bind_key(session))
        if raw is None:
            return None
        until, _, account_id = _text(raw).partition("|")
        return account_id if float(until) > now else None

    @_guarded
    async def bind(self, session: str, account_id: str, until: float) -> None:
        ttl = max(1, math.ceil(until - time.time())) + BINDING_GRACE_SECONDS
        await self.client.set(self._bind_key(session), f"{until!r}|{account_id}", ex=ttl)

    @_guarded
    async def unbind(self, session: str) -> None:
        await self.client.unlink(self._bind_key(session))

    # -- wrong admin passwords
    def _sign_in_key(self, address: str) -> str:
        return f"{self.prefix}signin:{address}"

    @_guarded
    async def sign_in_failures(self, address: str, now: float, window: float) -> list[float]:
        raw = await self.client.zrangebyscore(self._sign_in_key(address), f"({now - window!r}", "+inf", withscores=True)
        return [float(pair[1]) for pair in raw]

    @_guarded
    async def add_sign_in_failure(self, address: str, now: float, window: float, keep: int) -> None:
        key = self._sign_in_key(address)
        async with self.client.pipeline(transaction=True) as pipe:
            # A member per failure: two at the same instant on two instances must both count.
            pipe.zadd(key, {f"{now!r}:{secrets.token_hex(4)}": now})
            pipe.zremrangebyscore(key, "-inf", now - window)
            pipe.zremrangebyrank(key, 0, -(keep + 1))
            pipe.expire(key, max(1, math.ceil(window)))
            await pipe.execute()

    @_guarded
    async def clear_sign_in_failures(self, address: str) -> None:
        await self.client.unlink(self._sign_in_key(address))
