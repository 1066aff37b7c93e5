"""Workflow starts a committed change still owes Temporal: written in the change's
transaction, removed once Temporal has them (see `orchestration.handoff`)."""

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.clock import now
from store.tables import OwedStart


async def owe(
    session: AsyncSession, kind: str, workflow_id: str, payload: dict[str, Any]
) -> OwedStart:
    """Record the start in the session's transaction (it commits with the change)."""
    owed = OwedStart(workflow_id=workflow_id, kind=kind, payload=payload, created=now())
    owed = await session.merge(owed)
    await session.flush()
    return owed


async def find(session: AsyncSession, workflow_id: str) -> OwedStart | None:
    return await session.get(OwedStart, workflow_id)


async def overdue(session: AsyncSession, older_than: int, limit: int) -> list[OwedStart]:
    """Starts owed since before `older_than` (Unix seconds), oldest first."""
    query = (
        select(OwedStart)
        .where(col(OwedStart.created) < older_than)
        .order_by(col(OwedStart.created), col(OwedStart.workflow_id))
        .limit(limit)
    )
    return list(await session.exec(query))


async def settle(session: AsyncSession, workflow_ids: Iterable[str]) -> None:
    """The starts are with Temporal now."""
    ids = list(workflow_ids)
    if ids:
        await session.exec(delete(OwedStart).where(col(OwedStart.workflow_id).in_(ids)))
