"""A place's settings for marketing sends: time zone, quiet hours, frequency caps."""

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from store import crud
from store.clock import now
from store.places import ensure_place
from store.tables import PlaceSettings


async def get(session: AsyncSession, place_id: int) -> PlaceSettings:
    """The place's settings; the defaults (UTC, no quiet hours, no caps) if never set."""
    found = await session.get(PlaceSettings, place_id)
    return found or PlaceSettings(place_id=place_id, timezone="UTC", frequency_caps={})


async def put(session: AsyncSession, place_id: int, changes: dict[str, Any]) -> PlaceSettings:
    """Apply `changes` to the place's settings, created on first use (locked meanwhile)."""
    await ensure_place(session, place_id)
    await crud.insert_new(
        session,
        PlaceSettings,
        [{"place_id": place_id, "timezone": "UTC", "frequency_caps": {}, "updated": now()}],
        "place_id",
    )
    found = await session.get(PlaceSettings, place_id, with_for_update=True, populate_existing=True)
    assert found is not None
    for field, value in changes.items():
        setattr(found, field, value)
    found.updated = now()
    await session.flush()
    return found
