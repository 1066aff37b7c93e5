"""Manual runs: a manual journey for the customers of segments, counted and recorded now,
started durably by a fan-out workflow."""

from typing import Annotated

from pydantic import ConfigDict, Field
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from journeys.errors import Conflict, Invalid
from journeys.schemas import Request
from journeys.settings import Settings
from orchestration import handoff, launcher
from services import segments
from store import runs
from store.tables import Journey, ManualRun
from workflows.model import MANUAL
from workflows.model.machine import MAX_ID

MAX_SEGMENTS = 100
SegmentIds = Annotated[list[Annotated[int, Field(ge=1, le=MAX_ID)]], Field(max_length=MAX_SEGMENTS)]


class RunRequest(Request):
    """VIP customers (segment 4) who are not churned (segment 6); no include: everyone."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"include_segment_ids": [4], "exclude_segment_ids": [6]}]}
    )

    include_segment_ids: SegmentIds = Field(default_factory=list)
    exclude_segment_ids: SegmentIds = Field(default_factory=list)


async def _check_segments(session: AsyncSession, place_id: int, body: RunRequest) -> None:
    issues = []
    for field in ("include_segment_ids", "exclude_segment_ids"):
        ids: list[int] = getattr(body, field)
        issues += await segments.unknown(session, place_id, ids, field)
    if issues:
        raise Invalid(issues)


async def run(
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    journey: Journey,
    body: RunRequest,
    idempotency_key: str | None,
) -> ManualRun:
    """Record a run of a manual journey (or find the one `idempotency_key` recorded) and
    start its fan-out. Commits before Temporal is asked (`orchestration.handoff`): the run and
    its owed fan-out commit together, then the fan-out starts; a repeat with the same key
    starts it if it is still owed."""
    if journey.trigger_event != MANUAL:
        raise Conflict(
            f"Journey {journey.id} runs on {journey.trigger_event} events; only manual "
            "journeys can be run."
        )
    await _check_segments(session, journey.place_id, body)
    await handoff.ready(temporal)
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
    if created:
        starts = [await handoff.owe_run(session, settings, journey, run)]
    else:
        assert journey.id is not None
        starts = await handoff.find(session, launcher.run_fan_out_id(journey.id, run.id))
    await handoff.deliver(temporal, settings, session, starts)
    return run


async def page(
    session: AsyncSession, journey: Journey, offset: int, limit: int
) -> tuple[list[ManualRun], int]:
    """The journey's runs, newest first, and how many there are."""
    assert journey.id is not None
    return await runs.page(session, journey.place_id, journey.id, offset=offset, limit=limit)


async def get(session: AsyncSession, journey: Journey, run_id: str) -> ManualRun:
    assert journey.id is not None
    return await runs.get(session, journey.place_id, journey.id, run_id)
