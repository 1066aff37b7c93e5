"""Business events: `/places/{placeId}/events` starts executions of the matching journeys."""

import asyncio
import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, Field, JsonValue, ValidationError
from sqlmodel import col, select
from temporalio.client import Client

import launcher
from api.customers import CustomerProfile, profile
from api.deps import AppSettings, CurrentManager, Session, TemporalClient
from api.errors import issues_from
from api.wire import Request
from errors import Invalid
from settings import Settings
from store import crud, customers
from store.tables import Event, Journey
from workflows.contracts import EventInfo
from workflows.model import MANUAL, TriggerEvent
from workflows.model.machine import MAX_ID

MAX_BATCH = 1000
# Executions started at once per request; Temporal takes each start as one RPC.
START_CONCURRENCY = 32
_EVENT_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,200}$")


def _not_manual(value: str) -> str:
    if value == MANUAL:
        raise ValueError("manual is not an event: manual journeys run with /run")
    return value


def _event_id(value: str | None) -> str | None:
    if value is not None and not _EVENT_ID.match(value):
        raise ValueError("must be 1 to 200 letters, digits or . _ : @ -")
    return value


class EventIn(Request):
    event: Annotated[TriggerEvent, AfterValidator(_not_manual)]
    customer_id: Annotated[int, Field(ge=1, le=MAX_ID)]
    event_id: Annotated[str | None, AfterValidator(_event_id)] = None
    occurred_at: Annotated[int | None, Field(ge=0, le=2**40)] = None
    data: dict[str, JsonValue] = Field(default_factory=dict)
    customer: CustomerProfile | None = None


class EventBatch(Request):
    events: Annotated[list[EventIn], Field(min_length=1, max_length=MAX_BATCH)]


router = APIRouter(prefix="/places/{place_id}/events", tags=["events"])


def _parse(body: dict[str, Any]) -> tuple[list[EventIn], bool]:
    """The events of a single or batch body, and whether it was a batch."""
    batch = "events" in body
    model: type[Request] = EventBatch if batch else EventIn
    try:
        parsed = model.model_validate(body)
    except ValidationError as error:
        raise Invalid(issues_from(error.errors())) from None
    return (parsed.events, True) if isinstance(parsed, EventBatch) else ([parsed], False)  # type: ignore[list-item]


async def _record(session: Session, place_id: int, event: EventIn) -> Event:
    """The stored event for this event id: found (a repeat) or created with the executions
    it starts now — the active journeys of the place with this trigger."""
    assert event.event_id is not None
    query = select(Event).where(Event.place_id == place_id, Event.event_id == event.event_id)
    found = await _first(session, query)
    if found is not None:
        return found
    await customers.upsert(
        session, place_id, event.customer_id, profile(event.customer) if event.customer else {}
    )
    journeys = await session.exec(
        select(Journey.id)
        .where(
            Journey.place_id == place_id,
            Journey.trigger_event == event.event,
            col(Journey.active).is_(True),
        )
        .order_by(col(Journey.id))
    )
    row = Event(
        place_id=place_id,
        event_id=event.event_id,
        name=event.event,
        customer_id=event.customer_id,
        data=event.data,
        occurred_at=event.occurred_at,
        executions=[
            [journey_id, launcher.event_execution_id(journey_id, event.event_id)]
            for journey_id in journeys
            if journey_id is not None
        ],
    )
    # The same event arriving concurrently: the first one's row answers for both.
    return await crud.create_unique(session, row, lambda: _first(session, query))


async def _first(session: Session, query: Any) -> Event | None:
    found: Event | None = (await session.exec(query)).first()
    return found


async def _start(session: Session, temporal: Client, settings: Settings, rows: list[Event]) -> None:
    """Start every recorded execution (again, for a repeat: a no-op if it exists)."""
    wanted = {journey_id for row in rows for journey_id, _ in row.executions}
    journeys = {
        j.id: j for j in await session.exec(select(Journey).where(col(Journey.id).in_(wanted)))
    }
    gate = asyncio.Semaphore(START_CONCURRENCY)

    async def start(row: Event, journey: Journey, execution_id: str) -> None:
        info = EventInfo(name=row.name, id=row.event_id, data=row.data, occurred_at=row.occurred_at)
        request = launcher.execution_input(journey, row.customer_id, info, settings)
        async with gate:
            await launcher.start(temporal, settings, execution_id, request)

    await asyncio.gather(
        *(
            start(row, journeys[journey_id], execution_id)
            for row in rows
            for journey_id, execution_id in row.executions
            if journey_id in journeys  # deleted since: its executions went with it
        )
    )


def _answer(row: Event) -> dict[str, Any]:
    executions = [execution_id for _, execution_id in row.executions]
    return {"eventId": row.event_id, "triggered": len(executions), "executions": executions}


@router.post("", status_code=202)
async def receive_events(
    manager: CurrentManager,
    session: Session,
    temporal: TemporalClient,
    settings: AppSettings,
    body: Annotated[dict[str, JsonValue], Body()],
) -> JSONResponse:
    """Start an execution of every active journey of the place whose trigger is the event
    (one event, or `{"events": [...]}` of up to 1000). A repeated `event_id` starts nothing
    new and answers with the same executions; unknown customers are created, and a
    `customer` profile in the event is upserted first. Answers once the starts are durable
    (503 if Temporal can't be reached: send the event again)."""
    events, batch = _parse(body)
    for event in events:
        event.event_id = event.event_id or uuid.uuid4().hex
    rows = [await _record(session, manager.place_id, event) for event in events]
    # The customer must be visible to the executions' first activities.
    await session.commit()
    await _start(session, temporal, settings, rows)
    changed = [e.customer_id for e in events if e.customer is not None]
    await launcher.notify_customers_changed(temporal, manager.place_id, changed)
    answers = [_answer(row) for row in rows]
    if not batch:
        return JSONResponse(answers[0], status_code=202)
    total = sum(answer["triggered"] for answer in answers)
    return JSONResponse({"events": answers, "triggered": total}, status_code=202)
