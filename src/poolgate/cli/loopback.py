"""A one-shot HTTP listener on 127.0.0.1 that receives Google's OAuth redirect for `accounts login`."""

from __future__ import annotations

import asyncio
import socket
from types import TracebackType

from aiohttp import web

from poolgate.upstream.oauth import OAuthSetupError

CALLBACK_PATH = "/oauth-callback"

_DONE_PAGE = (
    "<!doctype html><title>poolgate</title><h1>Login received</h1>"
    "<p>You can close this window and return to the terminal.</p>"
)


def free_loopback_uri() -> str:
    """A loopback redirect URI on a currently free port (for --no-browser, where nothing listens)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{CALLBACK_PATH}"


class LoopbackReceiver:
    def __init__(self) -> None:
        self._result: asyncio.Future[tuple[str, str]] = asyncio.get_running_loop().create_future()
        app = web.Application()
        app.router.add_get(CALLBACK_PATH, self._callback)
        self._runner = web.AppRunner(app, access_log=None)
        self.redirect_uri = ""
        self.expected_state = ""

    async def __aenter__(self) -> LoopbackReceiver:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.redirect_uri = f"http://127.0.0.1:{port}{CALLBACK_PATH}"
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._runner.cleanup()

    async def _callback(self, request: web.Request) -> web.Response:
        query = request.query
        if self._result.done():
            return web.Response(status=409, text="This login was already completed.")
        if query.get("error"):
            self._result.set_exception(OAuthSetupError(f"Google refused the login: {query['error']}"))
            return web.Response(status=400, text=f"Login failed: {query['error']}")
        if not query.get("code"):
            return web.Response(status=400, text="No authorization code in this request.")
        if query.get("state", "") != self.expected_state:
            # Not the redirect of the login we started (a forged or stale link): refuse it, keep waiting.
            return web.Response(status=400, text="This redirect does not belong to the login in progress.")
        self._result.set_result((query["code"], query.get("state", "")))
        return web.Response(text=_DONE_PAGE, content_type="text/html")

    async def wait(self, seconds: float) -> tuple[str, str]:
        try:
            return await asyncio.wait_for(asyncio.shield(self._result), seconds)
        except TimeoutError:
            raise OAuthSetupError(f"No redirect arrived within {seconds:.0f}s; login cancelled.") from None
