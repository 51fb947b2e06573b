"""create_app: the simulator's ASGI application, assembled from each surface's route table."""

from __future__ import annotations

from collections.abc import Sequence

from poolgate.simulator import control, gemini
from poolgate.simulator.routing import Route, Router
from poolgate.simulator.state import SimulatorState


def create_app(state: SimulatorState | None = None, extra_routes: Sequence[Route] = ()) -> Router:
    """Build the app; `extra_routes` (say, a future OAuth/Cloud Code module's ROUTES) win over Gemini's."""
    routes = (*control.ROUTES, *extra_routes, *gemini.ROUTES)
    return Router(routes, state if state is not None else SimulatorState())
