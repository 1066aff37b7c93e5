"""Manual runs: `/places/{placeId}/journeys/{journeyId}/run` and `/runs/{runId}`."""

from typing import Annotated

from fastapi import APIRouter, Body, Header, Path
from fastapi.responses import JSONResponse
from pydantic import Field

from api.contract import CONFLICT
from api.deps import AppSettings, CurrentJourney, Pagination, Session, TemporalClient
from api.wire import envelope, envelope_models
from journeys.schemas import Resource
from services import runs as service
from services.runs import RunRequest
from store.tables import ManualRun

KIND = "journey_run"
RunId = Annotated[str, Path(max_length=32, description="The run's id, as `/run` answered.")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="Repeat a call with the same key to get the run it started, not a new one.",
    ),
]


class Triggered(Resource):
    triggered: int
    run_id: str
    # Present when the journey's entry rules kept customers of the audience out.
    skipped: int | None = Field(default=None, json_schema_extra={"nullable": False})


class RunOut(Resource):
    id: str
    journey_id: int
    journey_version: int
    include_segment_ids: list[int]
    exclude_segment_ids: list[int]
    targeted: int
    started: int
    skipped: int  # targeted customers the journey's entry rules kept out
    status: str
    created: int
    updated: int
    finished: int | None


RunEnvelope, RunPage = envelope_models(KIND, RunOut)
router = APIRouter(prefix="/places/{place_id}/journeys/{journey_id}", tags=["runs"])


def _out(run: ManualRun) -> RunOut:
    return RunOut.model_validate(run, from_attributes=True)


@router.post("/run", response_model=Triggered, response_model_exclude_none=True, responses=CONFLICT)
async def run_journey(
    session: Session,
    temporal: TemporalClient,
    settings: AppSettings,
    journey: CurrentJourney,
    idempotency_key: IdempotencyKey = None,
    body: Annotated[RunRequest | None, Body()] = None,
) -> Triggered:
    """Run a manual journey for the customers in any `include_segment_ids` segment (every
    customer of the place if none) and in no `exclude_segment_ids` segment, counted now.
    Answers at once with that count; the executions are started durably in the background
    (follow them at `/runs/{runId}`)."""
    body = body or RunRequest()
    run = await service.run(session, temporal, settings, journey, body, idempotency_key)
    return Triggered(triggered=run.targeted, run_id=run.id, skipped=run.skipped or None)


@router.get("/runs", response_model=None, responses={200: {"model": RunPage}})
async def list_runs(session: Session, journey: CurrentJourney, paging: Pagination) -> JSONResponse:
    """The journey's runs, newest first (paginated)."""
    rows, total = await service.page(session, journey, paging.offset, paging.per_page)
    return envelope(KIND, [_out(row) for row in rows], paging.meta(total))


@router.get("/runs/{run_id}", response_model=None, responses={200: {"model": RunEnvelope}})
async def get_run(session: Session, journey: CurrentJourney, run_id: RunId) -> JSONResponse:
    """One run: how many customers it targeted, how many executions are started so far, and
    its status (`starting` until every execution is started, then `completed`)."""
    return envelope(KIND, [_out(await service.get(session, journey, run_id))])
