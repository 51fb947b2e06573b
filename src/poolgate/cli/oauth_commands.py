"""`poolgate accounts login | import | refresh`: Google OAuth accounts from the command line."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import webbrowser
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from poolgate.cli.common import (
    ConfigOption,
    Context,
    DataDirOption,
    checked_proxy,
    console,
    err_console,
    load,
    open_store,
)
from poolgate.store.models import API_KEY, Account
from poolgate.store.sql import SqlStore
from poolgate.upstream.base import UpstreamFailure
from poolgate.upstream.enroll import Enrolled, enroll
from poolgate.upstream.http import make_session
from poolgate.upstream.oauth import INVALID_GRANT, OAuthSetupError
from poolgate.upstream.oauth_accounts import OAuthAccounts


@contextlib.asynccontextmanager
async def oauth_runtime(ctx: Context, store: SqlStore) -> AsyncIterator[OAuthAccounts]:
    session = make_session(ctx.config.upstream)

    async def persist(account_id: str, fields: dict[str, Any], bump: bool) -> None:
        await asyncio.to_thread(lambda: store.update_account(account_id, bump=bump, **fields))

    try:
        yield OAuthAccounts(session, ctx.config.upstream, persist)
    finally:
        await session.close()


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[red]{escape(message)}[/red]")
    return typer.Exit(1)


def _report(result: Enrolled) -> None:
    acc = result.account
    verb = "Added" if result.created else "Updated"
    console.print(
        f"{verb} OAuth account [bold]{acc.id}[/bold] ({escape(acc.email or acc.label)}, "
        f"project {escape(acc.project_id)}, tier {escape(acc.tier or '—')}).",
        highlight=False,
    )
    for warning in result.warnings:
        err_console.print(f"[yellow]warning:[/yellow] {escape(warning)}")


def login(
    no_browser: bool = typer.Option(False, "--no-browser", help="Print the URL and read the pasted redirect URL."),
    timeout: float = typer.Option(300.0, "--timeout", help="Seconds to wait for the browser's redirect."),
    proxy: str = typer.Option("", "--proxy", help="The account's own http(s):// proxy, used from the login on."),
    config: Path | None = ConfigOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Log in with a Google account (OAuth with PKCE and a loopback redirect) and add it to the pool."""
    proxy = checked_proxy(proxy)
    ctx = load(config, data_dir)
    store = open_store(ctx)
    try:
        result = asyncio.run(_login(ctx, store, no_browser, timeout, proxy))
    except OAuthSetupError as err:
        raise _fail(str(err)) from None
    except UpstreamFailure as failure:
        raise _fail(f"Login failed: {failure}") from None
    finally:
        store.close()
    _report(result)


async def _login(ctx: Context, store: SqlStore, no_browser: bool, wait_seconds: float, proxy: str = "") -> Enrolled:
    async with oauth_runtime(ctx, store) as oauth:
        oauth.client.require_client()
        # Imported here: aiohttp.web is only needed by this one command.
        from poolgate.cli.loopback import LoopbackReceiver, free_loopback_uri

        if no_browser:
            pending = oauth.logins.start(free_loopback_uri(), proxy)
            print("Open this URL in a browser and log in:\n", flush=True)
            print(pending.url, flush=True)
            print(
                "\nThe browser then lands on a page that may not load; copy that page's whole URL "
                "(or just its code= value) and paste it here:",
                flush=True,
            )
            pasted = await asyncio.to_thread(sys.stdin.readline)
            if not pasted.strip():
                raise OAuthSetupError("Nothing was pasted; login cancelled.")
            code, pending = oauth.logins.take(pasted)
        else:
            async with LoopbackReceiver() as receiver:
                pending = oauth.logins.start(receiver.redirect_uri, proxy)
                receiver.expected_state = pending.state
                print("Opening your browser to log in. If it does not open, visit:\n", flush=True)
                print(pending.url, flush=True)
                print(f"\nWaiting for Google's redirect to {receiver.redirect_uri} ...", flush=True)
                with contextlib.suppress(webbrowser.Error):
                    webbrowser.open(pending.url)
                code, state = await receiver.wait(wait_seconds)
            code, pending = oauth.logins.take(code, state)
        # The browser talks to Google directly; from the code exchange on, the account's proxy carries it.
        tokens = await oauth.client.via(pending.proxy_url).exchange_code(
            code, pending.redirect_uri, pending.pkce.verifier
        )
        return await enroll(oauth, store, tokens.refresh_token, tokens=tokens, proxy_url=pending.proxy_url)


