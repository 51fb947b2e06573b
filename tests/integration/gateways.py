"""Module-scoped gateway processes for the monitoring and admin tests (one process per test module)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Gateway, Simulator, _clean_env


def gateway_for_module(
    data_dir: Path, simulator: Simulator, env: dict[str, str] | None = None, keys: dict[str, str] | None = None
) -> Gateway:
    """A gateway wired to the simulator, with API-key accounts {label: key} added before it starts."""
    full_env = _clean_env()
    full_env["POOLGATE_UPSTREAM__GEMINI_API_BASE"] = simulator.url
    full_env.update(env or {})
    gw = Gateway(data_dir=data_dir, env=full_env)
    for label, key in (keys or {}).items():
        gw.add_key(key, label)
    return gw.start()
