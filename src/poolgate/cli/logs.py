"""`poolgate logs`: recent requests from the request log, optionally following new ones as they land."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from poolgate.cli.common import ConfigOption, DataDirOption, console, load, open_store

POLL_SECONDS = 0.5


def _row_cells(row: dict[str, Any]) -> tuple[str, ...]:
    status = int(row["status"])
    colour = "green" if status < 400 else ("yellow" if status < 500 else "red")
    tokens = f"{row['input_tokens']}/{row['output_tokens']}"
    return (
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(row["ts"]))),
        f"[{colour}]{status}[/{colour}]",
        row["route"],
        row["client_model"] or "—",
        row["mapped_model"] or "—",
        row["account"] or "—",
        f"{float(row['duration_ms']):.0f} ms",
        tokens,
        (row["error"] or (f"retried: {row['failed_attempts']}" if row.get("failed_attempts") else ""))[:80],
    )


def _table() -> Table:
    table = Table()
    for name in ("time", "status", "route", "model", "mapped", "account", "duration", "tokens in/out", "error"):
        table.add_column(name, overflow="fold")
    return table


def logs(
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new requests as they arrive."),
    errors: bool = typer.Option(False, "--errors", help="Only failed requests."),
    limit: int = typer.Option(20, "--limit", "-n", min=1, max=10_000, help="How many recent requests to show."),
    config: Path | None = ConfigOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Recent requests, newest last."""
    store = open_store(load(config, data_dir))
    rows = list(reversed(store.query_logs(limit=limit, errors_only=errors)))
    table = _table()
    for row in rows:
        table.add_row(*_row_cells(row))
    if not rows:
        table.caption = "no requests logged yet"
    console.print(table)
    if not follow:
        return
    last_ts = float(rows[-1]["ts"]) if rows else time.time() - 1
    seen = {row["id"] for row in rows}
    try:
        while True:
            time.sleep(POLL_SECONDS)
            fresh = store.query_logs(limit=2000, errors_only=errors, since_ts=last_ts - 300, ascending=True)
            new = [row for row in fresh if row["id"] not in seen]
            for row in new:
                seen.add(row["id"])
                last_ts = max(last_ts, float(row["ts"]))
                console.print("  ".join(_row_cells(row)), highlight=False)
            if len(seen) > 5000:
                seen = {row["id"] for row in fresh}
    except KeyboardInterrupt:
        return
