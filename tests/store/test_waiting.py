"""The registry of waiting executions, on SQLite and PostgreSQL: registering is idempotent,
and one query per distinct condition finds exactly the waiting executions whose customer
now meets it."""

from collections.abc import AsyncIterator

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from store import waiting
from store.tables import Customer, Segment, SegmentMember
from store.waiting import SegmentCondition, Waiting
from tests.helpers.api import OTHER_PLACE, PLACE
from tests.helpers.store import Db, sid, statements

GOLD = [{"attribute": "tier", "operator": "eq", "value": "gold"}]


@pytest.fixture
async def sessions(db: Db) -> AsyncIterator[AsyncSession]:
    async with db.session() as session:
        yield session


async def segment(session: AsyncSession, place: int = PLACE, **fields) -> int:
    row = Segment(place_id=place, name="s", **fields)
    session.add(row)
    await session.flush()
    return sid(row)


async def register(session: AsyncSession, execution_id: str, customer_id: int, cond, **kw):
    await waiting.register(
        session,
        execution_id=execution_id,
        place_id=kw.get("place", PLACE),
        journey_id=kw.get("journey_id", 1),
        customer_id=customer_id,
        state="wait",
        condition=cond,
    )


async def now_matching(session: AsyncSession, cond, **kw) -> list[str]:
    await session.commit()
    return await waiting.matching(
        session, Waiting(kw.pop("place", PLACE), cond), woken_before=kw.pop("before", 10**12), **kw
    )


def test_a_condition_has_one_key_however_its_lists_are_spelled():
    assert SegmentCondition.of([3, 1, 3], [9]).key == SegmentCondition.of([1, 3], [9]).key
    assert SegmentCondition.of([1], [9]).key != SegmentCondition.of([9], [1]).key
    assert len(SegmentCondition.of(list(range(5000)), []).key) == 64


async def test_registering_again_refreshes_the_one_entry(sessions: AsyncSession):
    session = sessions
    gold = await segment(session, kind="rule", match="all", conditions=GOLD)
    cond = SegmentCondition.of([gold], [])
    await register(session, "e1", 1, cond)
    await session.commit()
    await waiting.mark_woken(session, ["e1"], 5)
    await register(session, "e1", 1, cond)
    await session.commit()
    (row,) = await waiting.of_execution(session, "e1")
    assert (row.customer_id, row.state, row.woken, row.definition) == (
        1,
        "wait",
        None,
        {"include": [gold], "exclude": []},
    )
    await waiting.forget(session, ["e1"])
    await waiting.forget(session, ["e1"])  # leaving twice is harmless
    await session.commit()
    assert await waiting.count(session) == 0


async def test_matching_finds_the_waiters_whose_customer_now_meets_the_condition(
    sessions: AsyncSession,
):
    session = sessions
    for place in (PLACE, OTHER_PLACE):
        session.add_all(
            [
                Customer(place_id=place, id=1, attributes={"tier": "gold"}),
                Customer(place_id=place, id=2, attributes={"tier": "silver"}),
                Customer(place_id=place, id=3, attributes={"tier": "gold"}),
            ]
        )
    gold = await segment(session, kind="rule", match="all", conditions=GOLD)
    banned = await segment(session, kind="static")
    session.add(SegmentMember(segment_id=banned, customer_id=3))
    cond = SegmentCondition.of([gold], [banned])
    for number in (1, 2, 3, 4):  # 4 is no customer at all
        await register(session, f"e{number}", number, cond)
    await register(session, "other-place", 1, cond, place=OTHER_PLACE)
    assert await now_matching(session, cond) == ["e1"]
    assert await now_matching(session, cond, customer_ids=[2, 3]) == []
    assert await now_matching(session, cond, after="e1") == []
    # Woken lately: left alone until the rewake time has passed.
    await waiting.mark_woken(session, ["e1"], 100)
    assert await now_matching(session, cond, before=100) == []
    assert await now_matching(session, cond, before=101) == ["e1"]


async def test_a_deleted_segment_has_no_members(sessions: AsyncSession):
    session = sessions
    session.add(Customer(place_id=PLACE, id=1, attributes={"tier": "gold"}))
    gold = await segment(session, kind="rule", match="all", conditions=GOLD)
    gone = gold + 1000
    await register(session, "excluded-gone", 1, SegmentCondition.of([gold], [gone]))
    await register(session, "included-gone", 1, SegmentCondition.of([gone], []))
    assert await now_matching(session, SegmentCondition.of([gold], [gone])) == ["excluded-gone"]
    assert await now_matching(session, SegmentCondition.of([gone], [])) == []


async def test_conditions_are_distinct_and_found_in_one_query(sessions: AsyncSession, db: Db):
    session = sessions
    gold = await segment(session, kind="rule", match="all", conditions=GOLD)
    for number in range(50):
        cond = SegmentCondition.of([gold], [] if number % 2 else [gold + 1])
        await register(session, f"e{number}", number, cond)
    await register(session, "other", 7, SegmentCondition.of([gold], []), place=OTHER_PLACE)
    await session.commit()
    with statements(db.engine) as seen:
        found = await waiting.conditions(session)
    assert len([statement for statement in seen if statement.startswith("SELECT")]) == 1
    assert sorted((w.place_id, w.condition.exclude) for w in found) == [
        (PLACE, ()),
        (PLACE, (gold + 1,)),
        (OTHER_PLACE, ()),
    ]
    mine = await waiting.conditions(session, PLACE, [1, 3])
    assert [(w.place_id, w.condition.exclude) for w in mine] == [(PLACE, ())]


async def test_stale_entries_and_a_deleted_journeys_entries(sessions: AsyncSession):
    session = sessions
    cond = SegmentCondition.of([1], [])
    await register(session, "old", 1, cond, journey_id=5)
    await register(session, "new", 2, cond, journey_id=6)
    await session.commit()
    await waiting.touch(session, ["old"], 10)
    assert await waiting.stale(session, 11, 10) == ["old"]
    await waiting.forget_journey(session, PLACE, 5)
    await session.commit()
    assert await waiting.stale(session, 11, 10) == []
    assert [row.execution_id for row in await waiting.of_execution(session, "new")] == ["new"]
