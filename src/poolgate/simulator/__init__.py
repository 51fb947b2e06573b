"""A fake Google upstream on loopback (Gemini API, OAuth, Cloud Code v1internal), scriptable, for tests and demos."""

from poolgate.simulator.app import create_app
from poolgate.simulator.routing import Handler, Route, Router
from poolgate.simulator.script import FunctionCallSpec, ScriptError, Step, parse_step, parse_steps
from poolgate.simulator.server import RunningSimulator, start_simulator
from poolgate.simulator.state import CallRecord, ModelInfo, SimulatorState

__all__ = [
    "CallRecord",
    "FunctionCallSpec",
    "Handler",
    "ModelInfo",
    "Route",
    "Router",
    "RunningSimulator",
    "ScriptError",
    "SimulatorState",
    "Step",
    "create_app",
    "parse_step",
    "parse_steps",
    "start_simulator",
]
