"""A dry run of a journey for one customer: what its current `machineConfig` would do to
them, step by step on a simulated clock, with every message rendered as it would be sent.

Everything the walk needs is read first, in one read-only transaction (`load`); the walk
itself (`walk.simulate`) is pure. Nothing is written, sent or started: no Temporal, no
providers."""

from services.simulation.loader import simulate
from services.simulation.schemas import SimulateRequest, Simulation

__all__ = ["SimulateRequest", "Simulation", "simulate"]
