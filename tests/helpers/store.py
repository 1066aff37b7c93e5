"""The store on its own: customers and segments written straight to the database, and the
SQL a block of code runs."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from store.db import session_factory
from store.tables import Customer, Segment, SegmentMember
from tests.helpers.api import OTHER_PLACE, PLACE


def sid(segment: Segment) -> int:
    assert segment.id is not None
    return segment.id


@dataclass
class Db:
    engine: AsyncEngine

    def session(self) -> AsyncSession:
        return session_factory(self.engine)()

    async def add(
        self, people: dict[int, dict[str, Any]], specs: list[dict[str, Any]]
    ) -> list[Segment]:
        """Insert the customers (also into another place, as decoys) and the segments."""
        async with self.session() as session:
            for place in (PLACE, OTHER_PLACE):
                session.add_all(
                    Customer(place_id=place, id=i, attributes=attrs) for i, attrs in people.items()
                )
            made = [
                Segment(
                    place_id=PLACE,
                    name=f"s{n}",
                    kind=spec["kind"],
                    match=spec.get("match"),
                    conditions=spec.get("conditions"),
                )
                for n, spec in enumerate(specs)
            ]
            session.add_all(made)
            await session.flush()
            for segment, spec in zip(made, specs, strict=True):
                session.add_all(
                    SegmentMember(segment_id=sid(segment), customer_id=i)
                    for i in spec.get("members", [])
                )
            await session.commit()
            return made

    async def clear(self) -> None:
        async with self.session() as session:
            for table in (SegmentMember, Segment, Customer):
                await session.exec(delete(table))  # type: ignore[call-overload]
            await session.commit()


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL statements the engine runs inside the block."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
