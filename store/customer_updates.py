"""The changes `update_customer` steps made: one row per visit of a step (its idempotency
key), written in the transaction that changes the customer."""

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from store import crud
from store.clock import now
from store.tables import CustomerUpdate


async def claim(session: AsyncSession, key: str, row: dict[str, Any]) -> bool:
    """Record the step's change under `key`, unless it is recorded already (by an earlier
    attempt, or by one under way: then after it commits); whether this attempt makes it."""
    first = {**row, "idempotency_key": key, "created": now()}
    return bool(await crud.insert_new(session, CustomerUpdate, [first], "idempotency_key"))


async def get(session: AsyncSession, key: str) -> CustomerUpdate | None:
    return await session.get(CustomerUpdate, key)
