"""The one interpreter: given a state and the outcome of its step, the next state.

Used by the workflow and by anything that previews a journey, so the rules of movement live
in one place.
"""

import hashlib
import json

from workflows.model.machine import (
    ConditionStep,
    MachineConfig,
    SplitStep,
    WaitForDurationStep,
    WaitForEventStep,
    WaitUntilStep,
    WebhookStep,
)

# A step's outcome: a condition's truth, whether a wait_for_event received its event, or
# the branch a split took.
Outcome = bool | str | None


def split_branch(step: SplitStep, execution_id: str, state: str) -> tuple[str, int]:
    """The branch a split takes for this execution, and the point (0 to the total weight)
    that chose it: a hash of the execution id and the state, so the same execution takes the
    same branch on every replay, retry and visit, and executions spread by the weights."""
    total = sum(weight for _, weight in step.branches)
    seed = json.dumps([execution_id, state]).encode()
    point = int.from_bytes(hashlib.sha256(seed).digest()[:8], "big") % total
    bound = 0
    for name, weight in step.branches:
        bound += weight
        if point < bound:
            return name, point
    raise AssertionError("unreachable: the point is below the total weight")


def event_after(config: MachineConfig, state: str, outcome: Outcome = None) -> str:
    """The transition event a finished step sends: TRUE/FALSE for a condition (from its
    outcome), RECEIVED/TIMEOUT for wait_for_event (whether it received), DONE/FAILED for a
    webhook (whether it was answered 2xx), the branch for a split, ELAPSED for
    wait_for_duration and wait_until, DONE for every other step."""
    step = config.states[state].step
    if isinstance(step, ConditionStep):
        if outcome is None:
            raise ValueError(f"condition step {state!r} needs an outcome")
        return "TRUE" if outcome else "FALSE"
    if isinstance(step, WaitForEventStep):
        if outcome is None:
            raise ValueError(f"wait_for_event step {state!r} needs an outcome")
        return "RECEIVED" if outcome else "TIMEOUT"
    if isinstance(step, WebhookStep):
        return "DONE" if outcome else "FAILED"
    if isinstance(step, SplitStep):
        if not isinstance(outcome, str):
            raise ValueError(f"split step {state!r} needs its branch")
        return outcome
    if isinstance(step, WaitForDurationStep | WaitUntilStep):
        return "ELAPSED"
    return "DONE"


def next_state(config: MachineConfig, state: str, outcome: Outcome = None) -> str:
    return config.states[state].on[event_after(config, state, outcome)]