def read_import_file(path: Path) -> list[dict[str, Any]]:
    """Either a JSON list of {refresh_token, email?, project_id?} or one Gemini CLI oauth_creds.json."""
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise OAuthSetupError(f"Cannot read {path}: {exc.strerror}") from exc
    except orjson.JSONDecodeError as exc:
        raise OAuthSetupError(f"{path} is not valid JSON: {exc}") from exc
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        return [e if isinstance(e, dict) else {"_invalid": e} for e in data]
    raise OAuthSetupError(f"{path}: expected a JSON list of accounts or an oauth_creds.json object")


def import_accounts(
    file: Path = typer.Argument(..., help="JSON list of {refresh_token, email?, project_id?}, or oauth_creds.json."),
    proxy: str = typer.Option("", "--proxy", help="Give every imported account this http(s):// proxy."),
    config: Path | None = ConfigOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Import OAuth accounts from refresh tokens; each entry is reported as imported or failed."""
    proxy = checked_proxy(proxy)
    ctx = load(config, data_dir)
    try:
        entries = read_import_file(file)
    except OAuthSetupError as err:
        raise _fail(str(err)) from None
    store = open_store(ctx)
    try:
        rows = asyncio.run(_import(ctx, store, entries, proxy))
    except OAuthSetupError as err:
        raise _fail(str(err)) from None
    finally:
        store.close()
    table = Table(title=f"import of {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}")
    for column in ("#", "account", "result", "detail"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    failed = sum(1 for r in rows if r[2] == "failed")
    console.print(f"{len(rows) - failed} imported, {failed} failed.", highlight=False)
    if failed:
        raise typer.Exit(1)


async def _import(
    ctx: Context, store: SqlStore, entries: list[dict[str, Any]], proxy: str = ""
) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    async with oauth_runtime(ctx, store) as oauth:
        oauth.client.require_client()
        for n, entry in enumerate(entries, 1):
            token, email, project = entry.get("refresh_token"), entry.get("email"), entry.get("project_id")
            hint = email if isinstance(email, str) and email else "—"
            if not isinstance(token, str) or not token.strip():
                rows.append((str(n), hint, "failed", "no refresh_token in this entry"))
                continue
            try:
                result = await enroll(
                    oauth,
                    store,
                    token.strip(),
                    email=email if isinstance(email, str) else "",
                    project_id=project if isinstance(project, str) else "",
                    proxy_url=proxy,
                )
            except (UpstreamFailure, OAuthSetupError) as err:
                rows.append((str(n), hint, "failed", str(err)[:200]))
                continue
            detail = f"id {result.account.id}, project {result.account.project_id}"
            rows.append((str(n), result.account.email or hint, "imported" if result.created else "updated", detail))
    return rows


def refresh(
    ref: str = typer.Argument("", help="Account id, id prefix, label or email (default: every OAuth account)."),
    config: Path | None = ConfigOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Refresh tokens, project and quota of OAuth accounts now."""
    ctx = load(config, data_dir)
    store = open_store(ctx)
    try:
        accounts = store.list_accounts()
        if ref:
            account_id = store.resolve_account_id(ref)
            accounts = [a for a in accounts if a.id == account_id]
            if not accounts:
                raise _fail(f"No account matches {ref!r}. See `poolgate accounts list`.")
        failures = asyncio.run(_refresh(ctx, store, [a for a in accounts if a.kind != API_KEY]))
    finally:
        store.close()
    if failures:
        raise typer.Exit(1)


async def _refresh(ctx: Context, store: SqlStore, accounts: list[Account]) -> int:
    failures = 0
    if not accounts:
        console.print("No OAuth accounts to refresh.")
        return 0
    async with oauth_runtime(ctx, store) as oauth:
        for acc in accounts:
            name = escape(acc.display_name)
            try:
                await oauth.keeper.access_token(acc, stale=acc.access_token or "-")
                info = await oauth.rediscover(acc)
                quota = await oauth.refresh_quota(acc)
            except UpstreamFailure as failure:
                failures += 1
                if failure.oauth_error == INVALID_GRANT:
                    await oauth.mark_needs_relogin(acc, str(failure))
                    console.print(f"{name}: [red]needs re-login[/red] ({escape(str(failure))})")
                else:
                    console.print(f"{name}: [red]failed[/red] ({escape(str(failure))})")
                continue
            console.print(f"{name}: ok — project {info.project_id}, {len(quota)} model quota(s)", highlight=False)
    return failures
