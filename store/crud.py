"""The row operations every place-owned entity shares: get, page, create, update, delete."""

import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from journeys.errors import NotFound
from store.clock import now

Row = TypeVar("Row", bound=SQLModel)


async def get(
    session: AsyncSession, model: type[Row], place_id: int, row_id: int, *, lock: bool = False
) -> Row:
    """The row with `row_id` if it belongs to the place, else NotFound (never another's)."""
    table: Any = model
    query = select(model).where(table.id == row_id, table.place_id == place_id)
    if lock:
        query = query.with_for_update()
    row = (await session.exec(query)).first()
    if row is None:
        raise NotFound(f"{model.__name__} {row_id} was not found in place {place_id}.")
    return row


async def page(
    session: AsyncSession,
    model: type[Row],
    conditions: Iterable[Any],
    *,
    offset: int,
    limit: int,
    order_by: Sequence[Any] = (),
) -> tuple[list[Row], int]:
    """One page (ordered by id unless `order_by` says otherwise), and the total number of
    matching rows."""
    where = list(conditions)
    table: Any = model
    total = (await session.exec(select(func.count()).select_from(model).where(*where))).one()
    rows = await session.exec(
        select(model).where(*where).order_by(*(order_by or [table.id])).offset(offset).limit(limit)
    )
    return list(rows), total


async def create(session: AsyncSession, row: Row) -> Row:
    stamped: Any = row
    stamped.created = stamped.updated = now()
    session.add(row)
    await session.flush()
    return row


async def create_unique(
    session: AsyncSession, row: Row, existing: Callable[[], Awaitable[Row | None]]
) -> Row:
    """Create `row` unless a unique key says it exists: then the row that won (as `existing`
    finds it) is returned, so concurrent attempts at the same thing end with one row."""
    try:
        async with session.begin_nested():
            return await create(session, row)
    except IntegrityError:
        winner = await existing()
        if winner is None:
            raise
        return winner


async def insert_new(
    session: AsyncSession, model: type[SQLModel], rows: list[dict[str, Any]], key: str
) -> list[Any]:
    """Insert the rows whose unique key is not taken, in one statement; the `key` column of
    those inserted. A row taken meanwhile by another transaction is skipped (after waiting for
    it), not an error: concurrent attempts at one thing end with one row and no failure."""
    if not rows:
        return []
    table: Any = cast(Any, model).__table__
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(table).on_conflict_do_nothing().returning(table.c[key])
    # The rows as parameters, not in the statement: its compiled form is cached (compiling
    # an insert anew for each call cost the events path a millisecond a call), and
    # SQLAlchemy sends them as one multi-row INSERT all the same ("insertmanyvalues").
    return list((await session.exec(statement, params=rows)).scalars())


async def update(session: AsyncSession, row: SQLModel, changes: dict[str, Any]) -> set[str]:
    """Apply the changes that differ from the row; returns the names of those fields."""
    changed = {field for field, value in changes.items() if not same(getattr(row, field), value)}
    for field in changed:
        setattr(row, field, changes[field])
    if changed:
        stamped: Any = row
        stamped.updated = now()
        await session.flush()
    return changed


async def delete(session: AsyncSession, row: SQLModel) -> None:
    await session.delete(row)
    await session.flush()


def same(old: Any, new: Any) -> bool:
    # Documents compare as text: they are returned verbatim, so a re-ordered or re-typed
    # (1 vs 1.0) document is a change even where Python's == says otherwise.
    if isinstance(old, dict | list) or isinstance(new, dict | list):
        return json.dumps(old) == json.dumps(new)
    return bool(old == new)


async def by_ids(
    session: AsyncSession, model: type[Row], place_id: int, ids: Iterable[int]
) -> dict[int, Row]:
    """The place's rows of `model` among `ids`, by id (the others are missing)."""
    wanted = set(ids)
    if not wanted:
        return {}
    table: Any = model
    rows = await session.exec(select(model).where(table.place_id == place_id, table.id.in_(wanted)))
    return {cast(Any, row).id: row for row in rows}


async def existing_ids(
    session: AsyncSession,
    model: type[SQLModel],
    place_id: int,
    ids: Iterable[int],
    *,
    share: bool = False,
) -> set[int]:
    """Which of `ids` are rows of the place; with `share`, those rows can't be deleted until
    the transaction ends (PostgreSQL's FOR SHARE; SQLite has one writer anyway)."""
    wanted = set(ids)
    if not wanted:
        return set()
    table: Any = model
    query = select(table.id).where(table.place_id == place_id, table.id.in_(wanted))
    rows = await session.exec(query.with_for_update(read=True) if share else query)
    return set(rows)


async def lock_ids(session: AsyncSession, model: Any, place_id: int, ids: Sequence[int]) -> None:
    """Lock the place's rows of `model` with these ids, in id order (so two transactions
    over the same rows queue instead of deadlocking)."""
    table: Any = model
    await session.exec(
        select(table.id)
        .where(table.place_id == place_id, table.id.in_(ids))
        .order_by(table.id)
        .with_for_update()
    )
