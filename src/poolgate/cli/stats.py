"""`poolgate stats`: token usage by account and model over the last hours, read from the store."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from poolgate.cli.common import ConfigOption, DataDirOption, console, load, open_store

_COLUMNS = ("requests", "errors", "input_tokens", "output_tokens", "cached_tokens", "thought_tokens")


def stats(
    hours: int = typer.Option(24, "--hours", min=1, max=24 * 400, help="How many hours back (default 24)."),
    config: Path | None = ConfigOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Token usage by account and model."""
    store = open_store(load(config, data_dir))
    first_hour = int(time.time() // 3600) - hours + 1
    rows = store.usage_since(first_hour)
    table = Table(title=f"usage in the last {hours} hour(s)")
    table.add_column("account")
    table.add_column("model")
    for name in ("requests", "errors", "input", "output", "cached", "thoughts"):
        table.add_column(name, justify="right")
    totals = dict.fromkeys(_COLUMNS, 0)
    for row in rows:
        for name in _COLUMNS:
            totals[name] += int(row[name] or 0)
        table.add_row(
            row["account"] or "(none)", row["model"] or "(none)", *(f"{int(row[n] or 0):,}" for n in _COLUMNS)
        )
    if rows:
        table.add_section()
        table.add_row("total", "", *(f"{totals[n]:,}" for n in _COLUMNS), style="bold")
    else:
        table.caption = "no requests in this period"
    console.print(table)
