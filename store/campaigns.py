"""Campaigns and the private clones journeys make of them."""

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from store import crud
from store.tables import Campaign


async def clone_for_customer(
    session: AsyncSession,
    place_id: int,
    source_id: int,
    customer_id: int,
    *,
    journey_id: int | None,
    execution_id: str | None,
    idempotency_key: str,
) -> Campaign:
    """A private copy of campaign `source_id` for one customer; the same key returns the
    same clone, however often it is asked for."""
    existing = await _by_key(session, idempotency_key)
    if existing is not None:
        return existing
    source = await crud.get(session, Campaign, place_id, source_id)
    clone = Campaign(
        place_id=place_id,
        name=source.name,
        visibility="private",
        data=dict(source.data),
        customer_id=customer_id,
        source_campaign_id=source_id,
        journey_id=journey_id,
        execution_id=execution_id,
        idempotency_key=idempotency_key,
    )
    return await crud.create_unique(session, clone, lambda: _by_key(session, idempotency_key))


async def _by_key(session: AsyncSession, key: str) -> Campaign | None:
    return (await session.exec(select(Campaign).where(Campaign.idempotency_key == key))).first()
