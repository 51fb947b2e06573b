"""What picking an account costs as the pool grows: in-process state, and Redis shared by instances.

Run: `PYTHONPATH=src python -m benchmarks.pool_scale [--redis-port N]`. For each pool size it times
`Scheduler.pick` (no conversation key, so every pick ranks the whole pool; nothing cools) and prints
microseconds of wall and CPU time per pick, and the ratio to a one-account pool in the same run. With
`--redis-port`, a redis-server on that port (started by the caller, data thrown away) holds the state.
"""

from __future__ import annotations

import argparse
import time

import uvloop

from poolgate.config import load_config
from poolgate.pool.clock import SystemClock
from poolgate.pool.scheduler import Scheduler
from poolgate.pool.state import MemoryState, SharedState
from poolgate.store.models import API_KEY, Account

SIZES = (1, 10, 100, 1000)
MODEL = "gemini-2.5-flash"


async def per_pick(state: SharedState, size: int, picks: int) -> tuple[float, float]:
    scheduler = Scheduler(state, SystemClock(), load_config("", {}).scheduling)
    scheduler.set_accounts([Account(f"k{i:04d}", API_KEY, f"key {i}", f"secret-{i}") for i in range(size)])
    for _ in range(max(20, picks // 10)):
        await scheduler.pick(MODEL)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(picks):
        await scheduler.pick(MODEL)
    return (time.perf_counter() - wall) / picks * 1e6, (time.process_time() - cpu) / picks * 1e6


async def run(redis_port: int | None) -> None:
    states: list[tuple[str, SharedState]] = [("in-process", MemoryState())]
    if redis_port is not None:
        from poolgate.pool.state_redis import RedisState

        states.append(("redis", RedisState.from_url(f"redis://127.0.0.1:{redis_port}/0", prefix="bench-pool:")))
    print(f"{'state':10s} {'accounts':>8s} {'wall us/pick':>13s} {'cpu us/pick':>12s} {'cpu ÷ 1 account':>16s}")
    for name, state in states:
        base = 0.0
        for size in SIZES:
            picks = max(200, 20_000 // size) if name == "in-process" else max(100, 3_000 // size)
            wall, cpu = await per_pick(state, size, picks)
            base = base or cpu
            print(f"{name:10s} {size:8d} {wall:13.1f} {cpu:12.1f} {cpu / base:15.1f}×")
        close = getattr(state, "close", None)
        if close is not None:
            await close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis-port", type=int, default=None)
    args = parser.parse_args()
    uvloop.run(run(args.redis_port))


if __name__ == "__main__":
    main()
