"""A small route table: (method, path regex, handler) rows, matched in order, errors in Google's shape.

Feature modules (Gemini API, control API, later OAuth/Cloud Code) each export a tuple of `Route`s;
`app.create_app` concatenates them, so adding a surface never touches the router.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from poolgate.simulator.asgi import Receive, Request, Scope, Send
from poolgate.simulator.google_errors import GoogleError, error_body
from poolgate.simulator.state import SimulatorState

Handler = Callable[[Request, SimulatorState], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: str  # a regex that must match the whole path; named groups become `request.params`
    handler: Handler
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", re.compile(self.pattern))


class Router:
    """The ASGI app: picks the first route whose path matches, answers 404/405 otherwise."""

    def __init__(self, routes: Sequence[Route], state: SimulatorState) -> None:
        self.routes = tuple(routes)
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        method: str = scope["method"]
        path_matched = False
        for route in self.routes:
            match = route.regex.fullmatch(path)
            if match is None:
                continue
            if route.method != method:
                path_matched = True
                continue
            request = Request(scope, receive, send, match.groupdict())
            try:
                await route.handler(request, self.state)
            except GoogleError as err:
                # Handlers raise only before their response starts, so a full error reply is still possible.
                await request.respond_json(err.status, err.body())
            return
        request = Request(scope, receive, send, {})
        if path_matched:
            await request.respond_json(405, error_body(405, f"Method {method} not allowed for {path}."))
        else:
            await request.respond_json(404, error_body(404, f"The requested URL {path} was not found."))


async def _lifespan(receive: Receive, send: Send) -> None:
    # Nothing to set up: state arrives through create_app. Acknowledge so any lifespan mode works.
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
