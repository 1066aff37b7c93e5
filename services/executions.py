"""Executions of a journey, read from Temporal's visibility store (the one record of them;
nothing is copied into the database)."""

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, get_args

from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from journeys.errors import NotFound, Unavailable
from journeys.schemas import Resource
from orchestration.temporal_client import reachable
from services.kept import Kept
from store.tables import Journey
from workflows.contracts import Progress
from workflows.visibility import (
    CUSTOMER_ID,
    JOURNEY_EXECUTION,
    JOURNEY_ID,
    JOURNEY_PATH,
    JOURNEY_STEP,
    PLACE_ID,
    TRIGGER_EVENT,
    customer_executions_query,
    executions_query,
    state_token,
)

Status = Literal["running", "completed", "failed", "cancelled", "terminated"]
STATUS_NAMES: tuple[str, ...] = get_args(Status)
STATUS = {
    WorkflowExecutionStatus.RUNNING: "running",
    WorkflowExecutionStatus.COMPLETED: "completed",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.TIMED_OUT: "failed",
    WorkflowExecutionStatus.CANCELED: "cancelled",
    WorkflowExecutionStatus.TERMINATED: "terminated",
}


class Execution(Resource):
    id: str
    journey_id: int
    customer_id: int
    status: str
    current_step: str | None
    version: int | None
    trigger_event: str | None
    event_id: str | None
    run_id: str | None
    started_at: int | None
    closed_at: int | None
    # The state one of the journey's exit events ended it in (it is then `completed`).
    exited_at: str | None = None


def seconds(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


def _exited_at(journey: Journey, path: Sequence[str]) -> str | None:
    """The state of the `exited` token in an execution's path, by the journey's current
    states (one only an older version had shows as `?`)."""
    token = next((t for t in path if t.startswith("x")), None)
    if token is None:
        return None
    names = (journey.machine_config or {}).get("states") or {}
    return next((n for n in names if state_token("exited", n) == token), "?")


async def _execution(execution: WorkflowExecution, journey: Journey) -> Execution:
    attributes = execution.typed_search_attributes
    memo: Mapping[str, Any] = await execution.memo()
    assert journey.id is not None
    return Execution(
        id=execution.id,
        journey_id=journey.id,
        customer_id=attributes.get(CUSTOMER_ID) or 0,
        status=STATUS.get(execution.status or WorkflowExecutionStatus.RUNNING, "running"),
        current_step=attributes.get(JOURNEY_STEP) or None,
        version=memo.get("version"),
        trigger_event=attributes.get(TRIGGER_EVENT),
        event_id=memo.get("eventId"),
        run_id=memo.get("runId"),
        started_at=memo.get("startedAt") or seconds(execution.start_time),
        closed_at=seconds(execution.close_time),
        exited_at=_exited_at(journey, attributes.get(JOURNEY_PATH) or []),
    )


async def _one(
    client: Client, journey: Journey, execution_id: str
) -> tuple[Execution, WorkflowHandle[Any, Any]]:
    handle = client.get_workflow_handle(execution_id)
    try:
        async with reachable():
            described = await handle.describe()
    except Unavailable as error:
        cause = error.__cause__
        if isinstance(cause, RPCError) and cause.status == RPCStatusCode.NOT_FOUND:
            raise NotFound(f"Execution {execution_id} was not found.") from None
        raise
    attributes = described.typed_search_attributes
    # A run's fan-out carries the journey's attributes too, but it is no execution.
    if (
        described.workflow_type != JOURNEY_EXECUTION
        or attributes.get(PLACE_ID) != journey.place_id
        or attributes.get(JOURNEY_ID) != journey.id
    ):
        raise NotFound(f"Execution {execution_id} was not found in journey {journey.id}.")
    return await _execution(described, journey), handle


async def page(
    temporal: Client,
    journey: Journey,
    offset: int,
    limit: int,
    status: Status | None = None,
    customer_id: int | None = None,
    state: str | None = None,
    *,
    totals: Kept[int] | None = None,
) -> tuple[list[Execution], int | None]:
    """The journey's executions, newest first (filtered by status, customer, the state they
    are in now), and the total as `totals` keeps it (None without `totals`: counting a large
    journey costs as much as listing a page, so the API keeps totals a moment: `Kept`)."""
    assert journey.id is not None
    query = executions_query(
        journey.place_id, journey.id, status=status, customer_id=customer_id, state=state
    )

    async def count() -> int:
        # Bounded on its own: it may run in the background, outside the caller's bound.
        async with reachable():
            return (await temporal.count_workflows(query)).count

    async def listed() -> list[Execution]:
        items = []
        index = 0
        # Visibility pages exactly what is shown: a larger page reads rows nobody sees.
        async for execution in temporal.list_workflows(
            query, limit=offset + limit, page_size=min(1000, offset + limit)
        ):
            if index >= offset:
                items.append(await _execution(execution, journey))
            index += 1
        return items

    async with reachable():
        if totals is None:
            return await listed(), None
        items, total = await asyncio.gather(listed(), totals.get(query, count))
    return items, total


async def of_customer(
    temporal: Client, journeys: Mapping[int, Journey], place_id: int, customer_id: int, limit: int
) -> list[Execution]:
    """The customer's newest executions of the place's journeys (`journeys`, by id; those of
    a journey deleted since are left out)."""
    found = []
    async with reachable():
        async for execution in temporal.list_workflows(
            customer_executions_query(place_id, customer_id), limit=limit
        ):
            journey = journeys.get(execution.typed_search_attributes.get(JOURNEY_ID) or 0)
            if journey is not None:
                found.append(await _execution(execution, journey))
    return found


async def get(temporal: Client, journey: Journey, execution_id: str) -> tuple[Execution, Progress]:
    """One execution of the journey, and the steps it took."""
    execution, handle = await _one(temporal, journey, execution_id)
    async with reachable():
        progress = await handle.query("progress", result_type=Progress)
    return execution, progress


async def cancel(temporal: Client, journey: Journey, execution_id: str) -> Execution:
    """Take the customer out of the journey: the execution stops where it is (a step in
    flight finishes first). Cancelling a closed execution changes nothing."""
    execution, handle = await _one(temporal, journey, execution_id)
    if execution.status == "running":
        async with reachable():
            await handle.cancel()
    return execution
