"""Running the simulator under uvicorn: embedded in the caller's event loop, or as its own process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator, Sequence
from types import TracebackType

import uvicorn

from poolgate.simulator.app import create_app
from poolgate.simulator.asgi import ConnectionCut
from poolgate.simulator.routing import Route
from poolgate.simulator.state import SimulatorState

_STARTUP_TIMEOUT = 10.0


class _HideScriptedCuts(logging.Filter):
    """Drops uvicorn's traceback for a `cut_after` step: the broken connection is the point, not a bug."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionCut))


def install_log_filter() -> None:
    """Idempotent; only records carrying our own ConnectionCut are affected."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _HideScriptedCuts) for f in logger.filters):
        logger.addFilter(_HideScriptedCuts())


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind (and listen) up front so the real port is known before uvicorn starts, even for port 0."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP, not 0: asyncio only sets TCP_NODELAY on accepted sockets that say so,
    # and without it Nagle plus delayed ACK adds ~40 ms to every response.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def socket_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _EmbeddedConfig(uvicorn.Config):
    def configure_logging(self) -> None:
        # Embedded in a host process (pytest, the gateway): leave its logging configuration alone.
        return None


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # The host process owns SIGINT/SIGTERM; uvicorn would otherwise swap its handlers.
        yield


class RunningSimulator:
    """A simulator serving in the current event loop; `stop()` (or leaving `async with`) shuts it down."""

    def __init__(self, url: str, state: SimulatorState, server: uvicorn.Server, task: asyncio.Task[None]):
        self.url = url
        self.state = state
        self._server = server
        self._task = task

    async def stop(self) -> None:
        if self._task.done():
            return
        self._server.should_exit = True
        await self._task

    async def __aenter__(self) -> RunningSimulator:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


async def start_simulator(
    host: str = "127.0.0.1",
    port: int = 0,
    state: SimulatorState | None = None,
    extra_routes: Sequence[Route] = (),
) -> RunningSimulator:
    """Start serving on host:port (a free port when 0) and return once connections are accepted."""
    state = state if state is not None else SimulatorState()
    app = create_app(state, extra_routes)
    sock = bind_socket(host, port)
    config = _EmbeddedConfig(
        app,
        lifespan="off",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=1,
    )
    install_log_filter()
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _STARTUP_TIMEOUT
    while not server.started:
        if task.done():
            sock.close()
            task.result()  # re-raise the startup failure
            raise RuntimeError("simulator exited during startup")
        if loop.time() > deadline:
            server.should_exit = True
            raise TimeoutError("simulator did not start")
        await asyncio.sleep(0.005)
    return RunningSimulator(socket_url(sock), state, server, task)
