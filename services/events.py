"""Business events: each new one recorded with its customer's profile, then the executions
of the place's active journeys with its trigger started; a repeated `event_id` starts the
same executions again (a no-op where they exist)."""

import asyncio
import re
import uuid
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, JsonValue, ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from journeys.errors import Invalid
from journeys.schemas import Request, at_most_bytes, issues_from
from journeys.settings import Settings
from orchestration import launcher, waking
from orchestration.temporal_client import reachable
from services import journey_outcomes
from services.customers import CustomerProfile, profile
from store import customers, entries
from store import events as store_events
from store.clock import now, now_ms
from store.db import SessionFactory, read_only
from store.entries import reentry
from store.tables import Event, Journey
from workflows.contracts import EventInfo
from workflows.model import MANUAL, TriggerEvent
from workflows.model.machine import MAX_ID

MAX_BATCH = 1000
# An event's data travels with each execution it starts (templates read it as `event.data`):
# well below Temporal's payload limit, and as much as Braze or Customer.io allow.
MAX_DATA_BYTES = 64 * 1024
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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "event": "account.created",
                    "customer_id": 7,
                    "event_id": "account-7-created",
                    "data": {"source": "app"},
                    "customer": {
                        "email": "ana@example.com",
                        "attributes": {"tier": "gold", "classification": "new"},
                    },
                }
            ]
        }
    )

    event: Annotated[TriggerEvent, AfterValidator(_not_manual)]
    customer_id: Annotated[int, Field(ge=1, le=MAX_ID)]
    event_id: Annotated[str | None, AfterValidator(_event_id)] = None
    occurred_at: Annotated[int | None, Field(ge=0, le=2**40)] = None
    data: Annotated[dict[str, JsonValue], at_most_bytes(MAX_DATA_BYTES)] = Field(
        default_factory=dict
    )
    customer: CustomerProfile | None = None


class EventBatch(Request):
    events: Annotated[list[EventIn], Field(min_length=1, max_length=MAX_BATCH)]


def _parse(body: dict[str, Any]) -> tuple[list[EventIn], bool]:
    """The events of a single or batch body, and whether it was a batch."""
    batch = "events" in body
    model: type[Request] = EventBatch if batch else EventIn
    try:
        parsed = model.model_validate(body)
    except ValidationError as error:
        raise Invalid(issues_from(error.errors())) from None
    return (parsed.events, True) if isinstance(parsed, EventBatch) else ([parsed], False)  # type: ignore[list-item]


async def _journeys(
    sessions: SessionFactory, place_id: int, events: list[EventIn]
) -> tuple[dict[int, Journey], list[Journey]]:
    """The active journeys the events trigger, and the journeys whose exit rules or goal
    they may meet; read before (and outside) the write."""
    async with sessions() as reading:
        await read_only(reading)
        return await store_events.concerned(reading, place_id, {e.event for e in events})


async def _record(
    session: AsyncSession, place_id: int, events: list[EventIn], journeys: dict[int, Journey]
) -> tuple[list[Event], list[int]]:
    """The stored event of each event id — created now with the executions it starts (the
    active journeys of the place with its trigger), or found (a repeat) — and the customers
    whose stored profile the events changed. Customers of new events are created or have
    their profiles upserted in the same transaction, which is kept short: each step is one
    statement for the whole batch. `journeys` gains those of repeats."""
    firsts = list({event.event_id: event for event in reversed(events)}.values())[::-1]
    received = now_ms()
    values: dict[str, dict[str, Any]] = {
        str(event.event_id): {
            "event_id": event.event_id,
            "name": event.event,
            "customer_id": event.customer_id,
            "data": event.data,
            "occurred_at": event.occurred_at,
            "received_ms": received,
            "executions": [
                [journey_id, launcher.event_execution_id(journey_id, str(event.event_id))]
                for journey_id in sorted(journeys)
                if journeys[journey_id].trigger_event == event.event
            ],
            "skipped": [],
        }
        for event in firsts
    }
    stored = await store_events.record_new(session, place_id, list(values.values()))
    await _admit(session, place_id, [values[event_id] for event_id in sorted(stored)], journeys)
    found = await store_events.by_ids(session, place_id, set(values) - stored)
    new = [event for event in firsts if str(event.event_id) in stored]
    paths = {id(event): index for index, event in enumerate(events)}
    # Every customer the new events name, created if missing in one statement (in id order,
    # so two batches never wait on each other's new rows); an event without a profile needs
    # nothing more (measurably cheaper on the hot path than an upsert of nothing).
    created = await customers.ensure(session, place_id, {e.customer_id for e in new})
    changed: list[int] = []
    described = [e for e in new if e.customer]
    if described:
        upserted = await customers.upsert_many(
            session,
            place_id,
            [(e.customer_id, profile(e.customer)) for e in described if e.customer],
            lambda index: _attributes_path(paths[id(described[index])], len(events) > 1),
            source="event",
        )
        # Only customers that existed and changed can have executions waiting on them.
        changed = [
            u.customer.id
            for u in upserted
            if u.changed and not u.created and u.customer.id not in created
        ]
    for event_id in stored:
        found[event_id] = Event(place_id=place_id, **values[event_id])
    rows = [found[str(event.event_id)] for event in events]
    # A repeat starts its executions again (a no-op where they exist), whatever its journeys
    # have become since, unless they were deleted (their executions went with them).
    missing = {j for row in rows for j, _ in row.executions} - set(journeys)
    journeys.update(await store_events.journeys_by_id(session, missing))
    return rows, changed


