"""create_app: the simulator's ASGI application, assembled from each surface's route table."""

from __future__ import annotations

from collections.abc import Sequence

from poolgate.simulator import cloudcode, control, gemini, google_control, oauth
from poolgate.simulator.routing import Route, Router
from poolgate.simulator.state import SimulatorState


def create_app(state: SimulatorState | None = None, extra_routes: Sequence[Route] = ()) -> Router:
    """Build the app; `extra_routes` win over the built-in surfaces (Gemini API, Google OAuth, Cloud Code)."""
    routes = (*control.ROUTES, *google_control.ROUTES, *extra_routes, *oauth.ROUTES, *cloudcode.ROUTES, *gemini.ROUTES)
    return Router(routes, state if state is not None else SimulatorState())
