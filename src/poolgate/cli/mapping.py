"""`poolgate map ...`: the custom model mapping (exact names and `*` wildcards)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from poolgate.cli.common import ConfigOption, DataDirOption, console, err_console, load, open_store
from poolgate.routing.resolve import UPSTREAM_MODEL_RULE, valid_upstream_model

app = typer.Typer(help="Custom model mapping: client model name or pattern → upstream model.", no_args_is_help=True)


@app.command("list")
def list_mapping(config: Path | None = ConfigOption, data_dir: Path | None = DataDirOption) -> None:
    """Show the mapping from the config file and the store (the store wins)."""
    ctx = load(config, data_dir)
    stored = open_store(ctx).list_mappings()
    table = Table(title="custom model mapping")
    table.add_column("pattern")
    table.add_column("model")
    table.add_column("from")
    for pattern, model in sorted(ctx.config.routing.custom_mapping.items()):
        if pattern not in stored:
            table.add_row(pattern, model, "config")
    for pattern, model in sorted(stored.items()):
        table.add_row(pattern, model, "store")
    console.print(table)


@app.command("set")
def set_mapping(
    pattern: str = typer.Argument(..., help="Client model name, or a pattern with * wildcards."),
    model: str = typer.Argument(..., help="Upstream Gemini model."),
    config: Path | None = ConfigOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Map a client model name or pattern to an upstream model."""
    if not pattern.strip() or not model.strip():
        err_console.print("[red]Pattern and model must not be empty.[/red]")
        raise typer.Exit(1)
    if not valid_upstream_model(model.strip()):  # a pattern with "*" is no model name either
        err_console.print(f"[red]{model!r} is not an upstream model name: {UPSTREAM_MODEL_RULE}.[/red]")
        raise typer.Exit(1)
    open_store(load(config, data_dir)).set_mapping(pattern.strip(), model.strip())
    console.print(f"{pattern} → {model}")


@app.command("remove")
def remove_mapping(
    pattern: str = typer.Argument(...),
    config: Path | None = ConfigOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Remove a mapping from the store."""
    if not open_store(load(config, data_dir)).remove_mapping(pattern):
        err_console.print(f"[yellow]No stored mapping for {pattern!r}.[/yellow]")
        raise typer.Exit(1)
    console.print(f"Removed {pattern}.")
