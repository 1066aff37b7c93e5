"""The one interpreter: given a state and the outcome of its step, the next state.

Used by the workflow and by anything that previews a journey, so the rules of movement live
in one place.
"""

from workflows.model.machine import (
    ConditionStep,
    MachineConfig,
    WaitForDurationStep,
    WaitUntilStep,
)


def event_after(config: MachineConfig, state: str, outcome: bool | None = None) -> str:
    """The transition event a finished step sends: TRUE/FALSE for a condition (from its
    outcome), ELAPSED for wait_for_duration and wait_until, DONE for every other step."""
    step = config.states[state].step
    if isinstance(step, ConditionStep):
        if outcome is None:
            raise ValueError(f"condition step {state!r} needs an outcome")
        return "TRUE" if outcome else "FALSE"
    if isinstance(step, WaitForDurationStep | WaitUntilStep):
        return "ELAPSED"
    return "DONE"


def next_state(config: MachineConfig, state: str, outcome: bool | None = None) -> str:
    return config.states[state].on[event_after(config, state, outcome)]
