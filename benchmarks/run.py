"""`make bench`: start every system under test, drive the same load at each, write results and the report.

Usage: python -m benchmarks.run [--smoke] [--no-litellm] [--no-choices] [--out DIR] [--report PATH]
--smoke runs a few requests against direct, floor and poolgate only (what `make test` does).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from benchmarks import targets as tg
from benchmarks.procs import Proc, cpu_seconds, rss_bytes


@dataclass(frozen=True)
class Plan:
    seq_n: int
    seq_warmup: int
    stream_n: int
    concurrency: tuple[int, ...]
    duration: float
    hold_n: int
    chunks: int
    rounds: int
    # The proxies are started afresh for each epoch: the same build measures 1.2-3x the floor's added
    # latency from one set of processes to the next (placement on the CPUs, memory layout), far more
    # than interleaved rounds within one set vary, so a single start is one draw of that lottery.
    epochs: int = 1


FULL = Plan(
    seq_n=1000,
    seq_warmup=20,
    stream_n=300,
    concurrency=(1, 16, 64),
    duration=10.0,
    hold_n=1000,
    chunks=20,
    rounds=10,
    epochs=5,
)
# Per target after each start, before an epoch's measurements.
WARMUP_REQUESTS = 200
SMOKE = Plan(seq_n=10, seq_warmup=2, stream_n=4, concurrency=(4,), duration=0.3, hold_n=10, chunks=5, rounds=1)


def loadgen(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tg.ROOT)}
    with tempfile.TemporaryDirectory(prefix="poolgate-loadgen-") as tmp:
        out = Path(tmp) / "result.json"
        argv = [sys.executable, "-m", "benchmarks.loadgen", orjson.dumps({**spec, "out": str(out)}).decode()]
        subprocess.run(argv, capture_output=True, timeout=timeout, env=env, check=True)
        result: dict[str, Any] = orjson.loads(out.read_bytes())
    return result


def footprint() -> dict[str, Any]:
    """Python calls and distinct functions per chat request, floor and poolgate (benchmarks/footprint.py)."""
    env = {**os.environ, "PYTHONPATH": f"{tg.ROOT}{os.pathsep}{tg.ROOT / 'src'}"}
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.footprint"], capture_output=True, timeout=120, env=env, check=True
    )
    result: dict[str, Any] = orjson.loads(out.stdout)
    return result


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def stats(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "median": statistics.median(values) if values else float("nan"),
        "p90": pct(values, 0.90),
        "p99": pct(values, 0.99),
        "mean": statistics.fmean(values) if values else float("nan"),
    }


class Bench:
    """Runs every figure in rounds, the targets taking turns within a round.

    The machines are shared and noisy; interleaving spreads a noisy minute over all targets
    instead of landing on one of them, so the ratios stay meaningful.
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.raw: dict[str, list[float]] = {}

    def sequential(self, t: tg.Target, stream: bool, n: int, acc: dict[str, Any]) -> None:
        url, body = t.request(stream)
        warmup = self.plan.seq_warmup
        spec = {
            "mode": "sequential",
            "url": url,
            "body": body,
            "headers": t.headers,
            "n": n,
            "warmup": warmup,
            "stream": stream,
        }
        cpu0 = cpu_seconds(t.pid)
        r = loadgen(spec, timeout=600)
        acc["cpu"] = acc.get("cpu", 0.0) + cpu_seconds(t.pid) - cpu0
        acc["requests"] = acc.get("requests", 0) + r["count"] + warmup
        acc["errors"] = acc.get("errors", 0) + r["errors"]
        for key in ("latency", "ttfb", "chunks_per_s"):
            acc.setdefault(key, []).extend(r[key])

    def concurrent(self, t: tg.Target, concurrency: int, duration: float, acc: dict[str, Any]) -> None:
        url, body = t.request(False)
        warmup = 0.3
        spec = {
            "mode": "concurrent",
            "url": url,
            "body": body,
            "headers": t.headers,
            "concurrency": concurrency,
            "duration": duration,
            "warmup": warmup,
        }
        cpu0 = cpu_seconds(t.pid)
        r = loadgen(spec, timeout=duration + 120)
        acc["cpu"] = acc.get("cpu", 0.0) + cpu_seconds(t.pid) - cpu0
        # The CPU window also covers warm-up and drain; count those requests at the measured rate.
        acc["requests"] = acc.get("requests", 0) + max(1.0, r["rps"] * (duration + warmup))
        acc["count"] = acc.get("count", 0) + r["count"]
        acc["elapsed"] = acc.get("elapsed", 0.0) + r["elapsed"]
        acc["errors"] = acc.get("errors", 0) + r["errors"]
        acc.setdefault("latency", []).extend(r["latency"])

    def hold(self, t: tg.Target, n: int) -> dict[str, Any]:
        """Open n slow streams at once and read the server's RSS while they are all open."""
        url, body = t.request(True, model=tg.SLOW_MODEL)
        before = rss_bytes(t.pid)
        spec = {"mode": "hold", "url": url, "body": body, "headers": t.headers, "n": n, "hold": 120, "stream": True}
        env = {**os.environ, "PYTHONPATH": str(tg.ROOT)}
        argv = [sys.executable, "-m", "benchmarks.loadgen", orjson.dumps(spec).decode()]
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        assert p.stdout is not None and p.stdin is not None
        try:
            ready = orjson.loads(p.stdout.readline() or b"{}")
            time.sleep(1.0)  # let the server settle its buffers before reading
            held = rss_bytes(t.pid)
            p.stdin.write(b"done\n")
            p.stdin.flush()
            p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        opened = int(ready.get("ready", 0))
        return {
            "streams": opened,
            "open_seconds": ready.get("seconds"),
            "rss_before": before,
            "rss_held": held,
            "bytes_per_stream": (held - before) / opened if opened else None,
        }

    def summarize(self, name: str, acc: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"errors": acc.get("errors", 0)}
        out["cpu_ms_per_request"] = 1000.0 * acc.get("cpu", 0.0) / max(1.0, acc.get("requests", 1))
        for key in ("latency", "ttfb", "chunks_per_s"):
            if acc.get(key):
                self.raw[f"{name}.{key}"] = acc[key]
                out[key] = stats(acc[key])
        if "elapsed" in acc:
            out["rps"] = acc["count"] / acc["elapsed"] if acc["elapsed"] else 0.0
            out["count"] = acc["count"]
        return out

    def rounds(self, targets: list[tg.Target], plan: Plan, rounds: int, accs: Accs) -> None:
        """Sequential chat, sequential streams and throughput at each concurrency, targets taking turns."""
        for rnd in range(rounds):
            print(f"  round {rnd + 1}/{rounds}", flush=True)
            for t in targets:
                self.sequential(t, False, plan.seq_n // plan.rounds, accs.setdefault((t.name, "chat"), {}))
                self.sequential(t, True, plan.stream_n // plan.rounds, accs.setdefault((t.name, "stream"), {}))
                for c in plan.concurrency:
                    duration = plan.duration / plan.rounds
                    self.concurrent(t, c, duration, accs.setdefault((t.name, f"c{c}"), {}))

    def results(self, accs: Accs, prefix: str = "") -> dict[str, dict[str, Any]]:
        res: dict[str, dict[str, Any]] = {}
        for (name, figure), acc in accs.items():
            res.setdefault(name, {})[figure] = self.summarize(f"{prefix}{name}.{figure}", acc)
        return res

    def figures(self, targets: list[tg.Target], plan: Plan, prefix: str = "") -> dict[str, dict[str, Any]]:
        """Every figure over plan.rounds rounds on one set of processes."""
        accs: Accs = {}
        self.rounds(targets, plan, plan.rounds, accs)
        return self.results(accs, prefix)

    def run_epochs(self, start: Callable[[], tuple[list[tg.Target], list[Proc]]]) -> dict[str, Any]:
        """plan.epochs epochs, each on freshly started proxies; figures pool every epoch's samples.

        Idle RSS is read right after the first start, the open-streams memory at the end of the last
        epoch. Each epoch's own chat medians and c=16 throughput are kept too, to show the spread.
        """
        plan = self.plan
        accs: Accs = {}
        per_epoch: list[dict[str, dict[str, float]]] = []
        idle: dict[str, int] = {}
        hold: dict[str, Any] = {}
        rounds_left = plan.rounds
        for epoch in range(plan.epochs):
            rounds = rounds_left // (plan.epochs - epoch)
            rounds_left -= rounds
            targets, procs = start()
            try:
                print(f"epoch {epoch + 1}/{plan.epochs} on " + ", ".join(t.name for t in targets), flush=True)
                if epoch == 0:
                    idle = {t.name: rss_bytes(t.pid) for t in targets}
                for t in targets:  # unmeasured: first-request work, and poolgate's log writer starting
                    self.sequential(t, False, WARMUP_REQUESTS, {})
                time.sleep(1.0)
                mine: Accs = {}
                self.rounds(targets, plan, rounds, mine)
                per_epoch.append(_epoch_figures(mine))
                _merge(accs, mine)
                if epoch == plan.epochs - 1:
                    for t in targets:
                        if t.openai:  # the stub is not a proxy; its memory says nothing about proxies
                            print(f"  {plan.hold_n} open streams: {t.name}", flush=True)
                            hold[t.name] = self.hold(t, plan.hold_n)
            finally:
                for p in procs:
                    p.stop()
        res = self.results(accs)
        for name, figures in res.items():
            figures["rss_idle"] = idle.get(name)
            if name in hold:
                figures["hold"] = hold[name]
        return {"results": res, "epochs": per_epoch}

    def choices(self, stub: Proc, logs: Path) -> dict[str, Any]:
        """Server and upstream-client candidates, each as the floor proxy; and the stub against the simulator."""
        procs: list[Proc] = []
        try:
            candidates = [tg.Target("upstream stub", stub, openai=False)]
            sim = tg.start_simulator(logs)
            procs.append(sim)
            candidates.append(tg.Target("upstream simulator", sim, openai=False))
            for server, client in (("uvicorn", "aiohttp"), ("uvicorn", "httpx"), ("granian", "aiohttp")):
                proc = tg.start_floor(stub, logs, server, client)
                procs.append(proc)
                candidates.append(tg.Target(f"floor {server}+{client}", proc, openai=True))
            print("choices: " + ", ".join(t.name for t in candidates), flush=True)
            # Half the main suite's counts: enough to rank candidates, and the run stays bounded.
            plan = dataclasses.replace(
                self.plan, seq_n=self.plan.seq_n // 2, stream_n=self.plan.stream_n // 2, duration=self.plan.duration / 2
            )
            return self.figures(candidates, plan, prefix="choice ")
        finally:
            for p in procs:
                p.stop()


Accs = dict[tuple[str, str], dict[str, Any]]


def _merge(total: Accs, part: Accs) -> None:
    """Add one epoch's accumulators (sample lists, counts, CPU seconds) into the run's."""
    for key, acc in part.items():
        into = total.setdefault(key, {})
        for field, value in acc.items():
            if isinstance(value, list):
                into.setdefault(field, []).extend(value)
            else:
                into[field] = into.get(field, 0) + value


def _epoch_figures(accs: Accs) -> dict[str, dict[str, float]]:
    """One epoch's sequential chat median and c=16 throughput per target."""
    out: dict[str, dict[str, float]] = {}
    for (name, figure), acc in accs.items():
        if figure == "chat" and acc.get("latency"):
            out.setdefault(name, {})["chat_median"] = statistics.median(acc["latency"])
        elif figure == "c16" and acc.get("elapsed"):
            out.setdefault(name, {})["c16_rps"] = acc["count"] / acc["elapsed"]
    return out


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=tg.ROOT)
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit.stdout.strip(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a few requests, no LiteLLM, no choices")
    parser.add_argument("--no-litellm", action="store_true")
    parser.add_argument("--no-choices", action="store_true")
    parser.add_argument("--out", type=Path, default=tg.ROOT / "benchmarks" / "results")
    parser.add_argument("--report", type=Path, default=None, help="markdown report (default docs/benchmarks.md)")
    parser.add_argument("--report-only", action="store_true", help="rewrite the report from the saved summary")
    args = parser.parse_args()
    if args.report_only:
        from benchmarks import report

        summary = orjson.loads((args.out / "summary.json").read_bytes())
        raw = orjson.loads((args.out / "raw" / "summary-raw.json").read_bytes())
        report.write(summary, raw, args.out, args.report or tg.ROOT / "docs" / "benchmarks.md")
        return
    plan = SMOKE if args.smoke else FULL
    with_litellm = not (args.smoke or args.no_litellm)
    with_choices = not (args.smoke or args.no_choices)
    out_dir: Path = args.out
    raw_dir = out_dir / "raw"
    raw_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="poolgate-bench-"))
    logs = work / "logs"
    procs: list[Proc] = []
    bench = Bench(plan)
    started = time.time()
    epoch = 0
    try:
        stub = tg.start_stub(logs, plan.chunks)
        procs.append(stub)

        def start() -> tuple[list[tg.Target], list[Proc]]:
            nonlocal epoch
            epoch += 1
            here = work / f"epoch-{epoch}"
            started_procs: list[Proc] = []
            try:
                floor = tg.start_floor(stub, logs)
                started_procs.append(floor)
                pool = tg.start_poolgate(stub, here, logs)
                started_procs.append(pool)
                targets = [
                    tg.Target("direct", stub, openai=False),
                    tg.Target("floor", floor, openai=True),
                    tg.Target("poolgate", pool, openai=True),
                ]
                if with_litellm:
                    here.mkdir(parents=True, exist_ok=True)
                    lite = tg.start_litellm(stub, here, logs)
                    started_procs.append(lite)
                    targets.append(tg.Target("litellm", lite, openai=True))
            except BaseException:
                for p in started_procs:
                    p.stop()
                raise
            return targets, started_procs

        suite = bench.run_epochs(start)
        summary = make_summary(args.smoke, plan, with_litellm, started, suite["results"], {})
        summary["epochs"] = suite["epochs"]
        summary["footprint"] = footprint()
        save(summary, bench.raw, out_dir, args.smoke)
        summary["choices"] = bench.choices(stub, logs) if with_choices else {}
    finally:
        for p in procs:
            p.stop()
    summary["wall_seconds"] = round(time.time() - started, 1)
    save(summary, bench.raw, out_dir, args.smoke)
    if not args.smoke:
        from benchmarks import report

        report.write(summary, bench.raw, out_dir, args.report or tg.ROOT / "docs" / "benchmarks.md")
    shutil.rmtree(work, ignore_errors=True)


def make_summary(
    smoke: bool, plan: Plan, with_litellm: bool, started: float, results: dict[str, Any], choices: dict[str, Any]
) -> dict[str, Any]:
    return {
        "machine": machine(),
        "mode": "smoke" if smoke else "full",
        "plan": plan.__dict__,
        "litellm_version": tg.litellm_version() if with_litellm else None,
        "wall_seconds": round(time.time() - started, 1),
        "results": results,
        "choices": choices,
    }


def save(summary: dict[str, Any], raw: dict[str, list[float]], out_dir: Path, smoke: bool) -> None:
    name = "smoke.json" if smoke else "summary.json"
    (out_dir / name).write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    (out_dir / "raw" / name.replace(".json", "-raw.json")).write_bytes(orjson.dumps(raw))
    print(f"wrote {out_dir / name}", flush=True)


if __name__ == "__main__":
    main()
