"""`poolgate serve`: build the services, start uvicorn, print where and how to connect."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import math
import os
import signal
import socket
import ssl
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import typer

from poolgate import log_lines
from poolgate.cli.common import ConfigOption, DataDirOption, load
from poolgate.config import Config, load_config_file, replace_section
from poolgate.store.models import API_KEY, Account
from poolgate.store.sql import SqlStore

if TYPE_CHECKING:
    from poolgate.services import Services

DEMO_KEY = "demo-simulator-key"


def serve(
    host: str | None = typer.Option(None, "--host", help="Bind address (default 127.0.0.1; 0.0.0.0 with LAN access)."),
    port: int | None = typer.Option(None, "--port", help="Port (default 8045)."),
    demo: bool = typer.Option(False, "--demo", help="Serve from the built-in upstream simulator (offline)."),
    config: Path | None = ConfigOption,
    data_dir: Path | None = DataDirOption,
) -> None:
    """Run the gateway."""
    ctx = load(config, data_dir)
    cfg = ctx.config
    if host:
        cfg = replace_section(cfg, "proxy", host=host)
    if port:
        cfg = replace_section(cfg, "proxy", port=port)
    log_lines.configure(cfg.logging)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - platforms without uvloop
        pass
    try:
        tls = tls_context(cfg)
    except (OSError, ssl.SSLError) as exc:
        typer.echo(f"cannot serve HTTPS: {exc}; check proxy.tls_cert_file and proxy.tls_key_file", err=True)
        raise typer.Exit(1) from None
    try:
        sockets = listen_sockets(cfg.bind_host, cfg.proxy.port)
    except OSError as exc:
        typer.echo(bind_error(cfg.bind_host, cfg.proxy.port, exc), err=True)
        raise typer.Exit(1) from None
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(cfg, ctx.data_dir, demo, lambda: _reread(ctx.config_path, host, port), sockets, tls))


def tls_context(cfg: Config) -> ssl.SSLContext | None:
    """The server's TLS context when a certificate is configured; loaded here so a bad file is a sentence."""
    if not cfg.proxy.tls_cert_file:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cfg.proxy.tls_cert_file, cfg.proxy.tls_key_file)
    return context


def listen_sockets(host: str, port: int) -> list[socket.socket]:
    """Bound here rather than inside uvicorn, whose bind failure is a traceback instead of a sentence."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    seen: set[tuple[int, object]] = set()
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, addr in infos:
            if (family, addr) in seen:
                continue
            seen.add((family, addr))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                # As asyncio does: "::" must not also claim the IPv4 port another address entry binds.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(addr)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def bind_error(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} is already in use on {host}; pick another with --port"
    if exc.errno == errno.EACCES:
        return f"not allowed to listen on {host}:{port}; pick a port above 1023 with --port"
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}; check --host and --port"


def _ensure_demo_account(data_dir: Path, cfg: Config, base_url: str) -> None:
    store = SqlStore.open(data_dir, cfg.store.database_url)
    try:
        for acc in store.list_accounts():
            if acc.secret == DEMO_KEY:
                store.update_account(acc.id, base_url=base_url, enabled=True, state="active", state_reason="")
                return
        store.add_account(Account(id="", kind=API_KEY, label="demo simulator", secret=DEMO_KEY, base_url=base_url))
    finally:
        store.close()


def _reread(path: Path, host: str | None, port: int | None) -> Config:
    """The config file and environment as they are now, with this process's command-line flags on top."""
    cfg = load_config_file(path, os.environ)
    if host:
        cfg = replace_section(cfg, "proxy", host=host)
    if port:
        cfg = replace_section(cfg, "proxy", port=port)
    return cfg


