"""Manual runs: `/places/{placeId}/journeys/{journeyId}/run` and `/runs/{runId}`."""

from typing import Annotated

from fastapi import APIRouter, Body, Header, Path
from fastapi.responses import JSONResponse
from pydantic import Field

from api.deps import AppSettings, CurrentManager, Pagination, Session, TemporalClient
from api.journeys import JourneyId
from api.wire import Resource, envelope, envelope_models
from journeys.errors import Conflict, Invalid, Issue
from journeys.schemas import Request
from orchestration import launcher
from store import crud, runs
from store import journeys as store
from store.tables import JourneyRun, Segment
from workflows.model import MANUAL
from workflows.model.machine import MAX_ID

KIND = "journey_run"
MAX_SEGMENTS = 100
SegmentIds = Annotated[list[Annotated[int, Field(ge=1, le=MAX_ID)]], Field(max_length=MAX_SEGMENTS)]
RunId = Annotated[str, Path(max_length=32, description="The run's id, as `/run` answered.")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="Repeat a call with the same key to get the run it started, not a new one.",
    ),
]


class RunRequest(Request):
    include_segment_ids: SegmentIds = Field(default_factory=list)
    exclude_segment_ids: SegmentIds = Field(default_factory=list)


class Triggered(Resource):
    triggered: int
    run_id: str


class RunOut(Resource):
    id: str
    journey_id: int
    journey_version: int
    include_segment_ids: list[int]
    exclude_segment_ids: list[int]
    targeted: int
    started: int
    status: str
    created: int
    updated: int
    finished: int | None


RunEnvelope, RunPage = envelope_models(KIND, RunOut)
router = APIRouter(prefix="/places/{place_id}/journeys/{journey_id}", tags=["runs"])


def _out(run: JourneyRun) -> RunOut:
    return RunOut.model_validate(run, from_attributes=True)


async def _check_segments(session: Session, place_id: int, body: RunRequest) -> None:
    issues = []
    for field in ("include_segment_ids", "exclude_segment_ids"):
        ids: list[int] = getattr(body, field)
        found = await crud.existing_ids(session, Segment, place_id, ids)
        issues += [
            Issue(f"{field}.{i}", f"segment {segment} does not exist in this place")
            for i, segment in enumerate(ids)
            if segment not in found
        ]
    if issues:
        raise Invalid(issues)


@router.post("/run", response_model=Triggered)
async def run_journey(
    manager: CurrentManager,
    session: Session,
    temporal: TemporalClient,
    settings: AppSettings,
    journey_id: JourneyId,
    idempotency_key: IdempotencyKey = None,
    body: Annotated[RunRequest | None, Body()] = None,
) -> Triggered:
    """Run a manual journey for the customers in any `include_segment_ids` segment (every
    customer of the place if none) and in no `exclude_segment_ids` segment, counted now.
    Answers at once with that count; the executions are started durably in the background
    (follow them at `/runs/{runId}`)."""
    body = body or RunRequest()
    journey = await store.get(session, manager.place_id, journey_id)
    if journey.trigger_event != MANUAL:
        raise Conflict(
            f"Journey {journey_id} runs on {journey.trigger_event} events; only manual "
            "journeys can be run."
        )
    await _check_segments(session, manager.place_id, body)
    run, created = await runs.create(
        session, journey, body.include_segment_ids, body.exclude_segment_ids, idempotency_key
    )
    if not created and (run.include_segment_ids, run.exclude_segment_ids) != (
        body.include_segment_ids,
        body.exclude_segment_ids,
    ):
        raise Conflict(
            f"Idempotency-Key {idempotency_key!r} was used for run {run.id}, which targets "
            "other segments."
        )
    # Started before the run commits, so a recorded run always has its fan-out; a fan-out
    # whose run never commits finds nothing to start.
    await launcher.start_run(temporal, settings, journey, run)
    return Triggered(triggered=run.targeted, run_id=run.id)


@router.get("/runs", response_model=None, responses={200: {"model": RunPage}})
async def list_runs(
    manager: CurrentManager, session: Session, journey_id: JourneyId, paging: Pagination
) -> JSONResponse:
    """The journey's runs, newest first (paginated)."""
    await store.get(session, manager.place_id, journey_id)
    rows, total = await runs.page(
        session, manager.place_id, journey_id, offset=paging.offset, limit=paging.per_page
    )
    return envelope(KIND, [_out(row) for row in rows], paging.meta(total))


@router.get("/runs/{run_id}", response_model=None, responses={200: {"model": RunEnvelope}})
async def get_run(
    manager: CurrentManager, session: Session, journey_id: JourneyId, run_id: RunId
) -> JSONResponse:
    """One run: how many customers it targeted, how many executions are started so far, and
    its status (`starting` until every execution is started, then `completed`)."""
    await store.get(session, manager.place_id, journey_id)
    return envelope(KIND, [_out(await runs.get(session, manager.place_id, journey_id, run_id))])
