"""Targeting segments: `/places/{placeId}/segments`."""

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse, Response
from sqlmodel.ext.asyncio.session import AsyncSession

from api.contract import CONFLICT
from api.deps import CurrentManager, Pagination, Session
from api.wire import CustomerOut, envelope, envelope_models
from journeys.schemas import Resource
from services import segments as service
from services.segments import SegmentCreate, SegmentUpdate
from store.tables import Segment
from workflows.model.machine import MAX_ID

KIND = "targeting_segment"
SegmentId = Annotated[int, Path(ge=1, le=MAX_ID, description="The segment's id.")]


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
    members = await service.members(session, segment)
    return SegmentOut.model_validate(
        {**segment.model_dump(), "customer_ids": members}, from_attributes=False
    )


@router.get("", response_model=None, responses={200: {"model": SegmentPage}})
async def list_segments(
    manager: CurrentManager, session: Session, paging: Pagination
) -> JSONResponse:
    """List the place's segments, ordered by id (paginated)."""
    rows, total = await service.page(session, manager.place_id, paging.offset, paging.per_page)
    return envelope(KIND, [await _out(session, row) for row in rows], paging.meta(total))


@router.post("", response_model=None, responses={200: {"model": SegmentEnvelope}})
async def create_segment(
    manager: CurrentManager, session: Session, body: SegmentCreate
) -> JSONResponse:
    """Create a rule segment (conditions over attributes, `match` all or any) or a static
    segment (a list of customer ids)."""
    segment = await service.create(session, manager.place_id, body)
    return envelope(KIND, [await _out(session, segment)])


@router.get("/{segment_id}", response_model=None, responses={200: {"model": SegmentEnvelope}})
async def get_segment(
    manager: CurrentManager, session: Session, segment_id: SegmentId
) -> JSONResponse:
    """Get one segment."""
    segment = await service.get(session, manager.place_id, segment_id)
    return envelope(KIND, [await _out(session, segment)])


@router.put("/{segment_id}", response_model=None, responses={200: {"model": SegmentEnvelope}})
async def update_segment(
    manager: CurrentManager, session: Session, segment_id: SegmentId, body: SegmentUpdate
) -> JSONResponse:
    """Update a segment (only the fields given change; a rule segment stays a rule segment)."""
    segment = await service.update_by_id(session, manager.place_id, segment_id, body)
    return envelope(KIND, [await _out(session, segment)])


@router.delete("/{segment_id}", status_code=204, response_class=Response, responses=CONFLICT)
async def delete_segment(manager: CurrentManager, session: Session, segment_id: SegmentId) -> None:
    """Delete a segment that no journey of the place uses (409 names the journeys)."""
    await service.delete(session, manager.place_id, segment_id)


@router.get(
    "/{segment_id}/customers",
    response_model=None,
    responses={200: {"model": envelope_models("customer", CustomerOut)[1]}},
)
async def segment_customers(
    manager: CurrentManager, session: Session, segment_id: SegmentId, paging: Pagination
) -> JSONResponse:
    """The segment's members, ordered by id (paginated; `meta.total` counts them all)."""
    rows, total = await service.customers(
        session, manager.place_id, segment_id, paging.offset, paging.per_page
    )
    items = [CustomerOut.of(row) for row in rows]
    return envelope("customer", items, paging.meta(total))
