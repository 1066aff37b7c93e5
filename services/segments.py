"""Targeting segments: rule segments (conditions over attributes) and static ones (a list
of customer ids); one a journey waits on can't be deleted."""

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, JsonValue
from sqlmodel.ext.asyncio.session import AsyncSession

from journeys.errors import Invalid, Issue
from journeys.schemas import Request
from services import usage
from store import crud
from store import segments as store
from store.tables import Customer, Segment
from workflows.model.machine import MAX_ID
from workflows.model.operators import SEGMENT_OPERATORS, check_condition

MAX_CONDITIONS = 100
MAX_STATIC = 100_000
Name = Annotated[str, Field(min_length=1, max_length=255)]
CustomerIds = Annotated[list[Annotated[int, Field(ge=1, le=MAX_ID)]], Field(max_length=MAX_STATIC)]
Conditions = Annotated[list[dict[str, JsonValue]], Field(max_length=MAX_CONDITIONS)]


async def unknown(
    session: AsyncSession, place_id: int, ids: Sequence[int], field: str, key: str = ""
) -> list[Issue]:
    """An issue at `field.i` (`field.i.key`) for each of `ids` that names no segment of the
    place."""
    found = await crud.existing_ids(session, Segment, place_id, ids)
    suffix = f".{key}" if key else ""
    return [
        Issue(f"{field}.{i}{suffix}", f"segment {segment} does not exist in this place")
        for i, segment in enumerate(ids)
        if segment not in found
    ]


class SegmentCreate(Request):
    """A rule segment (`match` + `conditions`) or a static one (`customer_ids`)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "VIP",
                    "match": "all",
                    "conditions": [
                        {"attribute": "classification", "operator": "eq", "value": "vip"}
                    ],
                },
                {"name": "Beta testers", "customer_ids": [7, 12, 31]},
            ]
        }
    )

    name: Name
    match: Literal["all", "any"] | None = None
    conditions: Conditions | None = None
    customer_ids: CustomerIds | None = None


class SegmentUpdate(SegmentCreate):
    name: Name | None = None  # type: ignore[assignment]


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


async def members(session: AsyncSession, segment: Segment) -> list[int] | None:
    """A static segment's customer ids (None for a rule segment)."""
    return await store.member_ids(session, segment) if segment.kind == "static" else None


async def page(
    session: AsyncSession, place_id: int, offset: int, limit: int
) -> tuple[list[Segment], int]:
    conditions = [Segment.place_id == place_id]
    return await crud.page(session, Segment, conditions, offset=offset, limit=limit)


async def get(session: AsyncSession, place_id: int, segment_id: int, lock: bool = False) -> Segment:
    return await crud.get(session, Segment, place_id, segment_id, lock=lock)


async def create(session: AsyncSession, place_id: int, body: SegmentCreate) -> Segment:
    kind = check_body(body)
    segment = Segment(place_id=place_id, name=body.name, kind=kind or "rule")
    if kind == "rule":
        segment.match = body.match or "all"
        segment.conditions = body.conditions
    await crud.create(session, segment)
    if kind == "static":
        await store.set_members(session, segment, body.customer_ids or [])
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
        await store.set_members(session, segment, body.customer_ids or [])
    await crud.update(session, segment, changes)
    return segment


async def update_by_id(
    session: AsyncSession, place_id: int, segment_id: int, body: SegmentUpdate
) -> Segment:
    return await update(session, await get(session, place_id, segment_id, lock=True), body)


async def delete(session: AsyncSession, place_id: int, segment_id: int) -> None:
    """Delete a segment no journey of the place uses (`Conflict` names the journeys)."""
    segment = await get(session, place_id, segment_id, lock=True)
    await usage.refuse_if_used(session, place_id, "segment", segment_id)
    await crud.delete(session, segment)


async def customers(
    session: AsyncSession, place_id: int, segment_id: int, offset: int, limit: int
) -> tuple[list[Customer], int]:
    """The segment's members by id, and how many there are."""
    segment = await get(session, place_id, segment_id)
    total = await store.count_members(session, segment)
    return await store.page_members(session, segment, offset, limit), total
