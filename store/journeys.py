"""Journey definitions: queries shared by the API and, later, the activities."""

import json
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from errors import NotFound
from store.clock import now
from store.tables import Journey


async def get(
    session: AsyncSession, place_id: int, journey_id: int, *, lock: bool = False
) -> Journey:
    query = select(Journey).where(Journey.id == journey_id, Journey.place_id == place_id)
    if lock:
        query = query.with_for_update()
    journey = (await session.exec(query)).first()
    if journey is None:
        raise NotFound(f"Journey {journey_id} was not found in place {place_id}.")
    return journey


async def page(
    session: AsyncSession,
    place_id: int,
    *,
    offset: int,
    limit: int,
    trigger_event: str | None = None,
    active: bool | None = None,
) -> tuple[list[Journey], int]:
    conditions: list[Any] = [Journey.place_id == place_id]
    if trigger_event is not None:
        conditions.append(Journey.trigger_event == trigger_event)
    if active is not None:
        conditions.append(Journey.active == active)
    total = (await session.exec(select(func.count()).select_from(Journey).where(*conditions))).one()
    rows = await session.exec(
        select(Journey).where(*conditions).order_by(col(Journey.id)).offset(offset).limit(limit)
    )
    return list(rows), total


async def create(session: AsyncSession, journey: Journey) -> Journey:
    journey.created = journey.updated = now()
    session.add(journey)
    await session.flush()
    return journey


async def update(session: AsyncSession, journey: Journey, changes: dict[str, Any]) -> Journey:
    """Apply field changes; a changed machine_config starts a new version."""
    changed = False
    for field, value in changes.items():
        if _same(getattr(journey, field), value):
            continue
        setattr(journey, field, value)
        changed = True
        if field == "machine_config":
            journey.version += 1
    if changed:
        journey.updated = now()
        await session.flush()
    return journey


async def delete(session: AsyncSession, journey: Journey) -> None:
    await session.delete(journey)
    await session.flush()


def _same(old: Any, new: Any) -> bool:
    # Documents compare as text: the config is returned verbatim, so a re-ordered or
    # re-typed (1 vs 1.0) document is a change even where Python's == says otherwise.
    if isinstance(old, dict | list) or isinstance(new, dict | list):
        return json.dumps(old) == json.dumps(new)
    return bool(old == new)