KEPT_OUT = {
    "never": "the customer entered this journey before (reentry: never)",
    "after_exit": "the customer has an execution of this journey running (reentry: after_exit)",
}


async def _admit(
    session: AsyncSession, place_id: int, new: list[dict[str, Any]], journeys: dict[int, Journey]
) -> None:
    """Let each new event's customer into the journeys it triggers whose entry rules allow it
    (`store.entries`, in the event's transaction); the others move from the event's
    executions to its `skipped`, which is stored with it. Entries are taken in (journey,
    customer) order, as a run's fan-out takes them, so two writers never wait on each other."""
    stamp = now()
    rules = {journey_id: reentry(journey.entry_rules) for journey_id, journey in journeys.items()}
    asked = sorted(
        (journey_id, values["customer_id"], str(values["event_id"]), execution_id)
        for values in new
        for journey_id, execution_id in values["executions"]
        if rules[journey_id] != "always"
    )
    refused: dict[str, list[tuple[int, str]]] = {}
    for journey_id, customer_id, event_id, execution_id in asked:
        rule = rules[journey_id]
        if not await entries.admit(
            session, place_id, journey_id, customer_id, execution_id, rule, stamp
        ):
            why = KEPT_OUT.get(str(rule)) or (
                f"the customer entered this journey less than {rule} s ago (reentry: after_seconds)"
            )
            refused.setdefault(event_id, []).append((journey_id, why))
    for values in new:
        kept_out = dict(refused.get(str(values["event_id"]), []))
        if kept_out:
            values["executions"] = [p for p in values["executions"] if p[0] not in kept_out]
            values["skipped"] = [[j, why] for j, why in sorted(kept_out.items())]
            await store_events.set_outcome(
                session, place_id, values["event_id"], values["executions"], values["skipped"]
            )


def _attributes_path(index: int, batch: bool) -> str:
    return f"events.{index}.customer.attributes" if batch else "customer.attributes"


async def _start(
    temporal: Client, settings: Settings, rows: list[Event], journeys: dict[int, Journey]
) -> None:
    """Start every recorded execution (again, for a repeat: a no-op if it exists)."""
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
            if journey_id in journeys
        )
    )


def _answer(row: Event) -> dict[str, Any]:
    executions = [execution_id for _, execution_id in row.executions]
    answer: dict[str, Any] = {
        "eventId": row.event_id,
        "triggered": len(executions),
        "executions": executions,
    }
    if row.skipped:
        answer["skipped"] = [
            {"journeyId": journey_id, "reason": reason} for journey_id, reason in row.skipped
        ]
    return answer


async def receive(
    sessions: SessionFactory,
    session: AsyncSession,
    gate: AbstractAsyncContextManager[Any],
    temporal: Client,
    settings: Settings,
    place_id: int,
    body: dict[str, Any],
) -> dict[str, Any]:
    """Record the events of a single or batch body and start their executions; the answer
    for each (`eventId`, `triggered`, `executions`), and for a batch their total. Commits
    before Temporal is asked: the customer must be visible to the executions' first
    activities, and no transaction stays open across the starts. The write waits its turn
    at `gate` (SQLite's single writer)."""
    events, batch = _parse(body)
    for event in events:
        event.event_id = event.event_id or uuid.uuid4().hex
    journeys, followed = await _journeys(sessions, place_id, events)
    async with gate:
        rows, changed = await _record(session, place_id, events, journeys)
        await session.commit()
    await _start(temporal, settings, rows, journeys)
    waking.notify_customers_changed(temporal, sessions, place_id, changed)
    try:
        await journey_outcomes.follow(temporal, sessions, followed, rows)
    finally:
        # Whatever became of the exits and goals: the waits are told in any case.
        async with reachable(journey_outcomes.TIMEOUT):
            await waking.events_received(temporal, sessions, rows)
    answers = [_answer(row) for row in rows]
    if not batch:
        return answers[0]
    return {"events": answers, "triggered": sum(answer["triggered"] for answer in answers)}
