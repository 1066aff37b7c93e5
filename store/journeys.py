"""Journey definitions: queries shared by the API and the activities."""

from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store import crud
from store.clock import now
from store.tables import Journey, JourneyVersion


async def get(
    session: AsyncSession, place_id: int, journey_id: int, *, lock: bool = False
) -> Journey:
    return await crud.get(session, Journey, place_id, journey_id, lock=lock)


async def of_place(session: AsyncSession, place_id: int) -> list[Journey]:
    """Every journey of the place."""
    return list(await session.exec(select(Journey).where(Journey.place_id == place_id)))


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
    return await crud.page(session, Journey, conditions, offset=offset, limit=limit)


async def update(
    session: AsyncSession, journey: Journey, changes: dict[str, Any], user_id: int | None = None
) -> Journey:
    """Apply field changes; a changed machine_config starts a new version (kept in the
    history, with who saved it)."""
    config = changes.get("machine_config", journey.machine_config)
    bumped = not crud.same(journey.machine_config, config)
    if bumped:
        changes = {**changes, "version": journey.version + 1}
    await crud.update(session, journey, changes)
    if bumped:
        await record_version(session, journey, user_id)
    return journey


async def record_version(session: AsyncSession, journey: Journey, user_id: int | None) -> None:
    """Keep the journey's current version in its history."""
    assert journey.id is not None
    row = {
        "journey_id": journey.id,
        "version": journey.version,
        "place_id": journey.place_id,
        "user_id": user_id,
        "machine_config": journey.machine_config,
        "created": now(),
    }
    await crud.insert_new(session, JourneyVersion, [row], "version")


async def versions(session: AsyncSession, journey_id: int, limit: int) -> list[JourneyVersion]:
    """The journey's newest kept versions, newest first."""
    query = (
        select(JourneyVersion)
        .where(JourneyVersion.journey_id == journey_id)
        .order_by(col(JourneyVersion.version).desc())
        .limit(limit)
    )
    return list(await session.exec(query))
