"""Journey definitions: queries shared by the API and the activities."""

from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from store import crud
from store.tables import Journey


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


async def update(session: AsyncSession, journey: Journey, changes: dict[str, Any]) -> Journey:
    """Apply field changes; a changed machine_config starts a new version."""
    config = changes.get("machine_config", journey.machine_config)
    if not crud.same(journey.machine_config, config):
        changes = {**changes, "version": journey.version + 1}
    await crud.update(session, journey, changes)
    return journey
