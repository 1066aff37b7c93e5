"""Goal conversions: one row per execution whose customer reached the journey's goal in time."""

from collections import Counter
from collections.abc import Sequence

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store import crud
from store.clock import now
from store.tables import Conversion


async def record(
    session: AsyncSession,
    place_id: int,
    journey_id: int,
    customer_id: int,
    event_id: str,
    converted: list[tuple[str, list[str]]],
) -> None:
    """Count these executions (id, `JourneyPath` tokens) as converted, each once."""
    stamp = now()
    rows = [
        {
            "execution_id": execution_id,
            "place_id": place_id,
            "journey_id": journey_id,
            "customer_id": customer_id,
            "event_id": event_id,
            "path": path,
            "converted": stamp,
        }
        for execution_id, path in sorted(converted)
    ]
    await crud.insert_new(session, Conversion, rows, "execution_id")


async def total(session: AsyncSession, journey_id: int) -> int:
    """How many of the journey's executions converted."""
    query = select(func.count()).where(col(Conversion.journey_id) == journey_id)
    return (await session.exec(query)).one()


async def totals(session: AsyncSession, journey_ids: Sequence[int]) -> dict[int, int]:
    """How many of each journey's executions converted (those with none are left out)."""
    if not journey_ids:
        return {}
    query = (
        select(Conversion.journey_id, func.count())
        .where(col(Conversion.journey_id).in_(list(journey_ids)))
        .group_by(col(Conversion.journey_id))
    )
    return {journey_id: count for journey_id, count in await session.exec(query)}


async def counts(session: AsyncSession, journey_id: int) -> tuple[int, Counter[str]]:
    """The journey's conversions, and of them how many had entered each state and taken
    each split branch (by their `JourneyPath` tokens)."""
    converted = await total(session, journey_id)
    tokens: Counter[str] = Counter()
    if converted:
        paths = await session.exec(
            select(Conversion.path).where(col(Conversion.journey_id) == journey_id)
        )
        for path in paths:
            tokens.update(token for token in set(path) if token[:1] in ("e", "b"))
    return converted, tokens
