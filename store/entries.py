"""Customers' entries into journeys with entry rules (`JourneyEntry`).

Each admission is one conditional upsert: it creates the customer's row, or takes it over
only while the rule allows, and says whether it did. Two at once for one customer can't both
get in: PostgreSQL makes the second wait on the row and re-checks its condition against the
first's result; SQLite has one writer. Admitting the same execution again (a retried fan-out)
is a yes."""

from typing import Any

from sqlalchemy import ColumnElement, and_, exists, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel.ext.asyncio.session import AsyncSession

from store.tables import Customer, JourneyEntry


def reentry(entry_rules: dict[str, Any] | None) -> str | int:
    """A journey's re-entry rule: `always`, `never`, `after_exit`, or seconds."""
    rule = (entry_rules or {}).get("reentry", "always")
    return int(rule["after_seconds"]) if isinstance(rule, dict) else str(rule)


async def admit(
    session: AsyncSession,
    place_id: int,
    journey_id: int,
    customer_id: int,
    execution_id: str,
    reentry: str | int,
    stamp: int,
) -> bool:
    """Whether the rule (`never`, `after_exit`, or seconds since the last entry) lets the
    customer in with this execution; if so, the entry is recorded."""
    table: Any = JourneyEntry.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(table).values(
        journey_id=journey_id,
        customer_id=customer_id,
        place_id=place_id,
        entries=1,
        entered=stamp,
        execution_id=execution_id,
    )
    same = table.c.execution_id == execution_id
    if reentry == "never":
        allowed: Any = same
    elif reentry == "after_exit":
        # Free, unless this very execution is the one that freed it (a retried fan-out
        # page admitting an execution that has already run and ended).
        released_by_other = or_(table.c.released.is_(None), table.c.released != execution_id)
        allowed = or_(same, and_(table.c.execution_id.is_(None), released_by_other))
    else:
        allowed = or_(same, table.c.entered <= stamp - int(reentry))
    upsert = statement.on_conflict_do_update(
        index_elements=[table.c.journey_id, table.c.customer_id],
        set_={
            "entries": table.c.entries + 1,
            "entered": stamp,
            "execution_id": execution_id,
        },
        where=allowed,
    ).returning(table.c.customer_id)
    return (await session.exec(upsert)).first() is not None


async def release(
    session: AsyncSession, journey_id: int, customer_id: int, execution_id: str
) -> None:
    """The execution has ended: an `after_exit` journey lets the customer in again (unless
    another execution has taken the entry since)."""
    table: Any = JourneyEntry.__table__  # type: ignore[attr-defined]
    await session.exec(
        update(table)
        .where(
            and_(
                table.c.journey_id == journey_id,
                table.c.customer_id == customer_id,
                table.c.execution_id == execution_id,
            )
        )
        .values(execution_id=None, released=execution_id)
    )


def kept_out(journey_id: int, reentry_rule: str | int, stamp: int) -> ColumnElement[bool]:
    """A condition on `Customer` rows: the rule keeps the customer out of the journey now
    (what a `/run` leaves out of its audience; the fan-out's `admit` still decides)."""
    table: Any = JourneyEntry.__table__  # type: ignore[attr-defined]
    mine = and_(table.c.journey_id == journey_id, table.c.customer_id == Customer.id)
    if reentry_rule == "after_exit":
        mine = and_(mine, table.c.execution_id.is_not(None))
    elif reentry_rule != "never":
        mine = and_(mine, table.c.entered > stamp - int(reentry_rule))
    return exists(select(table.c.customer_id).where(mine))
