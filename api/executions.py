"""Executions of a journey: `/places/{placeId}/journeys/{journeyId}/executions`."""

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from api.deps import CurrentJourney, KeptTotals, Pagination, TemporalClient
from api.wire import envelope, envelope_models
from journeys.schemas import Resource
from services import executions as service
from services.executions import Status, seconds
from workflows.contracts import StepRecord
from workflows.model.machine import MAX_ID, MAX_NAME

KIND = "journey_execution"
ExecutionId = Annotated[str, Path(max_length=400, description="The execution's id.")]


class StepOut(Resource):
    state: str
    type: str
    visit: int
    entered_at: int
    left_at: int | None
    event: str | None
    detail: str | None


class ExecutionOut(service.Execution):
    """An execution as the API lists it."""


class ExecutionDetail(ExecutionOut):
    steps: list[StepOut]
    steps_total: int
    exit_reason: str | None = None  # the exit event that ended it, if one did


ExecutionEnvelope, _ = envelope_models(KIND, ExecutionDetail)
CancelledEnvelope, ExecutionPage = envelope_models(KIND, ExecutionOut)
router = APIRouter(
    prefix="/places/{place_id}/journeys/{journey_id}/executions", tags=["executions"]
)


def _out(execution: service.Execution) -> ExecutionOut:
    return ExecutionOut.model_validate(execution, from_attributes=True)


def _step(record: StepRecord) -> StepOut:
    return StepOut(
        state=record.state,
        type=record.type,
        visit=record.visit,
        entered_at=int(record.entered_at.timestamp()),
        left_at=seconds(record.left_at),
        event=record.event,
        detail=record.detail,
    )


@router.get("", response_model=None, responses={200: {"model": ExecutionPage}})
async def list_executions(
    temporal: TemporalClient,
    totals: KeptTotals,
    journey: CurrentJourney,
    paging: Pagination,
    status: Annotated[Status | None, Query()] = None,
    customer_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    state: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=MAX_NAME,
            description="Only running executions that are in this state now (its name in "
            "machineConfig.states): who is waiting at step X.",
        ),
    ] = None,
) -> JSONResponse:
    """The journey's executions, newest first (paginated; filter by status, customer_id,
    state)."""
    rows, total = await service.page(
        temporal, journey, paging.offset, paging.per_page, status, customer_id, state, totals=totals
    )
    assert total is not None  # counted
    return envelope(KIND, [_out(row) for row in rows], paging.meta(total))


@router.get("/{execution_id}", response_model=None, responses={200: {"model": ExecutionEnvelope}})
async def get_execution(
    temporal: TemporalClient, journey: CurrentJourney, execution_id: ExecutionId
) -> JSONResponse:
    """One execution with the steps it took and when (the last 200; `stepsTotal` counts all)."""
    execution, progress = await service.get(temporal, journey, execution_id)
    detail = ExecutionDetail(
        **execution.model_dump(),
        steps=[_step(record) for record in progress.steps],
        steps_total=progress.steps_total,
        exit_reason=progress.exit_reason,
    )
    return envelope(KIND, [detail])


@router.post(
    "/{execution_id}/cancel", response_model=None, responses={200: {"model": CancelledEnvelope}}
)
async def cancel_execution(
    temporal: TemporalClient, journey: CurrentJourney, execution_id: ExecutionId
) -> JSONResponse:
    """Take the customer out of the journey: the execution stops where it is (a step in
    flight finishes first). Cancelling a closed execution changes nothing."""
    return envelope(KIND, [_out(await service.cancel(temporal, journey, execution_id))])
