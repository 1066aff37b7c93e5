"""The pure journey model: parsing and checking `machineConfig` (the API), reading a stored
one (the interpreter), trigger events."""

from workflows.model.events import MANUAL, TRIGGER_EVENTS, TriggerEvent
from workflows.model.machine import (
    MachineConfig,
    State,
    parse_machine_config,
    read_machine_config,
)

__all__ = [
    "MANUAL",
    "TRIGGER_EVENTS",
    "MachineConfig",
    "State",
    "TriggerEvent",
    "parse_machine_config",
    "read_machine_config",
]
