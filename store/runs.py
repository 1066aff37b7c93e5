"""Manual runs of a journey: the audience snapshot taken at the call, and the fan-out's
progress through it.

The audience is copied into `journey_run_members` by one INSERT … SELECT in the call's
transaction, so the run targets exactly the customers it counted, whatever changes after, and
the fan-out pages through it by keyset without holding it in memory.
"""

import uuid
from collections.abc import Sequence

from sqlalchemy import and_, delete, func, insert, literal, not_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from journeys.errors import NotFound
from store import crud, entries
from store.clock import now
from store.segments import audience_clause
from store.tables import Customer, Journey, ManualRun, ManualRunMember


def new_run_id() -> str:
    return uuid.uuid4().hex


async def create(
    session: AsyncSession,
    journey: Journey,
    include_ids: Sequence[int],
    exclude_ids: Sequence[int],
    idempotency_key: str | None,
) -> tuple[ManualRun, bool]:
    """Record a run and its audience: the place's customers in any `include` segment (all
    if none) and in no `exclude` segment, as they are now. With an idempotency key that an
    earlier run of the journey was given, that run is returned instead (and False)."""
    assert journey.id is not None
    run = ManualRun(
        id=new_run_id(),
        place_id=journey.place_id,
        journey_id=journey.id,
        journey_version=journey.version,
        include_segment_ids=list(include_ids),
        exclude_segment_ids=list(exclude_ids),
        idempotency_key=idempotency_key,
    )
    if idempotency_key is None:
        await crud.create(session, run)
    else:
        key = idempotency_key
        winner = await crud.create_unique(
            session, run, lambda: by_idempotency_key(session, run.journey_id, key)
        )
        if winner is not run:
            return winner, False
    clause = await audience_clause(session, journey.place_id, include_ids, exclude_ids)
    rule = entries.reentry(journey.entry_rules)
    if rule != "always":
        # Those the journey's entry rules keep out now are counted, not targeted.
        kept = entries.kept_out(journey.id, rule, now())
        run.skipped = (await session.exec(select(func.count()).where(clause, kept))).one()
        clause = and_(clause, not_(kept))
    audience = select(literal(run.id), col(Customer.id)).where(clause)
    copied = await session.exec(
        insert(ManualRunMember).from_select(["run_id", "customer_id"], audience)
    )
    run.targeted = copied.rowcount
    await session.flush()
    return run, True


async def by_idempotency_key(
    session: AsyncSession, journey_id: int, idempotency_key: str
) -> ManualRun | None:
    query = select(ManualRun).where(
        ManualRun.journey_id == journey_id, ManualRun.idempotency_key == idempotency_key
    )
    return (await session.exec(query)).first()


async def get(session: AsyncSession, place_id: int, journey_id: int, run_id: str) -> ManualRun:
    query = select(ManualRun).where(
        ManualRun.id == run_id,
        ManualRun.place_id == place_id,
        ManualRun.journey_id == journey_id,
    )
    run = (await session.exec(query)).first()
    if run is None:
        raise NotFound(f"Run {run_id} was not found in journey {journey_id}.")
    return run


async def page(
    session: AsyncSession, place_id: int, journey_id: int, *, offset: int, limit: int
) -> tuple[list[ManualRun], int]:
    """The journey's runs, newest first."""
    return await crud.page(
        session,
        ManualRun,
        [ManualRun.place_id == place_id, ManualRun.journey_id == journey_id],
        offset=offset,
        limit=limit,
        order_by=[col(ManualRun.created).desc(), col(ManualRun.id)],
    )


async def is_recorded(session: AsyncSession, run_id: str) -> bool:
    query = select(ManualRun.id).where(ManualRun.id == run_id)
    return (await session.exec(query)).first() is not None


async def members_after(
    session: AsyncSession, run_id: str, after_customer_id: int, limit: int
) -> list[int]:
    """The next `limit` targeted customer ids above `after_customer_id`, in id order."""
    query = (
        select(ManualRunMember.customer_id)
        .where(
            ManualRunMember.run_id == run_id,
            col(ManualRunMember.customer_id) > after_customer_id,
        )
        .order_by(col(ManualRunMember.customer_id))
        .limit(limit)
    )
    return list(await session.exec(query))


async def record_progress(session: AsyncSession, run_id: str, started: int) -> None:
    """`started` executions are started; the count only moves forward (a retried page
    reports a figure already passed)."""
    await session.exec(
        update(ManualRun)
        .where(col(ManualRun.id) == run_id, col(ManualRun.started) < started)
        .values(started=started, updated=now())
    )


async def forget(session: AsyncSession, journey_id: int) -> None:
    """Drop the snapshots of the journey's runs (the runs themselves go with the journey)."""
    runs_of_journey = select(ManualRun.id).where(ManualRun.journey_id == journey_id)
    await session.exec(
        delete(ManualRunMember).where(col(ManualRunMember.run_id).in_(runs_of_journey))
    )


async def complete(session: AsyncSession, run_id: str, started: int) -> None:
    """Every execution is started: the run is done and its snapshot is no longer needed."""
    await record_progress(session, run_id, started)
    stamp = now()
    await session.exec(
        update(ManualRun)
        .where(col(ManualRun.id) == run_id, col(ManualRun.status) != "completed")
        .values(status="completed", finished=stamp, updated=stamp)
    )
    await session.exec(delete(ManualRunMember).where(col(ManualRunMember.run_id) == run_id))


async def add_skipped(session: AsyncSession, run_id: str, count: int) -> None:
    """Count targeted customers the journey's entry rules kept out."""
    await session.exec(
        update(ManualRun)
        .where(col(ManualRun.id) == run_id)
        .values(skipped=col(ManualRun.skipped) + count)
    )
