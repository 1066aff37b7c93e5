"""The walk: the journey's states in the order the workflow would run them for the customer,
moved on by the one interpreter (`event_after`), with waits fast-forwarded on a simulated
clock. Pure: it reads the `World` and nothing else, and writes nothing."""

from datetime import datetime, timedelta

from services.simulation import steps
from services.simulation.context import Done, Walk, World
from services.simulation.schemas import (
    MAX_STEPS,
    Ending,
    SimulatedGoal,
    SimulatedStep,
    Simulation,
)
from workflows.model.interpreter import event_after


def simulate(world: World) -> Simulation:
    start = world.timeline.start
    walk = Walk(world, now=start, event=world.trigger)
    config = world.config
    taken: list[SimulatedStep] = []
    state = config.initial

    def ended(outcome: Ending, note: str) -> Simulation:
        return Simulation(
            journey_id=world.journey.id,
            version=world.journey.version,
            customer_id=world.customer.id or None,
            execution_id=world.execution_id,
            start_at=_seconds(start),
            outcome=outcome,
            ended_in=state,
            ended_at=_seconds(walk.now),
            note=note,
            steps=taken,
            goal=_goal(world),
        )

    while True:
        node = config.states[state]
        if node.step is None:
            taken.append(_entered(walk, state, "final", walk.visits.get(state, 0) + 1))
            return ended("completed", f"reached the final state {state} at {walk.when()}")
        if len(taken) >= world.max_steps:
            return ended(
                "step_limit",
                f"stopped after {world.max_steps} steps, before {state} (visit "
                f"{walk.visits.get(state, 0) + 1}) at {walk.when()}: the journey loops; a "
                f"larger max_steps (at most {MAX_STEPS}) follows it further",
            )
        # An exit event that came while the last steps ran ends the walk before this one.
        walk.exit = world.timeline.arrived(world.exit_events, walk.now)
        if walk.exit is not None:
            return ended("exited", _exit_note(walk, state, cut_short=False))
        walk.visits[state] = walk.visits.get(state, 0) + 1
        record = _entered(walk, state, node.step.type, walk.visits[state])
        taken.append(record)
        try:
            result = steps.run(walk, state, node.step)
        except OverflowError:  # the clock ran past the year 9999
            result = walk.too_far(state)
        record.detail = result.detail
        if not isinstance(result, Done):
            if result.ending == "exited":
                record.left_at = _seconds(walk.now)
                return ended("exited", _exit_note(walk, state, cut_short=True))
            return ended(result.ending, result.note)
        event = event_after(config, state, result.outcome)
        record.left_at = _seconds(walk.now)
        record.event, record.next = event, node.on[event]
        record.message, record.campaign = result.message, result.campaign
        state = node.on[event]


def _entered(walk: Walk, state: str, kind: str, visit: int) -> SimulatedStep:
    return SimulatedStep(
        state=state,
        type=kind,
        visit=visit,
        entered_at=_seconds(walk.now),
        left_at=None,
        offset=walk.when(),
        event=None,
        next=None,
        detail=None,
    )


def _exit_note(walk: Walk, state: str, *, cut_short: bool) -> str:
    assert walk.exit is not None
    how = f"cut {state} short" if cut_short else f"ended the journey before {state}"
    return f"exit event {walk.exit.name} at {walk.when(walk.exit.at)} {how}"


def _goal(world: World) -> SimulatedGoal | None:
    """Converted when the goal event arrives within the goal's days of the start, however
    the walk ended (as a real execution converts after it ended)."""
    goal = world.goal
    if goal is None:
        return None
    deadline = world.timeline.start + timedelta(days=goal.within_days)
    reached = next(
        (e for e in world.timeline.events if e.name == goal.event and e.at <= deadline), None
    )
    if reached is None:
        detail = f"no {goal.event} within {goal.within_days} days in this simulation"
    else:
        when = world.timeline.offset(reached.at)
        detail = f"goal event {goal.event} at {when}, within {goal.within_days} days"
    return SimulatedGoal(
        event=goal.event,
        within_days=goal.within_days,
        converted=reached is not None,
        at=_seconds(reached.at) if reached else None,
        detail=detail,
    )


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())
