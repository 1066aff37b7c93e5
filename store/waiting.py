"""The registry of waiting executions (`WaitingExecution`): who waits for what — a segment
condition (`wait_for_condition`) or a customer's next event (`wait_for_event`).

An execution registers before it checks its condition and leaves once it holds, so a change
committed after the check always finds it here (`orchestration.waking` signals it). Finding
the waiting executions whose condition now holds is one set-based query per distinct
condition: the registry joined to the customers it names, filtered by the condition's
audience clause (the same SQL as segment counts, `store.segments`).
"""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import and_, delete, func, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store import segments
from store.clock import now, now_ms
from store.tables import Customer, WaitingExecution

SEGMENTS = "segments"
EVENT = "event"
W = WaitingExecution


@dataclass(frozen=True)
class SegmentCondition:
    """A `wait_for_condition`: in any `include` segment (if any) and in no `exclude` one."""

    include: tuple[int, ...]
    exclude: tuple[int, ...]

    @classmethod
    def of(cls, include: Sequence[int], exclude: Sequence[int]) -> "SegmentCondition":
        return cls(tuple(sorted(set(include))), tuple(sorted(set(exclude))))

    @classmethod
    def read(cls, definition: dict[str, Any]) -> "SegmentCondition":
        return cls.of(definition.get("include", []), definition.get("exclude", []))

    @property
    def definition(self) -> dict[str, list[int]]:
        return {"include": list(self.include), "exclude": list(self.exclude)}

    @property
    def key(self) -> str:
        """One spelling per condition, however its lists were ordered or repeated."""
        text = json.dumps(self.definition, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Waiting:
    place_id: int
    condition: SegmentCondition


async def register(
    session: AsyncSession,
    *,
    execution_id: str,
    place_id: int,
    journey_id: int | None,
    customer_id: int,
    state: str | None,
    condition: SegmentCondition,
) -> None:
    """The execution waits for `condition` (again): registered, or its entry refreshed as
    checked now and no longer woken."""
    stamp = now()
    row = {
        "execution_id": execution_id,
        "kind": SEGMENTS,
        "place_id": place_id,
        "journey_id": journey_id,
        "customer_id": customer_id,
        "state": state,
        "condition": condition.key,
        "definition": condition.definition,
        "registered": stamp,
        "checked": stamp,
        "woken": None,
    }
    await _upsert(session, row, keep=("registered",))


async def await_event(
    session: AsyncSession,
    *,
    execution_id: str,
    place_id: int,
    journey_id: int,
    customer_id: int,
    state: str,
    visit: str,
    event: str,
    until: int,
) -> int:
    """The execution waits for the customer's next `event` until `until` (a wait_for_event,
    at this visit of its state); when it registered (Unix milliseconds). A retried
    registration of the same visit keeps the first one's moment. Its `checked` is `until`:
    the stale sweep leaves it alone while it may still be waiting."""
    found = await session.get(W, (execution_id, EVENT))
    if found is not None and found.definition.get("visit") == visit:
        return int(found.definition["since"])
    stamp, moment = now(), now_ms()
    row = {
        "execution_id": execution_id,
        "kind": EVENT,
        "place_id": place_id,
        "journey_id": journey_id,
        "customer_id": customer_id,
        "state": state,
        "condition": event,
        "definition": {"event": event, "visit": visit, "since": moment},
        "registered": stamp,
        "checked": until,
        "woken": None,
    }
    await _upsert(session, row, keep=())
    return moment


async def event_waits(
    session: AsyncSession, place_id: int, received: set[tuple[int, str]]
) -> list[tuple[str, int, str]]:
    """The executions waiting for one of these (customer, event name) pairs: (execution id,
    customer, event), by execution id."""
    if not received:
        return []
    query = (
        select(W.execution_id, W.customer_id, W.condition)
        .where(
            W.kind == EVENT,
            W.place_id == place_id,
            col(W.condition).in_({name for _, name in received}),
            col(W.customer_id).in_({customer for customer, _ in received}),
        )
        .order_by(col(W.execution_id))
    )
    rows = await session.exec(query)
    return [row for row in rows if (row[1], row[2]) in received]


async def _upsert(session: AsyncSession, row: dict[str, Any], keep: tuple[str, ...]) -> None:
    """Insert the row, or update every column of the one there but those in `keep`."""
    table: Any = cast(Any, W).__table__
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(table).values(row)
    changes = {key: statement.excluded[key] for key in row if key not in keep}
    await session.exec(
        statement.on_conflict_do_update(index_elements=["execution_id", "kind"], set_=changes)
    )


async def forget(session: AsyncSession, execution_ids: Sequence[str]) -> None:
    """These executions no longer wait (their condition held, or they ended)."""
    if execution_ids:
        await session.exec(delete(W).where(col(W.execution_id).in_(list(execution_ids))))


async def forget_journey(session: AsyncSession, place_id: int, journey_id: int) -> None:
    """A deleted journey's executions wait for nothing any more."""
    query = delete(W).where(col(W.place_id) == place_id, col(W.journey_id) == journey_id)
    await session.exec(query)


async def conditions(
    session: AsyncSession,
    place_id: int | None = None,
    customer_ids: Sequence[int] | None = None,
) -> list[Waiting]:
    """The distinct conditions executions wait for (of these customers of the place, if
    given), each read from one of its entries: one query, however many executions wait."""
    groups = select(func.min(W.execution_id).label("example")).where(W.kind == SEGMENTS)
    if place_id is not None:
        groups = groups.where(W.place_id == place_id)
    if customer_ids is not None:
        groups = groups.where(col(W.customer_id).in_(list(customer_ids)))
    examples = groups.group_by(col(W.place_id), col(W.condition)).subquery()
    query = select(W.place_id, W.definition).join(
        examples, and_(col(W.execution_id) == examples.c.example, col(W.kind) == SEGMENTS)
    )
    return [
        Waiting(place, SegmentCondition.read(dict(definition)))
        for place, definition in await session.exec(query)
    ]


async def matching(
    session: AsyncSession,
    waiting: Waiting,
    *,
    woken_before: int,
    customer_ids: Sequence[int] | None = None,
    after: str = "",
    limit: int = 1_000,
) -> list[str]:
    """Up to `limit` executions (by id, above `after`) waiting for this condition whose
    customer now meets it and that weren't woken since `woken_before`."""
    condition = waiting.condition
    clause = await segments.surviving_audience_clause(
        session, waiting.place_id, condition.include, condition.exclude
    )
    if clause is None:
        return []
    query = (
        select(W.execution_id)
        .join(
            Customer,
            and_(col(Customer.place_id) == col(W.place_id), col(Customer.id) == col(W.customer_id)),
        )
        .where(
            W.kind == SEGMENTS,
            W.place_id == waiting.place_id,
            W.condition == condition.key,
            or_(col(W.woken).is_(None), col(W.woken) < woken_before),
            col(W.execution_id) > after,
            clause,
        )
    )
    if customer_ids is not None:
        query = query.where(col(W.customer_id).in_(list(customer_ids)))
    query = query.order_by(col(W.execution_id)).limit(limit)
    return list(await session.exec(query))


async def mark_woken(session: AsyncSession, execution_ids: Sequence[str], at: int | None) -> None:
    if execution_ids:
        await session.exec(
            update(W).where(col(W.execution_id).in_(list(execution_ids))).values(woken=at)
        )


async def stale(session: AsyncSession, checked_before: int, limit: int) -> list[str]:
    """Executions that haven't checked since `checked_before`, oldest first."""
    query = (
        select(W.execution_id)
        .where(col(W.checked) < checked_before)
        .order_by(col(W.checked))
        .limit(limit)
    )
    return list(dict.fromkeys(await session.exec(query)))


async def touch(session: AsyncSession, execution_ids: Sequence[str], at: int) -> None:
    """Verified as still waiting: not stale again for another while."""
    if execution_ids:
        await session.exec(
            update(W).where(col(W.execution_id).in_(list(execution_ids))).values(checked=at)
        )


async def of_execution(session: AsyncSession, execution_id: str) -> list[WaitingExecution]:
    return list(await session.exec(select(W).where(W.execution_id == execution_id)))


async def count(session: AsyncSession) -> int:
    return (await session.exec(select(func.count()).select_from(W))).one()
