"""Services: the object graph of a running gateway, built once and handed to the app."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from poolgate import live_config
from poolgate.config import Config
from poolgate.gateway import Gateway
from poolgate.hub.signatures import SignatureStore
from poolgate.monitor.metrics import Metrics
from poolgate.monitor.records import RequestLog
from poolgate.monitor.sinks import ProcessSink
from poolgate.outages import Outage
from poolgate.pool.classify import Classifier
from poolgate.pool.clock import Clock, SystemClock
from poolgate.pool.scheduler import Scheduler
from poolgate.pool.state import MemoryState, SharedState
from poolgate.pool.state_redis import RedisState
from poolgate.routing.resolve import Router
from poolgate.server.auth import AdminLockout
from poolgate.store.models import API_KEY, OAUTH, Account, Cooldown
from poolgate.store.sql import SqlStore
from poolgate.upstream.base import Transport
from poolgate.upstream.code_assist import CodeAssistTransport
from poolgate.upstream.gemini_api import GeminiApiTransport
from poolgate.upstream.http import make_session
from poolgate.upstream.oauth_accounts import OAuthAccounts
from poolgate.upstream.quota import apply_quota
from poolgate.upstream.tokens import Persist

log = logging.getLogger("poolgate")

GENERATED_KEY_SETTING = "generated_api_key"
WATCH_INTERVAL = 0.5
LAST_USED_EVERY = 4  # ticks of WATCH_INTERVAL
WATCH_WARN_EVERY = 60.0


@dataclass(slots=True)
class Services:
    config: Config
    data_dir: Path
    store: SqlStore
    clock: Clock
    scheduler: Scheduler
    router: Router
    gateway: Gateway
    monitor: RequestLog
    session: aiohttp.ClientSession
    transports: dict[str, Transport]
    oauth: OAuthAccounts
    api_key: str
    admin_secret: str
    signatures: SignatureStore = field(default_factory=SignatureStore)
    key_generated: bool = False
    revision: int = -1
    _saved_last_used: dict[str, float] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    metrics: Metrics = field(default_factory=Metrics)
    # True once the server has begun to shut down (set by `poolgate serve`).
    stopping: Callable[[], bool] = lambda: False
    admin_lockout: AdminLockout = field(default_factory=lambda: AdminLockout(MemoryState()))
    # The config as loaded from file and environment; `config` is this plus live overrides from the store.
    base_config: Config | None = None
    # Re-reads the config file (set by `poolgate serve`; None when there is no file to re-read).
    config_loader: Callable[[], Config] | None = None

    async def reload(self) -> None:
        """Re-read accounts and mappings if anything changed since the last look."""
        revision = await asyncio.to_thread(self.store.revision)
        if revision == self.revision:
            return
        accounts, mapping, overrides, cooldowns = await asyncio.to_thread(
            lambda: (
                self.store.list_accounts(),
                self.store.list_mappings(),
                self.store.get_setting(live_config.OVERRIDES_SETTING),
                self.store.list_cooldowns(),
            )
        )
        self.apply_config(live_config.apply(self.base_config or self.config, live_config.load_overrides(overrides)))
        self.scheduler.set_accounts(accounts)
        await self.scheduler.reconcile(cooldowns)
        custom = dict(self.config.routing.custom_mapping)
        custom.update(mapping)
        self.router.set_custom(custom)
        self.revision = revision

    def apply_config(self, config: Config) -> None:
        """Hand the live-reloadable parts of a new config to the parts that read them."""
        self.config = config
        self.scheduler.config = config.scheduling
        self.gateway.max_attempts = config.scheduling.max_attempts
        self.gateway.attempt_timeout = config.scheduling.attempt_timeout_seconds
        self.monitor.configure(config.monitor)

    async def _watch(self) -> None:
        ticks = 0
        # Requests go on with the accounts already loaded; an unreadable store is said once a minute.
        outage = Outage(log, "the store cannot be read", "the store can be read again", WATCH_WARN_EVERY)
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            ticks += 1
            try:
                await self.reload()
                if ticks % LAST_USED_EVERY == 0:
                    await self._persist_last_used()
            except Exception as exc:  # a locked or unavailable database must not kill the watcher
                outage.failed(exc, "serving with the accounts and settings already loaded")
            else:
                outage.succeeded()

    async def _persist_last_used(self) -> None:
        # Last use changes on every request; writing it in a slow batch keeps the store off the hot path.
        changed = [
            (a.id, a.last_used_at)
            for a in self.scheduler.accounts
            if a.last_used_at > self._saved_last_used.get(a.id, 0.0)
        ]
        if not changed:
            return

        def write() -> None:
            for account_id, ts in changed:
                self.store.update_account(account_id, bump=False, last_used_at=ts)

        await asyncio.to_thread(write)
        self._saved_last_used.update(changed)

    def persist_cooldowns(self, upserts: list[Cooldown], deletes: list[str]) -> None:
        self._background(self.store.save_cooldowns, upserts, deletes)

    def persist_account_state(self, account: Account) -> None:
        self._background(
            lambda: self.store.update_account(
                account.id, bump=False, state=account.state, state_reason=account.state_reason
            )
        )

    def _background(self, fn: object, *args: object) -> None:
        async def run() -> None:
            try:
                await asyncio.to_thread(fn, *args)  # type: ignore[arg-type]
            except Exception:
                log.exception("background store write failed")

        task = asyncio.get_running_loop().create_task(run())
        self.tasks.append(task)
        task.add_done_callback(lambda t: self.tasks.remove(t) if t in self.tasks else None)


def _store_writer(store: SqlStore) -> Persist:
    async def write(account_id: str, fields: dict[str, Any], bump: bool) -> None:
        await asyncio.to_thread(lambda: store.update_account(account_id, bump=bump, **fields))

    return write


def client_key(config: Config, store: SqlStore) -> tuple[str, bool]:
    """The client API key: configured, or generated once and kept in the store."""
    if config.proxy.api_key:
        return config.proxy.api_key, False
    existing = store.get_setting(GENERATED_KEY_SETTING)
    if existing:
        return existing, False
    key = "sk-pg-" + secrets.token_hex(20)
    store.set_setting(GENERATED_KEY_SETTING, key)
    return key, True


@contextlib.asynccontextmanager
async def build_services(
    config: Config,
    data_dir: Path,
    *,
    clock: Clock | None = None,
    state: SharedState | None = None,
    extra_transports: dict[str, Transport] | None = None,
) -> AsyncIterator[Services]:
    store = await asyncio.to_thread(SqlStore.open, data_dir, config.store.database_url)
    api_key, generated = await asyncio.to_thread(client_key, config, store)
    clock = clock or SystemClock()
    session = make_session(config.upstream)
    oauth = OAuthAccounts(session, config.upstream, _store_writer(store))
    transports: dict[str, Transport] = {
        API_KEY: GeminiApiTransport(session, config.upstream),
        OAUTH: CodeAssistTransport(oauth),
    }
    transports.update(extra_transports or {})
    holder: list[Services] = []

    def persist_cooldowns(upserts: list[Cooldown], deletes: list[str]) -> None:
        holder[0].persist_cooldowns(upserts, deletes)

    def persist_state(account: Account) -> None:
        holder[0].persist_account_state(account)

    sched = config.scheduling
    classifier = Classifier(sched.extra_rules, sched.cooldown_cap_seconds, sched.default_cooldown_seconds)
    redis_state: RedisState | None = None
    if state is None and config.store.redis_url:
        # Shared scheduling state: every instance on this Redis sees the same cooldowns and bindings.
        redis_state = RedisState.from_url(config.store.redis_url)
        await redis_state.ping()
    scheduler = Scheduler(
        state or redis_state or MemoryState(), clock, sched, persist_cooldowns, persist_state, classifier
    )
    oauth.on_quota = functools.partial(apply_quota, scheduler, sched.cooldown_cap_seconds, persist_cooldowns)
    gateway = Gateway(scheduler, transports, classifier, clock, sched.max_attempts, sched.attempt_timeout_seconds)
    # The log is written by its own process, whose Python work never holds the event loop's GIL (see sinks.py).
    monitor = RequestLog(store, config.monitor, ProcessSink(store, data_dir, config.store.database_url))
    services = Services(
        config=config,
        data_dir=data_dir,
        store=store,
        clock=clock,
        scheduler=scheduler,
        router=Router(dict(config.routing.custom_mapping)),
        gateway=gateway,
        monitor=monitor,
        session=session,
        transports=transports,
        oauth=oauth,
        api_key=api_key,
        admin_secret=config.proxy.admin_password or api_key,
        admin_lockout=AdminLockout(scheduler.state),
        key_generated=generated,
        base_config=config,
    )
    gateway.on_failure = services.metrics.upstream_failure
    holder.append(services)
    await scheduler.restore(await asyncio.to_thread(store.list_cooldowns))
    await services.reload()
    monitor.start()
    watcher = asyncio.get_running_loop().create_task(services._watch())
    quota_loop = asyncio.get_running_loop().create_task(oauth.quota_loop(lambda: scheduler.accounts))
    try:
        yield services
    finally:
        for task in (watcher, quota_loop):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await oauth.close()
        await monitor.stop()
        for task in list(services.tasks):
            with contextlib.suppress(Exception):
                await task
        await session.close()
        if redis_state is not None:
            await redis_state.close()
        store.close()
