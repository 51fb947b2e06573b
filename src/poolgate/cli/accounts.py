"""`poolgate accounts ...`: add, list, enable, disable, remove upstream accounts and set their proxies."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from poolgate.cli.common import ConfigOption, DataDirOption, checked_proxy, console, err_console, load, open_store
from poolgate.pool.classify import PARKED, Classifier
from poolgate.store.crypto import mask_secret
from poolgate.store.models import ACTIVE, API_KEY, Account, Cooldown, check_api_key, check_label
from poolgate.store.sql import SqlStore
from poolgate.upstream.egress import show_proxy

app = typer.Typer(help="Manage upstream accounts (Gemini API keys and Google OAuth accounts).", no_args_is_help=True)


def _ago(ts: float) -> str:
    if not ts:
        return "never"
    delta = max(0, int(time.time() - ts))
    if delta < 60:
        return f"{delta}s ago"
    if delta < 3600:
        return f"{delta // 60}m ago"
    if delta < 86400:
        return f"{delta // 3600}h ago"
    return f"{delta // 86400}d ago"


def _clock(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def describe_state(
    account: Account, cooldowns: list[Cooldown], now: float, classifier: Classifier | None = None
) -> tuple[str, str]:
    """(state, why) for the table: what the scheduler will do with the account and the reason for it."""
    classifier = classifier or Classifier()
    if not account.enabled:
        return "disabled", account.state_reason[:200]
    if account.state == "needs_relogin":
        return "needs re-login", account.state_reason[:200] or "run `poolgate accounts login` again"
    if account.state != ACTIVE:
        return account.state, account.state_reason[:200]
    active = sorted((c for c in cooldowns if c.account_id == account.id and c.until > now), key=lambda c: c.until)
    if not active:
        return "active", ""
    states = [
        f"{'parked' if classifier.blocks_as(c.kind) == PARKED else 'cooling'}"
        f"{f' ({c.model})' if c.model else ''} until {_clock(c.until)}"
        for c in active
    ]
    why = [f"{c.kind}: {_why(c.reason)}" for c in active]
    return "\n".join(states), "\n".join(why)


def _why(reason: str) -> str:
    # A validation URL must be shown whole: the user has to open it to get the account back.
    if "(verify at " in reason:
        head, url = reason.rsplit("(verify at ", 1)
        return f"{head[:120].rstrip()} — verify at {url.rstrip(')')}"
    return reason[:160]


def quota_text(account: Account) -> str:
    if not account.quota:
        return "—"
    parts = []
    for model, info in sorted(account.quota.items()):
        frac = info.get("remaining_fraction")
        if isinstance(frac, (int, float)):
            parts.append(f"{model} {round(frac * 100)}%")
    return ", ".join(parts[:4]) or "—"


def _resolve(store: SqlStore, ref: str) -> str:
    account_id = store.resolve_account_id(ref)
    if account_id is None:
        err_console.print(f"[red]No account matches[/red] {ref!r}. See `poolgate accounts list`.")
        raise typer.Exit(1)
    return account_id


@app.command("add-key")
def add_key(
    key: str = typer.Argument(..., help="A Gemini API key."),
    label: str = typer.Option("", "--label", help="A name to recognise the key by."),
    proxy: str = typer.Option("", "--proxy", help="Send this key's traffic through an http(s):// proxy."),
    config: Path | None = ConfigOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Add a Gemini API key account."""
    try:
        key = check_api_key(key)
    except ValueError as exc:
        err_console.print(f"[red]The key {exc}.[/red]")
        raise typer.Exit(1) from None
    try:
        label = check_label(label)
    except ValueError as exc:
        err_console.print(f"[red]The label {exc}.[/red]")
        raise typer.Exit(1) from None
    proxy = checked_proxy(proxy)
    store = open_store(load(config, data_dir))
    for existing in store.list_accounts():
        if existing.kind == API_KEY and existing.secret == key:
            err_console.print(f"[yellow]This key is already account {existing.id}.[/yellow]")
            raise typer.Exit(1)
    account = Account(id="", kind=API_KEY, label=label or f"key {mask_secret(key)}", secret=key, proxy_url=proxy)
    account = store.add_account(account)
    via = f", via {show_proxy(proxy)}" if proxy else ""
    console.print(f"Added API key account [bold]{account.id}[/bold] ({account.label}, key {mask_secret(key)}{via}).")


