"""The benchmark harness runs end to end in smoke mode, so `make bench` cannot rot between runs.

Nothing here looks at a time: benchmarks are not tests. Only the shape of the result file and the
fact that every request got a good answer are checked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]


def test_smoke_run_writes_a_well_formed_result_file(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POOLGATE_") and "PROXY" not in k.upper()}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "src")])
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    summary = orjson.loads((tmp_path / "smoke.json").read_bytes())
    assert summary["mode"] == "smoke"
    assert summary["machine"]["nproc"] >= 1
    results = summary["results"]
    assert set(results) == {"direct", "floor", "poolgate"}  # smoke mode never installs or runs LiteLLM
    for name, res in results.items():
        assert res["chat"]["errors"] == 0, name
        assert res["chat"]["latency"]["n"] == summary["plan"]["seq_n"], name
        assert res["stream"]["errors"] == 0, name
        assert res["stream"]["chunks_per_s"]["n"] == summary["plan"]["stream_n"], name
        assert res["c4"]["count"] > 0 and res["c4"]["errors"] == 0, name
        assert res["rss_idle"] > 0, name
    for name in ("floor", "poolgate"):
        assert results[name]["hold"]["streams"] == summary["plan"]["hold_n"], name
    raw = orjson.loads((tmp_path / "raw" / "smoke-raw.json").read_bytes())
    assert len(raw["poolgate.chat.latency"]) == summary["plan"]["seq_n"]
    # The code-per-request counts: poolgate's request path runs more of its own code than the floor's.
    footprint = summary["footprint"]
    for name in ("floor", "poolgate"):
        assert 0 < footprint[name]["own_functions"] <= footprint[name]["functions"], name
        assert 0 < footprint[name]["own_calls"] <= footprint[name]["calls"], name
        assert 0 < footprint[name]["own_opcodes"] <= footprint[name]["opcodes"], name
    assert footprint["poolgate"]["own_functions"] > footprint["floor"]["own_functions"]
