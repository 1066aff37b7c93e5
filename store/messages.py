"""The message log: one row per idempotency key, from first attempt to final status."""

from typing import Any, cast

from sqlalchemy import and_, bindparam, literal, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.clock import now
from store.tables import Customer, Message, Place, Template

FINAL = ("sent", "skipped", "failed")

# Every send runs these: built once, with their values as parameters (building a statement
# anew on each call cost a send ~10 % of its CPU).
_TABLE: Any = cast(Any, Message).__table__
_COLUMNS = frozenset(_TABLE.c.keys())
_BY_KEY = select(Message).where(col(Message.idempotency_key) == bindparam("key"))
_BY_KEY_LOCKED = _BY_KEY.with_for_update()
_PLACE: Any = bindparam("place_id")
_CUSTOMER: Any = bindparam("customer_id")
_TEMPLATE: Any = bindparam("template_id")
_SOURCES = (
    select(Customer, Template, Place)
    .select_from(select(literal(1).label("one")).subquery())
    .outerjoin(Place, col(Place.id) == _PLACE)
    .outerjoin(Customer, and_(col(Customer.place_id) == _PLACE, col(Customer.id) == _CUSTOMER))
    .outerjoin(Template, and_(col(Template.place_id) == _PLACE, col(Template.id) == _TEMPLATE))
)
_INSERT = {
    dialect: insert(_TABLE).on_conflict_do_nothing().returning(_TABLE.c.id)
    for dialect, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
# The SET clause is the parameters' columns; the row is named by `message_id`.
_UPDATE = update(_TABLE).where(_TABLE.c.id == bindparam("message_id"))


async def by_key(session: AsyncSession, key: str, *, lock: bool = False) -> Message | None:
    """The message with this key; `lock` holds its row until the transaction ends, so two
    attempts at one send take turns."""
    query = _BY_KEY_LOCKED if lock else _BY_KEY
    return (await session.exec(query, params={"key": key})).first()


async def sources(
    session: AsyncSession, place_id: int, customer_id: int, template_id: int
) -> tuple[Customer | None, Template | None, Place | None]:
    """What a message is made from: its customer, its template (if it is the place's) and
    its place, each None if missing, read in one round trip (each send reads them)."""
    params = {"place_id": place_id, "customer_id": customer_id, "template_id": template_id}
    customer, template, place = (await session.exec(_SOURCES, params=params)).one()
    return customer, template, place


async def record(
    session: AsyncSession, key: str, current: Message | None, fields: dict[str, Any]
) -> int | None:
    """Create the row for `key`, or update `current`, the row `by_key` (locked) found for it;
    the row's id. One statement either way, no unit of work: each send writes here.

    None if `current` was None but another attempt has created the row meanwhile (its
    transaction was waited for): nothing is written, and the caller must read that row and
    judge it afresh (it may be final, or claimed under a lease)."""
    values = _columns({**fields, "idempotency_key": key})
    stamp = now()
    if current is None:
        row = Message(**values, created=stamp, updated=stamp)
        statement = _INSERT[session.get_bind().dialect.name]
        inserted = await session.exec(statement, params=row.model_dump(exclude={"id"}))
        message_id: int | None = inserted.scalar()
        return message_id
    assert current.id is not None
    await _update(session, current.id, {**values, "updated": stamp})
    return current.id


async def answer(session: AsyncSession, message_id: int, changes: dict[str, Any]) -> None:
    """Record a provider's answer on the message (one UPDATE: each send does this)."""
    await _update(session, message_id, {**_columns(changes), "updated": now()})


async def _update(session: AsyncSession, message_id: int, values: dict[str, Any]) -> None:
    done = await session.exec(_UPDATE, params={**values, "message_id": message_id})
    if done.rowcount != 1:
        raise LookupError(f"message {message_id} is gone")


def _columns(values: dict[str, Any]) -> dict[str, Any]:
    """`values`, refused if one names no column: a plain INSERT or UPDATE would drop it
    without a word, where the ORM raised."""
    unknown = sorted(values.keys() - _COLUMNS)
    if unknown:
        raise ValueError(f"not columns of messages: {', '.join(unknown)}")
    return values


async def counts_by_state(
    session: AsyncSession, place_id: int, journey_id: int
) -> dict[str, dict[str, int]]:
    """How many of the journey's messages each state logged, by final status (test sends,
    which reach no customer, are not the journey's)."""
    query = (
        select(Message.state, Message.status, func.count())
        .where(
            Message.place_id == place_id,
            Message.journey_id == journey_id,
            col(Message.status).in_(FINAL),
            col(Message.test).is_(False),
        )
        .group_by(col(Message.state), col(Message.status))
    )
    counts: dict[str, dict[str, int]] = {}
    for state, status, n in await session.exec(query):
        if state is not None:
            counts.setdefault(state, dict.fromkeys(FINAL, 0))[status] = n
    return counts


async def marketing_sent_since(
    session: AsyncSession, place_id: int, customer_id: int, channel: str, since: int
) -> int:
    """The customer's marketing messages on `channel` sent, or being sent, since `since`:
    what a frequency cap counts (a pending one will most likely be sent). A test rendered
    for the customer went to an operator, not to them."""
    query = select(func.count()).where(
        Message.place_id == place_id,
        Message.customer_id == customer_id,
        Message.channel == channel,
        Message.category == "marketing",
        col(Message.status).in_(("sent", "pending")),
        Message.created >= since,
        col(Message.test).is_(False),
    )
    return (await session.exec(query)).one()
