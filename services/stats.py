"""Journey statistics.

Counted, never scanned: executions by status and by state from Temporal's visibility store
(count queries over the search attributes every execution keeps up to date), messages from
the delivery log grouped in the database. Kept a moment (`kept_stats`): a journey's counts
cost visibility a query per state, which on 100 000 executions takes over a second.
"""

import asyncio
from typing import Any

from pydantic import Field
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from journeys.schemas import Resource
from orchestration.temporal_client import reachable
from services.executions import STATUS
from services.kept import Kept
from store import conversions, messages
from store.db import SessionFactory, read_only
from store.tables import Journey
from workflows.model import read_machine_config
from workflows.model.machine import SplitStep
from workflows.visibility import (
    branch_token,
    executions_query,
    in_state_query,
    state_token,
    with_token,
)

# Count queries in flight at once per request (three per state, and one for the totals).
CONCURRENT_COUNTS = 16
# Counting a large journey's executions takes visibility a while (1-2 s for 100 000).
STATS_TIMEOUT = 20.0
# ExecutionStatus as visibility spells it (TIMED_OUT is 'TimedOut') → the API's status.
VISIBILITY_STATUS = {status.name.title().replace("_", ""): name for status, name in STATUS.items()}


class MessageCounts(Resource):
    sent: int = 0
    skipped: int = 0
    failed: int = 0


def _shown_if_set() -> Any:
    """A field shown only when set: for a journey with exit rules, or with a goal."""
    return Field(default=None, exclude_if=lambda value: value is None)


class BranchStats(Resource):
    """A split branch: the executions that took it, and with a goal those that converted."""

    weight: int
    entered: int
    conversions: int | None = _shown_if_set()
    conversion_rate: float | None = _shown_if_set()


class StateStats(Resource):
    type: str | None
    entered: int
    current: int
    # With exit rules: executions one of them ended in this state.
    exited: int | None = _shown_if_set()
    messages: MessageCounts | None
    # With a goal: executions that entered this state and converted, and their share of
    # those that entered it.
    conversions: int | None = _shown_if_set()
    conversion_rate: float | None = _shown_if_set()
    # A split: each branch's executions (A vs B vs a holdout, read off one response).
    branches: dict[str, BranchStats] | None = _shown_if_set()


class ExecutionCounts(Resource):
    total: int = 0
    running: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    terminated: int = 0


class Conversions(Resource):
    """Executions whose customer sent the goal event within the window after entering."""

    event: str
    within_days: int
    converted: int
    rate: float  # of every execution of the journey


class JourneyStats(Resource):
    id: int
    version: int
    executions: ExecutionCounts
    states: dict[str, StateStats]
    goal: Conversions | None = _shown_if_set()


async def journey_stats(session: AsyncSession, temporal: Client, journey: Journey) -> JourneyStats:
    """Executions by status, and for each state of the current version: how many executions
    entered it, how many are in it now, and for send steps the messages sent, skipped and
    failed. Executions of every version count; states only in older versions are listed
    when they logged messages. Visibility lags a moment behind the executions."""
    assert journey.id is not None
    logged = await messages.counts_by_state(session, journey.place_id, journey.id)
    types: dict[str, str | None] = {}
    splits: dict[str, SplitStep] = {}
    if journey.machine_config is not None:
        config = read_machine_config(journey.machine_config)
        for name, state in config.states.items():
            types[name] = state.step.type if state.step else "final"
            if isinstance(state.step, SplitStep):
                splits[name] = state.step
    branch_tokens = [
        (name, branch, weight, branch_token(name, branch))
        for name, step in splits.items()
        for branch, weight in step.branches
    ]
    for name in logged:
        types.setdefault(name, None)

    base = executions_query(journey.place_id, journey.id)
    counter = _Counter(temporal)
    async with reachable(STATS_TIMEOUT):
        exits = [in_state_query(base, "exited", s) for s in types] if journey.exit_rules else []
        totals, entered, current, exited, took = await asyncio.gather(
            counter.by_status(base),
            asyncio.gather(*(counter.count(in_state_query(base, "entered", s)) for s in types)),
            asyncio.gather(*(counter.count(in_state_query(base, "in", s)) for s in types)),
            asyncio.gather(*(counter.count(query) for query in exits)),
            asyncio.gather(*(counter.count(with_token(base, t)) for *_, t in branch_tokens)),
        )
    goal = journey.goal
    converted, by_token = await conversions.counts(session, journey.id) if goal else (0, None)
    states = {}
    for i, (name, kind) in enumerate(types.items()):
        stats = StateStats(
            type=kind,
            entered=entered[i],
            current=current[i],
            exited=exited[i] if exited else None,
            messages=_messages(kind, logged.get(name)),
        )
        if by_token is not None:
            stats.conversions = by_token[state_token("entered", name)]
            stats.conversion_rate = _rate(stats.conversions, stats.entered)
        states[name] = stats
    for (name, branch, weight, token), count in zip(branch_tokens, took, strict=True):
        taken = BranchStats(weight=weight, entered=count)
        if by_token is not None:
            taken.conversions = by_token[token]
            taken.conversion_rate = _rate(taken.conversions, count)
        states[name].branches = {**(states[name].branches or {}), branch: taken}
    outcome = (
        Conversions(
            event=goal["event"],
            within_days=goal["within_days"],
            converted=converted,
            rate=_rate(converted, totals.total),
        )
        if goal
        else None
    )
    return JourneyStats(
        id=journey.id, version=journey.version, executions=totals, states=states, goal=outcome
    )


async def execution_counts(temporal: Client, journey: Journey) -> ExecutionCounts:
    """The journey's executions by status: one count query."""
    assert journey.id is not None
    async with reachable(STATS_TIMEOUT):
        return await _Counter(temporal).by_status(executions_query(journey.place_id, journey.id))


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _messages(kind: str | None, logged: dict[str, int] | None) -> MessageCounts | None:
    """A send step's message counts (zeros before any); None for steps that send nothing."""
    if logged is not None:
        return MessageCounts(**logged)
    if kind is not None and kind.startswith("send_"):
        return MessageCounts()
    return None


class _Counter:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.slots = asyncio.Semaphore(CONCURRENT_COUNTS)

    async def count(self, query: str) -> int:
        async with self.slots:
            return (await self.client.count_workflows(query)).count

    async def by_status(self, query: str) -> ExecutionCounts:
        async with self.slots:
            counted = await self.client.count_workflows(f"{query} GROUP BY ExecutionStatus")
        totals = ExecutionCounts(total=counted.count)
        for group in counted.groups:
            name = VISIBILITY_STATUS.get(str(group.group_values[0]))
            if name is not None:
                setattr(totals, name, getattr(totals, name) + group.count)
        return totals


async def kept_stats(
    kept: Kept[JourneyStats], sessions: SessionFactory, temporal: Client, journey: Journey
) -> JourneyStats:
    """The journey's stats (`journey_stats`) as `kept` keeps them: at most a second old
    while nobody waits for them, at most `Kept`'s stale limit (30 s) under constant asking, and
    never of another version or configuration of the journey. Counted in a session of their
    own, since a background count outlives the request that started it."""

    async def count() -> JourneyStats:
        async with sessions() as session:
            await read_only(session)
            return await journey_stats(session, temporal, journey)

    return await kept.get((journey.id, journey.version, journey.updated), count)
