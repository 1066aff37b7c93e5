"""Time counting a segment's members in a 100 000-customer place (run by hand).

    python -m bench.segment_count [--customers N] [--runs R] [--postgres URL | --no-postgres]

Builds a scratch SQLite file and, when reachable, a scratch PostgreSQL database (dropped at the
end), inserts the customers into place 42, and prints for each segment the median time of
`store.segments.count_members`, the statements it ran (one) and the query plan. On PostgreSQL it
then adds a GIN index on `customers.attributes` and times again, to show what the index buys.
"""

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event, func, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from store import places, segments
from store.db import create_engine, session_factory
from store.migrate import upgrade_async
from store.tables import Customer, Segment, SegmentMember

PLACE = 42
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
BATCH = 5_000

RULES: list[tuple[str, str, list[dict[str, Any]]]] = [
    (
        "gold with 5000+ points",
        "all",
        [
            {"attribute": "tier", "operator": "eq", "value": "gold"},
            {"attribute": "points", "operator": "gte", "value": 5000},
        ],
    ),
    (
        "retail/wholesale, or in Zürich, or prefers email",
        "any",
        [
            {"attribute": "account.classification", "operator": "in", "value": ["retail", "b2b"]},
            {"attribute": "city", "operator": "eq", "value": "Zürich"},
            # A non-ASCII key: SQLite reaches it through json_each, the slow path.
            {"attribute": "präferenz.kanal", "operator": "eq", "value": "email"},
        ],
    ),
    (
        "has a name after M, not bronze",
        "all",
        [
            {"attribute": "name", "operator": "gt", "value": "M"},
            {"attribute": "tier", "operator": "ne", "value": "bronze"},
            {"attribute": "account.since", "operator": "exists"},
        ],
    ),
]
STATIC_MEMBERS = 10_000


def attributes(rng: random.Random) -> dict[str, Any]:
    document: dict[str, Any] = {
        "tier": rng.choice(["gold", "silver", "bronze"]),
        "points": rng.randint(0, 10_000),
        "name": rng.choice(["Ana", "Bruno", "Chloé", "Dmitri", "Eun-ji", "Małgorzata", "Zoë"]),
        "city": rng.choice(["Zürich", "São Paulo", "Lisboa", "Kraków", "Oslo"]),
        "vip": rng.random() < 0.1,
        "tags": rng.sample(["new", "churn-risk", "app", "web", "store"], k=2),
        "account": {"classification": rng.choice(["retail", "b2b", "staff", "partner"])},
    }
    if rng.random() < 0.7:
        document["account"]["since"] = rng.randint(2005, 2025)
    if rng.random() < 0.5:
        document["präferenz"] = {"kanal": rng.choice(["email", "sms", "push"])}
    return document


