"""Executions of a journey: `/places/{placeId}/journeys/{journeyId}/executions`, read from
Temporal's visibility store (the one record of them; nothing is copied into the database)."""

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from api.deps import CurrentManager, Pagination, Session, TemporalClient
from api.journeys import JourneyId
from api.wire import Resource, envelope, envelope_models
from journeys.errors import NotFound, Unavailable
from orchestration.temporal_client import reachable
from store import journeys
from workflows.contracts import Progress, StepRecord
from workflows.model.machine import MAX_ID
from workflows.visibility import (
    CUSTOMER_ID,
    JOURNEY_ID,
    JOURNEY_STEP,
    PLACE_ID,
    TRIGGER_EVENT,
    executions_query,
)

KIND = "journey_execution"
Status = Literal["running", "completed", "failed", "cancelled", "terminated"]
STATUS = {
    WorkflowExecutionStatus.RUNNING: "running",
    WorkflowExecutionStatus.COMPLETED: "completed",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.TIMED_OUT: "failed",
    WorkflowExecutionStatus.CANCELED: "cancelled",
    WorkflowExecutionStatus.TERMINATED: "terminated",
}
VISIBILITY = {
    "running": "ExecutionStatus = 'Running'",
    "completed": "ExecutionStatus = 'Completed'",
    "failed": "ExecutionStatus IN ('Failed', 'TimedOut')",
    "cancelled": "ExecutionStatus = 'Canceled'",
    "terminated": "ExecutionStatus = 'Terminated'",
}
ExecutionId = Annotated[str, Path(max_length=400, description="The execution's id.")]


class StepOut(Resource):
    state: str
    type: str
    visit: int
    entered_at: int
    left_at: int | None
    event: str | None
    detail: str | None


class ExecutionOut(Resource):
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


class ExecutionDetail(ExecutionOut):
    steps: list[StepOut]
    steps_total: int


ExecutionEnvelope, _ = envelope_models(KIND, ExecutionDetail)
_, ExecutionPage = envelope_models(KIND, ExecutionOut)
router = APIRouter(
    prefix="/places/{place_id}/journeys/{journey_id}/executions", tags=["executions"]
)


def _seconds(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


async def _out(execution: WorkflowExecution, journey_id: int) -> ExecutionOut:
    attributes = execution.typed_search_attributes
    memo: Mapping[str, Any] = await execution.memo()
    return ExecutionOut(
        id=execution.id,
        journey_id=journey_id,
        customer_id=attributes.get(CUSTOMER_ID) or 0,
        status=STATUS.get(execution.status or WorkflowExecutionStatus.RUNNING, "running"),
        current_step=attributes.get(JOURNEY_STEP) or None,
        version=memo.get("version"),
        trigger_event=attributes.get(TRIGGER_EVENT),
        event_id=memo.get("eventId"),
        run_id=memo.get("runId"),
        started_at=memo.get("startedAt") or _seconds(execution.start_time),
        closed_at=_seconds(execution.close_time),
    )


def _step(record: StepRecord) -> StepOut:
    return StepOut(
        state=record.state,
        type=record.type,
        visit=record.visit,
        entered_at=int(record.entered_at.timestamp()),
        left_at=_seconds(record.left_at),
        event=record.event,
        detail=record.detail,
    )


async def _one(
    client: Client, place_id: int, journey_id: int, execution_id: str
) -> tuple[ExecutionOut, Any]:
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
    if attributes.get(PLACE_ID) != place_id or attributes.get(JOURNEY_ID) != journey_id:
        raise NotFound(f"Execution {execution_id} was not found in journey {journey_id}.")
    return await _out(described, journey_id), handle


@router.get("", response_model=None, responses={200: {"model": ExecutionPage}})
async def list_executions(
    manager: CurrentManager,
    session: Session,
    temporal: TemporalClient,
    journey_id: JourneyId,
    paging: Pagination,
    status: Annotated[Status | None, Query()] = None,
    customer_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> JSONResponse:
    """The journey's executions, newest first (paginated; filter by status, customer_id)."""
    await journeys.get(session, manager.place_id, journey_id)
    query = executions_query(manager.place_id, journey_id)
    if status is not None:
        query += f" AND {VISIBILITY[status]}"
    if customer_id is not None:
        query += f" AND CustomerId = {customer_id}"
    async with reachable():
        total = (await temporal.count_workflows(query)).count
        items = []
        index = 0
        async for execution in temporal.list_workflows(
            query, limit=paging.offset + paging.per_page, page_size=min(1000, paging.per_page * 4)
        ):
            if index >= paging.offset:
                items.append(await _out(execution, journey_id))
            index += 1
    return envelope(KIND, items, paging.meta(total))


@router.get("/{execution_id}", response_model=None, responses={200: {"model": ExecutionEnvelope}})
async def get_execution(
    manager: CurrentManager,
    session: Session,
    temporal: TemporalClient,
    journey_id: JourneyId,
    execution_id: ExecutionId,
) -> JSONResponse:
    """One execution with the steps it took and when (the last 200; `stepsTotal` counts all)."""
    await journeys.get(session, manager.place_id, journey_id)
    execution, handle = await _one(temporal, manager.place_id, journey_id, execution_id)
    async with reachable():
        progress = await handle.query("progress", result_type=Progress)
    detail = ExecutionDetail(
        **execution.model_dump(),
        steps=[_step(record) for record in progress.steps],
        steps_total=progress.steps_total,
    )
    return envelope(KIND, [detail])


@router.post(
    "/{execution_id}/cancel", response_model=None, responses={200: {"model": ExecutionEnvelope}}
)
async def cancel_execution(
    manager: CurrentManager,
    session: Session,
    temporal: TemporalClient,
    journey_id: JourneyId,
    execution_id: ExecutionId,
) -> JSONResponse:
    """Take the customer out of the journey: the execution stops where it is (a step in
    flight finishes first). Cancelling a closed execution changes nothing."""
    await journeys.get(session, manager.place_id, journey_id)
    execution, handle = await _one(temporal, manager.place_id, journey_id, execution_id)
    if execution.status == "running":
        async with reachable():
            await handle.cancel()
    return envelope(KIND, [execution])
