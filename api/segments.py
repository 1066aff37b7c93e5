"""Targeting segments: `/places/{placeId}/segments`."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse, Response
from pydantic import Field, JsonValue
from sqlalchemy import insert
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.customers import CustomerOut
from api.deps import CurrentManager, Pagination, Session
from api.wire import Resource, envelope, envelope_models
from journeys.errors import Conflict, Invalid, Issue
from journeys.schemas import Request
from store import crud
from store import segments as store
from store.clock import now
from store.tables import Journey, Segment, SegmentMember
from workflows.model import parse_machine_config
from workflows.model.machine import MAX_ID, WaitForConditionStep
from workflows.model.operators import SEGMENT_OPERATORS, check_condition

KIND = "targeting_segment"
MAX_CONDITIONS = 100
MAX_STATIC = 100_000
SegmentId = Annotated[int, Path(ge=1, le=MAX_ID, description="The segment's id.")]
Name = Annotated[str, Field(min_length=1, max_length=255)]
CustomerIds = Annotated[list[Annotated[int, Field(ge=1, le=MAX_ID)]], Field(max_length=MAX_STATIC)]
Conditions = Annotated[list[dict[str, JsonValue]], Field(max_length=MAX_CONDITIONS)]


class SegmentCreate(Request):
    """A rule segment (`match` + `conditions`) or a static one (`customer_ids`)."""

    name: Name
    match: Literal["all", "any"] | None = None
    conditions: Conditions | None = None
    customer_ids: CustomerIds | None = None


class SegmentUpdate(SegmentCreate):
    name: Name | None = None  # type: ignore[assignment]


class SegmentOut(Resource):
    id: int
    place_id: int
    name: str
    kind: str
    match: str | None
    conditions: list[dict[str, Any]] | None
    customer_ids: list[int] | None
    created: int
    updated: int


SegmentEnvelope, SegmentPage = envelope_models(KIND, SegmentOut)
router = APIRouter(prefix="/places/{place_id}/segments", tags=["segments"])


async def _out(session: AsyncSession, segment: Segment) -> SegmentOut:
    members = None
    if segment.kind == "static":
        query = select(SegmentMember.customer_id).where(SegmentMember.segment_id == segment.id)
        members = sorted(await session.exec(query))
    return SegmentOut.model_validate(
        {**segment.model_dump(), "customer_ids": members}, from_attributes=False
    )


def _kind(body: SegmentCreate, given: set[str]) -> str | None:
    rule = bool(given & {"match", "conditions"})
    static = "customer_ids" in given
    if rule and static:
        raise Invalid(
            [
                Issue(
                    "customer_ids",
                    "a segment has rules (match, conditions) or customer_ids, not both",
                )
            ]
        )
    return "static" if static else "rule" if rule else None


def _check_conditions(conditions: list[dict[str, Any]] | None) -> None:
    if conditions is None:
        raise Invalid([Issue("conditions", "must not be null")])
    issues = []
    for i, condition in enumerate(conditions):
        issues += check_condition(condition, f"conditions.{i}", SEGMENT_OPERATORS)
    if issues:
        raise Invalid(issues)


async def _set_members(session: AsyncSession, segment: Segment, customer_ids: list[int]) -> None:
    await session.exec(delete(SegmentMember).where(col(SegmentMember.segment_id) == segment.id))
    rows = [{"segment_id": segment.id, "customer_id": c} for c in dict.fromkeys(customer_ids)]
    connection = await session.connection()
    for start in range(0, len(rows), 5_000):
        await connection.execute(insert(SegmentMember), rows[start : start + 5_000])
    segment.updated = now()
    await session.flush()


def check_body(body: SegmentCreate) -> str | None:
    """What a create or update body shows on its own: its kind (None: an update that
    doesn't say) and its conditions."""
    given = body.model_fields_set
    kind = _kind(body, given)
    if kind is None and not isinstance(body, SegmentUpdate):
        raise Invalid([Issue("conditions", "give conditions (a rule segment) or customer_ids")])
    if kind == "rule" and ("conditions" in given or not isinstance(body, SegmentUpdate)):
        _check_conditions(body.conditions)
    return kind


async def create(session: AsyncSession, place_id: int, body: SegmentCreate) -> Segment:
    kind = check_body(body)
    segment = Segment(place_id=place_id, name=body.name, kind=kind or "rule")
    if kind == "rule":
        segment.match = body.match or "all"
        segment.conditions = body.conditions
    await crud.create(session, segment)
    if kind == "static":
        await _set_members(session, segment, body.customer_ids or [])
    return segment


async def update(session: AsyncSession, segment: Segment, body: SegmentUpdate) -> Segment:
    """Apply the fields `body` gives; a rule segment stays a rule segment."""
    given = body.model_fields_set
    kind = check_body(body)
    if kind is not None and kind != segment.kind:
        raise Invalid([Issue("kind", f"this is a {segment.kind} segment; its kind can't change")])
    changes: dict[str, Any] = {}
    if "name" in given:
        if body.name is None:
            raise Invalid([Issue("name", "must not be null")])
        changes["name"] = body.name
    if "match" in given:
        changes["match"] = body.match or "all"
    if "conditions" in given:
        changes["conditions"] = body.conditions
    if "customer_ids" in given:
        await _set_members(session, segment, body.customer_ids or [])
    await crud.update(session, segment, changes)
    return segment


@router.get("", response_model=None, responses={200: {"model": SegmentPage}})
async def list_segments(
    manager: CurrentManager, session: Session, paging: Pagination
) -> JSONResponse:
    """List the place's segments, ordered by id (paginated)."""
    rows, total = await crud.page(
        session,
        Segment,
        [Segment.place_id == manager.place_id],
        offset=paging.offset,
        limit=paging.per_page,
    )
    return envelope(KIND, [await _out(session, row) for row in rows], paging.meta(total))


@router.post("", response_model=None, responses={200: {"model": SegmentEnvelope}})
async def create_segment(
    manager: CurrentManager, session: Session, body: SegmentCreate
) -> JSONResponse:
    """Create a rule segment (conditions over attributes, `match` all or any) or a static
    segment (a list of customer ids)."""
    return envelope(KIND, [await _out(session, await create(session, manager.place_id, body))])


@router.get("/{segment_id}", response_model=None, responses={200: {"model": SegmentEnvelope}})
async def get_segment(
    manager: CurrentManager, session: Session, segment_id: SegmentId
) -> JSONResponse:
    """Get one segment."""
    segment = await crud.get(session, Segment, manager.place_id, segment_id)
    return envelope(KIND, [await _out(session, segment)])


@router.put("/{segment_id}", response_model=None, responses={200: {"model": SegmentEnvelope}})
async def update_segment(
    manager: CurrentManager, session: Session, segment_id: SegmentId, body: SegmentUpdate
) -> JSONResponse:
    """Update a segment (only the fields given change; a rule segment stays a rule segment)."""
    segment = await crud.get(session, Segment, manager.place_id, segment_id, lock=True)
    return envelope(KIND, [await _out(session, await update(session, segment, body))])


@router.delete("/{segment_id}", status_code=204, response_class=Response)
async def delete_segment(manager: CurrentManager, session: Session, segment_id: SegmentId) -> None:
    """Delete a segment that no journey of the place uses (409 names the journeys)."""
    segment = await crud.get(session, Segment, manager.place_id, segment_id, lock=True)
    users = await journeys_using(session, manager.place_id, segment_id)
    if users:
        raise Conflict(in_use(segment_id, users))
    await crud.delete(session, segment)


@router.get(
    "/{segment_id}/customers",
    response_model=None,
    responses={200: {"model": envelope_models("customer", CustomerOut)[1]}},
)
async def segment_customers(
    manager: CurrentManager, session: Session, segment_id: SegmentId, paging: Pagination
) -> JSONResponse:
    """The segment's members, ordered by id (paginated; `meta.total` counts them all)."""
    segment = await crud.get(session, Segment, manager.place_id, segment_id)
    total = await store.count_members(session, segment)
    rows = await store.page_members(session, segment, paging.offset, paging.per_page)
    items = [CustomerOut.model_validate(row, from_attributes=True) for row in rows]
    return envelope("customer", items, paging.meta(total))


def in_use(segment_id: int, journey_ids: list[int]) -> str:
    return (
        f"Segment {segment_id} is used by journeys {', '.join(map(str, journey_ids))}; "
        "change their machine_config first."
    )


async def journeys_using(session: AsyncSession, place_id: int, segment_id: int) -> list[int]:
    """The place's journeys whose current config waits on the segment."""
    using = []
    for journey in await session.exec(select(Journey).where(Journey.place_id == place_id)):
        if journey.machine_config is None:
            continue
        config = parse_machine_config(journey.machine_config)
        if any(
            isinstance(state.step, WaitForConditionStep)
            and segment_id in (*state.step.include, *state.step.exclude)
            for state in config.states.values()
        ):
            assert journey.id is not None
            using.append(journey.id)
    return using