async def populate(engine: AsyncEngine, count: int) -> list[Segment]:
    rng = random.Random(42)
    sessions = session_factory(engine)
    async with sessions() as session:
        await places.ensure_place(session, PLACE, "Bench")
        await session.commit()
    started = time.perf_counter()
    table = Customer.__table__  # type: ignore[attr-defined]
    for first in range(1, count + 1, BATCH):
        rows = [
            {"place_id": PLACE, "id": i, "push_tokens": [], "attributes": attributes(rng)}
            for i in range(first, min(first + BATCH, count + 1))
        ]
        rows = [{**row, "created": 0, "updated": 0} for row in rows]
        async with engine.begin() as connection:
            await connection.execute(insert(table), rows)
    print(f"  inserted {count} customers in {time.perf_counter() - started:.1f} s")

    async with sessions() as session:
        made = [
            Segment(place_id=PLACE, name=name, kind="rule", match=match, conditions=conditions)
            for name, match, conditions in RULES
        ]
        made.append(Segment(place_id=PLACE, name=f"{STATIC_MEMBERS} listed ids", kind="static"))
        session.add_all(made)
        await session.flush()
        listed = rng.sample(range(1, count + 1), min(STATIC_MEMBERS, count))
        static = ids(made)[-1]
        session.add_all(SegmentMember(segment_id=static, customer_id=i) for i in listed)
        await session.commit()
    async with engine.begin() as connection:
        await connection.execute(text("ANALYZE"))
    return made


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def time_counts(engine: AsyncEngine, made: list[Segment], runs: int, plans: bool) -> None:
    async with session_factory(engine)() as session:
        for segment in made:
            with statements(engine) as seen:
                members = await segments.count_members(session, segment)
            median = await median_ms(runs, partial(segments.count_members, session, segment))
            row = f"{segment.name:<50} {members:>7} members  median {median:7.1f} ms"
            print(f"  {row}  ({len(seen)} query)")
            if plans:
                await explain(session, engine, segment)

        include, exclude = ids(made)[:2], ids(made)[-1:]
        with statements(engine) as seen:
            audience = await segments.count_audience(session, PLACE, include, exclude)
        median = await median_ms(
            runs, lambda: segments.count_audience(session, PLACE, include, exclude)
        )
        row = f"{'audience: rules 1 or 2, minus the static one':<50} {audience:>7} members"
        print(f"  {row}  median {median:7.1f} ms  ({len(seen)} queries: load segments, count)")
        with statements(engine) as seen:
            await segments.customer_matches(session, PLACE, 777, include, exclude)
        median = await median_ms(
            runs, lambda: segments.customer_matches(session, PLACE, 777, include, exclude)
        )
        row = f"{'customer 777 in that audience?':<50} {'':>7}        "
        print(f"  {row}  median {median:7.1f} ms  ({len(seen)} queries: load segments, check)")


def ids(made: list[Segment]) -> list[int]:
    return [segment.id for segment in made if segment.id is not None]


async def median_ms(runs: int, call: Callable[[], Awaitable[Any]]) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


async def explain(session: AsyncSession, engine: AsyncEngine, segment: Segment) -> None:
    """Print count_members' SQL and the database's plan for it."""
    query = select(func.count()).select_from(Customer)
    query = query.where(segments.membership_clause(segment, engine.dialect.name))
    print("    SQL: " + " ".join(str(query.compile(dialect=engine.dialect)).split()))
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "

    # Prefixed at the cursor, so the driver gets the very statement and parameters the
    # store sends (JSONB documents serialised, IN lists expanded).
    def prepend(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> Any:
        if statement.lstrip().upper().startswith("SELECT"):
            statement = prefix + statement
        return statement, parameters

    # The caller's session, already in a transaction: BEGIN must not be prefixed, and on SQLite
    # a second session would wait for the first one's lock (store.db begins IMMEDIATE).
    event.listen(engine.sync_engine, "before_cursor_execute", prepend, retval=True)
    try:
        connection = await session.connection()
        rows = (await connection.execute(query)).all()
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", prepend)
    for row in rows:
        print(f"    plan: {row[-1]}")


async def bench_sqlite(count: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
        print(f"SQLite {url}")
        await upgrade_async(url)
        engine = create_engine(url)
        try:
            made = await populate(engine, count)
            await time_counts(engine, made, runs, plans=True)
        finally:
            await engine.dispose()


async def bench_postgres(admin_url: str, count: int, runs: int) -> None:
    dsn = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        admin = await asyncpg.connect(dsn, timeout=5)
    except (OSError, asyncpg.PostgresError) as error:
        print(f"PostgreSQL not reachable at {admin_url}: {error}")
        return
    name = f"journeys_bench_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    print(f"PostgreSQL database {name}")
    try:
        await upgrade_async(url)
        engine = create_engine(url)
        try:
            made = await populate(engine, count)
            await time_counts(engine, made, runs, plans=True)
            print("  with CREATE INDEX ... USING gin (attributes jsonb_path_ops):")
            async with engine.begin() as connection:
                await connection.execute(
                    text(
                        "CREATE INDEX ix_customers_attributes ON customers "
                        "USING gin (attributes jsonb_path_ops)"
                    )
                )
                await connection.execute(text("ANALYZE customers"))
            await time_counts(engine, made, runs, plans=True)
        finally:
            await engine.dispose()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="an admin database URL")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    await bench_sqlite(args.customers, args.runs)
    if not args.no_postgres:
        await bench_postgres(args.postgres, args.customers, args.runs)


if __name__ == "__main__":
    asyncio.run(main())
