"""What an event means for executions already under way: an exit event ends a customer's
running executions of the journeys that name it (`exit_rules`), and a goal event converts
their executions that entered within the goal's window (`goal`).

Done in the event's request, after its own executions started: a repeated event does it
again, which changes nothing (an ended execution takes no signal, a conversion is counted
once per execution)."""

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from orchestration.temporal_client import reachable
from store import conversions
from store.clock import DAY, now
from store.db import SessionFactory
from store.tables import Event, Journey
from workflows.visibility import EXIT_JOURNEY, JOURNEY_PATH, executions_query

# Executions of one customer and journey looked at per event: far more than any customer
# has, so a runaway is bounded.
MAX_PER_CUSTOMER = 1_000
CONCURRENCY = 16
# Bounds the lookups of one request, like any other call to Temporal.
TIMEOUT = 15.0
# The last second a visibility timestamp can say (an event's `occurred_at` may be later).
LATEST = 253_402_300_799


async def follow(
    temporal: Client, sessions: SessionFactory, journeys: list[Journey], rows: Iterable[Event]
) -> None:
    """Apply these journeys' exit rules and goals (`store.events.concerned`)
    to the recorded events, in their order. Temporal away or slow: `Unavailable` (a 503;
    sending the events again does this again)."""
    if not journeys:
        return
    gate = asyncio.Semaphore(CONCURRENCY)
    work = []
    # Executions this request started, by journey and customer: visibility may not list
    # them yet, and a later event of the batch may be their exit.
    started: dict[tuple[int, int], list[str]] = {}
    for row in rows:
        own = {execution_id for _, execution_id in row.executions}
        for journey in journeys:
            assert journey.id is not None
            earlier = started.get((journey.id, row.customer_id), [])
            if row.name in (journey.exit_rules or {}).get("events", []):
                work.append(_exit(temporal, gate, journey, row, own, earlier))
            if (journey.goal or {}).get("event") == row.name:
                work.append(_convert(temporal, sessions, gate, journey, row, own))
        for journey_id, execution_id in row.executions:
            started.setdefault((journey_id, row.customer_id), []).append(execution_id)
    async with reachable(TIMEOUT):
        await asyncio.gather(*work)


async def _exit(
    temporal: Client,
    gate: asyncio.Semaphore,
    journey: Journey,
    row: Event,
    own: set[str],
    earlier: list[str],
) -> None:
    assert journey.id is not None
    query = executions_query(
        journey.place_id, journey.id, status="running", customer_id=row.customer_id
    )
    reason = f"exit event {row.name} (event {row.event_id})"
    async with gate:
        listed = [
            execution.id
            async for execution in temporal.list_workflows(query, limit=MAX_PER_CUSTOMER)
        ]
    found = [e for e in dict.fromkeys([*earlier, *listed]) if e not in own]
    for execution_id in found:
        try:
            await temporal.get_workflow_handle(execution_id).signal(EXIT_JOURNEY, reason)
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            # It ended meanwhile (or never started): nothing to end.


async def _convert(
    temporal: Client,
    sessions: SessionFactory,
    gate: asyncio.Semaphore,
    journey: Journey,
    row: Event,
    own: set[str],
) -> None:
    assert journey.id is not None and journey.goal is not None
    # When the customer reached the goal: as the event says, else when it was received.
    happened = row.occurred_at if row.occurred_at is not None else (row.created or now())
    window = journey.goal["within_days"] * DAY
    # Visibility's StartTime is the latest run's (later than the entry after a continue-as-new):
    # it narrows the search; the entry time kept in the memo decides.
    since = datetime.fromtimestamp(min(max(happened - window, 0), LATEST), UTC)
    moment = since.isoformat(timespec="seconds").replace("+00:00", "Z")
    query = executions_query(journey.place_id, journey.id, customer_id=row.customer_id)
    query += f" AND StartTime >= '{moment}'"
    converted = []
    async with gate:
        async for execution in temporal.list_workflows(query, limit=MAX_PER_CUSTOMER):
            if execution.id in own or execution.status == WorkflowExecutionStatus.CONTINUED_AS_NEW:
                continue
            memo = await execution.memo()
            entered = memo.get("startedAt") or execution.start_time.timestamp()
            if not happened - window <= entered <= happened + 1:
                continue  # entered after the goal event, or too long before it
            path = execution.typed_search_attributes.get(JOURNEY_PATH) or []
            converted.append((execution.id, list(path)))
    if not converted:
        return
    async with sessions() as session:
        await conversions.record(
            session, journey.place_id, journey.id, row.customer_id, row.event_id, converted
        )
        await session.commit()
