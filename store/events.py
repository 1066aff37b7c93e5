"""Business events received: one row per event id and place, with the executions it started."""

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from store import crud
from store.clock import now
from store.tables import Event, Journey


async def concerned(
    session: AsyncSession, place_id: int, names: Iterable[str]
) -> tuple[dict[int, Journey], list[Journey]]:
    """What events of these names concern, in one query: the place's active journeys they
    trigger, by id; and the place's journeys they may exit or convert (their rules are
    matched by the caller)."""
    wanted = set(names)
    if not wanted:
        return {}, []
    query = select(Journey).where(
        Journey.place_id == place_id,
        or_(
            and_(col(Journey.trigger_event).in_(wanted), col(Journey.active).is_(True)),
            col(Journey.exit_rules).is_not(None),
            col(Journey.goal).is_not(None),
        ),
    )
    found = list(await session.exec(query))
    triggered = {
        journey.id: journey
        for journey in found
        if journey.id is not None and journey.active and journey.trigger_event in wanted
    }
    outcomes = [j for j in found if j.exit_rules is not None or j.goal is not None]
    return triggered, outcomes


async def journeys_by_id(session: AsyncSession, ids: Iterable[int]) -> dict[int, Journey]:
    wanted = set(ids)
    if not wanted:
        return {}
    query = select(Journey).where(col(Journey.id).in_(wanted))
    return {journey.id: journey for journey in await session.exec(query) if journey.id is not None}


async def record_new(
    session: AsyncSession, place_id: int, events: Sequence[dict[str, Any]]
) -> set[str]:
    """Store the events whose id the place has not seen (one statement); the ids stored. An
    id seen before, or being stored by a concurrent request, is left as it is."""
    stamp = now()
    # In key order, as every writer does: two batches never wait on each other's keys.
    rows = [
        {**event, "place_id": place_id, "created": stamp, "updated": stamp}
        for event in sorted(events, key=lambda event: str(event["event_id"]))
    ]
    return set(await crud.insert_new(session, Event, rows, "event_id"))


async def by_ids(session: AsyncSession, place_id: int, ids: Iterable[str]) -> dict[str, Event]:
    wanted = set(ids)
    if not wanted:
        return {}
    query = select(Event).where(Event.place_id == place_id, col(Event.event_id).in_(wanted))
    return {row.event_id: row for row in await session.exec(query)}


async def set_outcome(
    session: AsyncSession,
    place_id: int,
    event_id: str,
    executions: list[list[Any]],
    skipped: list[list[Any]],
) -> None:
    """Record which executions a new event started and which journeys kept its customer out."""
    await session.exec(
        update(Event)
        .where(col(Event.place_id) == place_id, col(Event.event_id) == event_id)
        .values(executions=executions, skipped=skipped)
    )


async def first_since(
    session: AsyncSession,
    place_id: int,
    customer_id: int,
    name: str,
    since: int,
    other_than: Sequence[str],
) -> Event | None:
    """The customer's first `name` event received at or after `since` (Unix milliseconds),
    but those with the ids `other_than`."""
    query = select(Event).where(
        Event.place_id == place_id,
        Event.customer_id == customer_id,
        Event.name == name,
        col(Event.received_ms) >= since,
    )
    if other_than:
        query = query.where(col(Event.event_id).not_in(list(other_than)))
    return (await session.exec(query.order_by(col(Event.received_ms)).limit(1))).first()