@app.command("set-proxy")
def set_proxy(
    ref: str = typer.Argument(..., help="Account id, id prefix, label or email."),
    url: str = typer.Argument("", help="http(s)://[user:password@]host:port; leave out to remove the proxy."),
    config: Path | None = ConfigOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Send one account's upstream traffic (token refresh included) through its own proxy."""
    proxy = checked_proxy(url)
    store = open_store(load(config, data_dir))
    account_id = _resolve(store, ref)
    store.update_account(account_id, proxy_url=proxy)
    if proxy:
        console.print(f"Account {account_id} now goes through {show_proxy(proxy)}.")
    else:
        console.print(f"Account {account_id} has no proxy of its own now (upstream.http_proxy applies, if set).")


@app.command("list")
def list_accounts(config: Path | None = ConfigOption, data_dir: Path | None = DataDirOption) -> None:
    """Show every account with its state, quota and last use."""
    ctx = load(config, data_dir)
    store = open_store(ctx)
    accounts = store.list_accounts()
    cooldowns = store.list_cooldowns()
    sched = ctx.config.scheduling
    classifier = Classifier(sched.extra_rules, sched.cooldown_cap_seconds, sched.default_cooldown_seconds)
    now = time.time()
    table = Table(title=f"{len(accounts)} account(s)")
    columns = ["id", "kind", "label / email", "secret", "tier", "state", "why", "quota left", "last used"]
    if any(acc.proxy_url for acc in accounts):
        columns.insert(4, "proxy")
    for column in columns:
        table.add_column(column, overflow="fold")
    for acc in accounts:
        state, why = describe_state(acc, cooldowns, now, classifier)
        row = [
            acc.id,
            "api key" if acc.kind == API_KEY else "oauth",
            acc.email or acc.label,
            mask_secret(acc.secret),
            acc.tier or "—",
            state,
            why,
            quota_text(acc),
            _ago(acc.last_used_at),
        ]
        if "proxy" in columns:
            row.insert(4, show_proxy(acc.proxy_url) or "—")
        table.add_row(*row)
    console.print(table)


@app.command("enable")
def enable(
    ref: str = typer.Argument(..., help="Account id, id prefix, label or email."),
    config: Path | None = ConfigOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Put an account back into rotation (also clears a forbidden or invalid state)."""
    store = open_store(load(config, data_dir))
    account_id = _resolve(store, ref)
    store.update_account(account_id, enabled=True, state=ACTIVE, state_reason="")
    store.clear_cooldowns(account_id)
    console.print(f"Enabled account {account_id}.")


@app.command("disable")
def disable(
    ref: str = typer.Argument(..., help="Account id, id prefix, label or email."),
    config: Path | None = ConfigOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Take an account out of rotation."""
    store = open_store(load(config, data_dir))
    account_id = _resolve(store, ref)
    store.update_account(account_id, enabled=False)
    console.print(f"Disabled account {account_id}.")


@app.command("remove")
def remove(
    ref: str = typer.Argument(..., help="Account id, id prefix, label or email."),
    config: Path | None = ConfigOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Delete an account and its secrets."""
    store = open_store(load(config, data_dir))
    account_id = _resolve(store, ref)
    store.remove_account(account_id)
    console.print(f"Removed account {account_id}.")


# OAuth commands live in their own module; registered here so they sit beside add-key and list.
from poolgate.cli import oauth_commands  # noqa: E402

app.command("login")(oauth_commands.login)
app.command("import")(oauth_commands.import_accounts)
app.command("refresh")(oauth_commands.refresh)
