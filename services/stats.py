"""Journey statistics.

Counted, never scanned: executions by status and by state from Temporal's visibility store
(count queries over the search attributes every execution keeps up to date), messages from
the delivery log grouped in the database.
"""

import asyncio

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from journeys.schemas import Resource
from orchestration.temporal_client import reachable
from services.executions import STATUS
from store import messages
from store.tables import Journey
from workflows.model import read_machine_config
from workflows.visibility import executions_query, in_state_query

# Count queries in flight at once per request (two per state, and one for the totals).
CONCURRENT_COUNTS = 16
# Counting a large journey's executions takes visibility a while (1-2 s for 100 000).
STATS_TIMEOUT = 20.0
# ExecutionStatus as visibility spells it (TIMED_OUT is 'TimedOut') → the API's status.
VISIBILITY_STATUS = {status.name.title().replace("_", ""): name for status, name in STATUS.items()}


class MessageCounts(Resource):
    sent: int = 0
    skipped: int = 0
    failed: int = 0


class StateStats(Resource):
    type: str | None
    entered: int
    current: int
    messages: MessageCounts | None


class ExecutionCounts(Resource):
    total: int = 0
    running: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    terminated: int = 0


class JourneyStats(Resource):
    id: int
    version: int
    executions: ExecutionCounts
    states: dict[str, StateStats]


async def journey_stats(session: AsyncSession, temporal: Client, journey: Journey) -> JourneyStats:
    """Executions by status, and for each state of the current version: how many executions
    entered it, how many are in it now, and for send steps the messages sent, skipped and
    failed. Executions of every version count; states only in older versions are listed
    when they logged messages. Visibility lags a moment behind the executions."""
    assert journey.id is not None
    logged = await messages.counts_by_state(session, journey.place_id, journey.id)
    types: dict[str, str | None] = {}
    if journey.machine_config is not None:
        config = read_machine_config(journey.machine_config)
        for name, state in config.states.items():
            types[name] = state.step.type if state.step else "final"
    for name in logged:
        types.setdefault(name, None)

    base = executions_query(journey.place_id, journey.id)
    counter = _Counter(temporal)
    async with reachable(STATS_TIMEOUT):
        totals, entered, current = await asyncio.gather(
            counter.by_status(base),
            asyncio.gather(*(counter.count(in_state_query(base, "entered", s)) for s in types)),
            asyncio.gather(*(counter.count(in_state_query(base, "in", s)) for s in types)),
        )
    states = {
        name: StateStats(
            type=kind,
            entered=entered[i],
            current=current[i],
            messages=_messages(kind, logged.get(name)),
        )
        for i, (name, kind) in enumerate(types.items())
    }
    return JourneyStats(id=journey.id, version=journey.version, executions=totals, states=states)


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