async def _serve(
    cfg: Config,
    data_dir: Path,
    demo: bool,
    reread: Callable[[], Config] | None = None,
    sockets: list[socket.socket] | None = None,
    tls: ssl.SSLContext | None = None,
) -> None:
    # Imported here so the other CLI commands start fast: they need neither the server nor aiohttp.
    import uvicorn

    from poolgate.server.app import create_app
    from poolgate.server.connections import GuardedProtocol, guard_headers
    from poolgate.server.gc_tuning import tune_for_serving
    from poolgate.services import build_services

    simulator = None
    if demo:
        from poolgate.simulator import start_simulator

        simulator = await start_simulator("127.0.0.1", 0)
        await asyncio.to_thread(_ensure_demo_account, data_dir, cfg, simulator.url)
    try:
        async with build_services(cfg, data_dir) as svc:
            svc.config_loader = reread
            app = create_app(svc)
            tune_for_serving()
            config = uvicorn.Config(
                app,
                host=cfg.bind_host,
                port=cfg.proxy.port,
                loop="none",
                http=GuardedProtocol,
                ws="none",
                lifespan="off",
                log_level=log_lines.uvicorn_log_level(cfg.logging),
                log_config=None,  # uvicorn's loggers go through poolgate's handler and format
                access_log=False,
                timeout_keep_alive=75,
                timeout_graceful_shutdown=max(1, math.ceil(cfg.proxy.shutdown_grace_seconds)),
                forwarded_allow_ips=cfg.proxy.trusted_proxies,
            )
            config.load()
            # uvicorn builds its context from file names alone; ours was checked before the port was taken.
            config.ssl = tls
            server = uvicorn.Server(config)
            svc.stopping = lambda: server.should_exit
            if sockets is not None:
                # The port is already ours, so the banner can come first: whoever sees /healthz answer
                # (scripts, the tests) then always finds it printed.
                _banner(svc, cfg, demo)
            _keep_alive_for_cleanup()
            task = asyncio.get_running_loop().create_task(server.serve(sockets))
            while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn exposes only a flag
                await asyncio.sleep(0.02)
            if task.done():
                await task
                raise SystemExit(1)
            if sockets is None:
                _banner(svc, cfg, demo)
            guard = None
            if cfg.proxy.client_idle_seconds > 0:
                guard = asyncio.get_running_loop().create_task(
                    guard_headers(
                        server.server_state.connections,
                        cfg.proxy.client_idle_seconds,
                        lambda n: svc.metrics.client_dropped("headers_timeout", n),
                    )
                )
            try:
                await task
                # uvicorn returns without awaiting the requests it cancelled at the end of the grace
                # period; let them write their last bytes and log rows before the services close.
                cut = [t for t in server.server_state.tasks if not t.done()]
                if cut:
                    await asyncio.wait(cut, timeout=5)
            finally:
                if guard is not None:
                    guard.cancel()
    finally:
        if simulator is not None:
            await simulator.stop()


def _keep_alive_for_cleanup() -> None:
    """Let the services close after uvicorn has stopped on SIGTERM or Ctrl-C.

    Once it has shut down, uvicorn raises the signal it stopped on again under the handler it found;
    under the default one the process died right there, before the services closed, and the request
    log lost the rows of the last half second. Under this one the re-raised signal is ignored and the
    shutdown finishes; one more signal after that still stops the process at once.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    seen: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        seen.append(signum)
        if len(seen) > 1:
            raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)


def _banner(svc: Services, cfg: Config, demo: bool) -> None:
    host = cfg.bind_host
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"{cfg.scheme}://{shown}:{cfg.proxy.port}"
    mode = cfg.effective_auth_mode
    print(f"poolgate listening on {base}  (OpenAI base URL: {base}/v1)")
    if mode == "off":
        print("auth: off (no client key needed)")
    else:
        print(f"auth: {mode}")
    if svc.key_generated:
        print(f"generated API key: {svc.api_key}")
    who = "proxy.admin_password" if cfg.proxy.admin_password else "the client API key, or set proxy.admin_password"
    print(f"admin UI: {base}/ui/  (sign in with {who})")
    usable = svc.scheduler.usable_count()
    total = len(svc.scheduler.accounts)
    print(f"accounts: {usable} usable of {total}" + ("  (demo simulator)" if demo else ""))
    if total == 0:
        print("add one with: poolgate accounts add-key YOUR_GEMINI_KEY")
    sys.stdout.flush()
