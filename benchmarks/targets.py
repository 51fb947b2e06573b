"""The systems under test: the stub (direct path), the floor proxy, poolgate and LiteLLM's proxy."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.procs import Proc, clean_env, free_port, start

ROOT = Path(__file__).resolve().parents[1]
LITELLM_VERSION = "1.108.7"
LITELLM_VENV = ROOT / "benchmarks" / ".venv-litellm"
MODEL = "gemini-2.5-flash"
SLOW_MODEL = "bench-slow"
MESSAGES = [
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "Say hello in one short sentence, please."},
]


def chat_body(model: str, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": MESSAGES, "max_tokens": 64}
    if stream:
        body["stream"] = True
    return body


def gemini_body() -> dict[str, Any]:
    # What the floor sends upstream for MESSAGES: the direct path skips only this conversion.
    return {
        "contents": [{"role": "user", "parts": [{"text": MESSAGES[1]["content"]}]}],
        "systemInstruction": {"parts": [{"text": MESSAGES[0]["content"]}]},
        "generationConfig": {"maxOutputTokens": 64},
    }


@dataclass
class Target:
    name: str
    proc: Proc
    openai: bool  # speaks OpenAI chat (the proxies) or Gemini (the stub itself)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def headers(self) -> dict[str, str]:
        # Proxies get no key (auth is off on loopback); Gemini upstreams want one (the simulator checks it).
        return {} if self.openai else {"x-goog-api-key": "AIzaBenchmarkKey0000000000000000000"}

    def request(self, stream: bool, model: str = MODEL) -> tuple[str, dict[str, Any]]:
        if self.openai:
            return self.proc.base + "/v1/chat/completions", chat_body(model, stream)
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"{self.proc.base}/v1beta/models/{model}:{method}", gemini_body()


def python() -> str:
    return sys.executable


def start_stub(logs: Path, chunks: int, name: str = "stub") -> Proc:
    port = free_port()
    argv = [python(), "-m", "benchmarks.stub", "--port", str(port), "--chunks", str(chunks), "--slow-gap", "60"]
    return start(name, argv, clean_env({"PYTHONPATH": str(ROOT)}), f"http://127.0.0.1:{port}", "/healthz", logs, 30)


def start_simulator(logs: Path) -> Proc:
    port = free_port()
    argv = [python(), "-m", "poolgate.simulator", "--host", "127.0.0.1", "--port", str(port)]
    env = clean_env({"PYTHONPATH": str(ROOT / "src")})
    return start("simulator", argv, env, f"http://127.0.0.1:{port}", "/_sim/calls", logs, 30)


def start_poolgate(stub: Proc, work: Path, logs: Path) -> Proc:
    data = work / "poolgate-data"
    env = clean_env({"PYTHONPATH": str(ROOT / "src"), "POOLGATE_UPSTREAM__GEMINI_API_BASE": stub.base})
    cli = [python(), "-m", "poolgate"]
    subprocess.run(
        [*cli, "accounts", "add-key", "AIzaBenchmarkKey0000000000000000000", "--data-dir", str(data)],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    port = free_port()
    argv = [*cli, "serve", "--port", str(port), "--data-dir", str(data)]
    return start("poolgate", argv, env, f"http://127.0.0.1:{port}", "/healthz", logs, 60)


def start_floor(stub: Proc, logs: Path, server: str = "uvicorn", client: str = "aiohttp") -> Proc:
    port = free_port()
    env = clean_env({"PYTHONPATH": str(ROOT), "FLOOR_UPSTREAM": stub.base, "FLOOR_CLIENT": client})
    argv = [python(), "-m", "benchmarks.floor", "--port", str(port), "--server", server]
    return start(f"floor-{server}-{client}", argv, env, f"http://127.0.0.1:{port}", "/healthz", logs, 30)


def ensure_litellm() -> Path:
    """LiteLLM lives in its own virtualenv so its dependency pins never touch poolgate's."""
    exe = LITELLM_VENV / "bin" / "litellm"
    pip = LITELLM_VENV / "bin" / "pip"
    if exe.exists():
        probe = subprocess.run([str(pip), "show", "litellm"], capture_output=True, text=True, timeout=120)
        if f"Version: {LITELLM_VERSION}" in probe.stdout:
            return exe
    if not pip.exists():
        subprocess.run([python(), "-m", "venv", str(LITELLM_VENV)], check=True, timeout=300)
    print(f"installing litellm[proxy]=={LITELLM_VERSION} into {LITELLM_VENV} …", flush=True)
    subprocess.run([str(pip), "install", "-q", f"litellm[proxy]=={LITELLM_VERSION}"], check=True, timeout=1800)
    return exe


def litellm_version() -> str:
    return LITELLM_VERSION


def start_litellm(stub: Proc, work: Path, logs: Path) -> Proc:
    exe = ensure_litellm()
    config = work / "litellm.yaml"
    models = "".join(
        f"  - model_name: {name}\n"
        f"    litellm_params:\n"
        f"      model: gemini/{name}\n"
        f"      api_base: {stub.base}/v1beta\n"
        f"      api_key: AIzaBenchmarkKey0000000000000000000\n"
        for name in (MODEL, SLOW_MODEL)
    )
    config.write_text(
        "model_list:\n" + models + "litellm_settings:\n  set_verbose: false\n  json_logs: false\n"
        "general_settings:\n  disable_spend_logs: true\n"
    )
    port = free_port()
    env = clean_env(
        {
            "LITELLM_LOG": "ERROR",
            "LITELLM_MODE": "PRODUCTION",
            "LITELLM_TELEMETRY": "False",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "DISABLE_ADMIN_UI": "True",
            # Master key off, as the brief says: auth is not what is measured (local loopback only).
            "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true",
        }
    )
    env.pop("DATABASE_URL", None)
    env.pop("LITELLM_MASTER_KEY", None)
    argv = [str(exe), "--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]
    return start("litellm", argv, env, f"http://127.0.0.1:{port}", "/health/liveliness", logs, 180)
