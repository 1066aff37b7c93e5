"""Waiting that costs nothing: a `wait_for_condition` registers as waiting, is signalled only
when its condition may hold (a change through the API at once, any other change by the
central re-check within a poll interval) and leaves the registry however it ends. On a real
Temporal dev server, through the API, with the registry read behind the API's back."""

import asyncio
import time

import pytest
from sqlalchemy import update
from sqlmodel import col
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle

from orchestration import launcher, waking
from store import waiting
from store.clock import now
from store.tables import Customer, WaitingExecution
from store.waiting import SegmentCondition
from tests.fixtures.database import one_backend
from tests.fixtures.engine import Engine, engine_settings, running_engine
from tests.helpers.api import PLACE, import_customers
from tests.helpers.journeys import (
    WAIT_FOR_GOLD,
    execution_steps,
    executions_of,
    finished_run,
    manual_journey,
    send_event,
    started_journey,
    visible,
)
from tests.workflows.replay import keep
from workflows.contracts import Progress

pytestmark = [pytest.mark.e2e, one_backend]

BASE = f"/places/{PLACE}/journeys"
GOLD = {"account": {"tier": "gold", "classification": "active"}}
SILVER = {"account": {"tier": "silver"}}
# Waits for segment 12 (tier gold), then ends: no message to send.
WAIT_ONLY = {
    "initial": "wait_gold",
    "states": {
        "wait_gold": {
            "meta": {"type": "wait_for_condition", "include": [12]},
            "on": {"DONE": "done"},
        },
        "done": {"type": "final"},
    },
}


async def registered(engine: Engine, execution_id: str) -> list[WaitingExecution]:
    async with engine.sessions() as session:
        return await waiting.of_execution(session, execution_id)


async def until_registered(engine: Engine, count: int, seconds: float = 60) -> None:
    async with asyncio.timeout(seconds):
        while True:
            async with engine.sessions() as session:
                if await waiting.count(session) >= count:
                    return
            await asyncio.sleep(0.2)


async def signals(engine: Engine, execution_id: str) -> int:
    history = await engine.client.get_workflow_handle(execution_id).fetch_history()
    signalled = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    return sum(1 for event in history.events if event.event_type == signalled)


async def history_length(handle: WorkflowHandle) -> int:
    """The live length (visibility's is only brought up to date when the execution closes)."""
    described = await handle.describe()
    return described.raw_description.workflow_execution_info.history_length


async def lengths(engine: Engine, ids: list[str]) -> dict[str, int]:
    handles = [engine.client.get_workflow_handle(i) for i in ids]
    return dict(zip(ids, await asyncio.gather(*map(history_length, handles)), strict=True))


async def left_at(engine: Engine, journey_id: int, execution_id: str) -> float:
    """When the execution left its wait: the API shows whole seconds, its query more."""
    (wait, *_) = await execution_steps(engine, journey_id, execution_id)
    assert wait["detail"] == "customer matched the segments"
    handle = engine.client.get_workflow_handle(execution_id)
    progress = await handle.query("progress", result_type=Progress)
    assert progress.steps[0].left_at is not None
    return progress.steps[0].left_at.timestamp()


async def test_a_customer_matching_through_the_api_leaves_at_once_and_only_it_is_signalled(
    temporal, clean_engine, keys, database_url, smtp_port, http
):
    """A 300 s interval and a week's safety timer: only the wake-up can be this quick. The
    customer whose change doesn't make it match is never signalled."""
    settings = engine_settings(database_url, smtp_port, http, condition_poll_seconds=300)
    async with running_engine(temporal, clean_engine, keys, settings) as engine:
        journey_id = await started_journey(
            engine.api, {"name": "Gold", "trigger_event": "order.created"}, WAIT_FOR_GOLD
        )
        profile = {"email": "g@example.com", "attributes": SILVER}
        (matching,) = await send_event(engine, "order.created", 5, "o-5", profile)
        (other,) = await send_event(engine, "order.created", 6, "o-6", profile)
        await until_registered(engine, 2)
        (row,) = await registered(engine, matching)
        assert (row.customer_id, row.journey_id, row.state) == (5, journey_id, "wait_gold")

        bronze = {"attributes": {"account": {"tier": "bronze"}}}
        assert (await engine.api.put(f"/places/{PLACE}/customers/6", json=bronze)).is_success
        changed = time.time()
        gold = await engine.api.put(f"/places/{PLACE}/customers/5", json={"attributes": GOLD})
        assert gold.status_code == 200
        assert (await engine.execution_result(matching)).final_state == "done"
        # Within a second (bench/waiting.py measures the p99 over 1 000 waiters).
        assert await left_at(engine, journey_id, matching) - changed < 1.0
        assert await registered(engine, matching) == []

        assert await signals(engine, other) == 0
        assert len(await registered(engine, other)) == 1
        await keep(engine.client.get_workflow_handle(matching), "wait-for-condition-registry")


async def test_changes_the_api_does_not_see_are_found_by_the_central_recheck(
    temporal, clean_engine, keys, database_url, smtp_port, http
):
    """A 1 s interval. A direct database write, then a segment's rules edited (which
    signals nobody itself): each releases exactly the customers it makes match, within
    one interval; the others are never signalled."""
    settings = engine_settings(database_url, smtp_port, http, condition_poll_seconds=1)
    async with running_engine(temporal, clean_engine, keys, settings) as engine:
        journey_id = await started_journey(
            engine.api, {"name": "Gold", "trigger_event": "order.created"}, WAIT_ONLY
        )
        tiers = {5: "silver", 6: "bronze", 7: "iron", 8: "tin"}
        ids = {}
        for customer_id, tier in tiers.items():
            profile = {"attributes": {"account": {"tier": tier}}}
            (ids[customer_id],) = await send_event(
                engine, "order.created", customer_id, f"o-{customer_id}", profile
            )
        await until_registered(engine, len(tiers))

        async with engine.sessions() as session:
            await session.exec(
                update(Customer)
                .where(col(Customer.place_id) == PLACE, col(Customer.id) == 5)
                .values(attributes={"account": {"tier": "gold"}})
            )
            await session.commit()
        written = time.time()
        assert (await engine.execution_result(ids[5])).final_state == "done"
        assert await left_at(engine, journey_id, ids[5]) - written < 1 + 1.5  # plus slack

        iron_or_bronze = [
            {"attribute": "account.tier", "operator": "in", "value": ["bronze", "iron"]}
        ]
        edited = await engine.api.put(
            f"/places/{PLACE}/segments/12", json={"conditions": iron_or_bronze}
        )
        assert edited.status_code == 200
        written = time.time()
        for customer_id in (6, 7):
            assert (await engine.execution_result(ids[customer_id])).final_state == "done"
            assert await left_at(engine, journey_id, ids[customer_id]) - written < 1 + 1.5

        description = await engine.client.get_workflow_handle(ids[8]).describe()
        assert description.status == WorkflowExecutionStatus.RUNNING
        assert await signals(engine, ids[8]) == 0
        assert [row.customer_id for row in await registered(engine, ids[8])] == [8]


async def test_an_execution_that_ends_while_waiting_leaves_the_registry(engine_under_test):
    """Cancelled through the API, or its journey deleted."""
    engine = engine_under_test
    journey_id = await started_journey(
        engine.api, {"name": "Gold", "trigger_event": "order.created"}, WAIT_ONLY
    )
    profile = {"attributes": SILVER}
    (cancelled,) = await send_event(engine, "order.created", 5, "o-5", profile)
    (deleted,) = await send_event(engine, "order.created", 6, "o-6", profile)
    await until_registered(engine, 2)

    response = await engine.api.post(f"{BASE}/{journey_id}/executions/{cancelled}/cancel")
    assert response.status_code == 200, response.text
    async with asyncio.timeout(20):
        while await registered(engine, cancelled):  # noqa: ASYNC110 (the database, polled)
            await asyncio.sleep(0.1)
    described = await engine.client.get_workflow_handle(cancelled).describe()
    assert described.status == WorkflowExecutionStatus.CANCELED

    assert (await engine.api.delete(f"{BASE}/{journey_id}")).status_code == 204
    assert await registered(engine, deleted) == []


async def test_the_recheck_forgets_the_entries_of_executions_that_ended_unseen(
    engine_under_test,
):
    """Terminated from Temporal's UI, say: nothing told the registry. An entry whose
    customer matches is forgotten when its signal finds no execution; one that stopped
    checking is looked up in Temporal, and forgotten if it no longer runs."""
    engine = engine_under_test
    await started_journey(engine.api, {"name": "Gold", "trigger_event": "order.created"}, WAIT_ONLY)
    (alive,) = await send_event(engine, "order.created", 5, "o-5", {"attributes": SILVER})
    await until_registered(engine, 1)
    await import_customers(engine.api, [{"id": 9, "attributes": {"account": {"tier": "gold"}}}])
    async with engine.sessions() as session:
        for execution_id, customer_id in (("gone-matching", 9), ("gone-quiet", 10)):
            await waiting.register(
                session,
                execution_id=execution_id,
                place_id=PLACE,
                journey_id=None,
                customer_id=customer_id,
                state="wait_gold",
                condition=SegmentCondition.of([12], []),
            )
        long_ago = now() - 10 * 86_400
        await waiting.touch(session, ["gone-quiet", alive], long_ago)
        await session.commit()

    tally = await waking.recheck(engine.client, engine.sessions, safety_seconds=86_400)
    assert (tally.woken, tally.forgotten) == (0, 2)
    assert await registered(engine, "gone-matching") == []
    assert await registered(engine, "gone-quiet") == []
    (row,) = await registered(engine, alive)
    assert row.checked > long_ago  # still running: checked, kept


async def test_hundreds_of_waiting_executions_have_histories_that_do_not_grow(
    temporal, clean_engine, keys, database_url, smtp_port, http
):
    """200 executions wait 20 s while the central re-check runs every second: their
    histories stay as long as they were when they began to wait (polling, each would have
    grown by some 220 events). Thousands, and what they cost: `python -m bench.waiting`."""
    count = 200
    settings = engine_settings(database_url, smtp_port, http, condition_poll_seconds=1)
    async with running_engine(temporal, clean_engine, keys, settings) as engine:
        await import_customers(
            engine.api, [{"id": i, "attributes": SILVER} for i in range(1000, 1000 + count)]
        )
        journey_id = await manual_journey(engine.api, "Wait", WAIT_ONLY)
        response = await engine.api.post(f"{BASE}/{journey_id}/run", json={})
        assert response.status_code == 200, response.text
        await finished_run(engine.api, journey_id, response.json()["runId"])
        await until_registered(engine, count, seconds=180)
        running = f"{executions_of(journey_id)} AND ExecutionStatus = 'Running'"
        await visible(engine.client, running, count)

        ids = [e.id async for e in engine.client.list_workflows(running)]
        recheck = engine.client.get_workflow_handle(launcher.recheck_id(engine.settings))
        rounds_before = await history_length(recheck)
        before = await lengths(engine, ids)
        await asyncio.sleep(20)
        after = await lengths(engine, ids)
        assert after == before
        assert max(after.values()) <= 20, max(after.values())
        # The re-check did run all along: a round a second, some 10 events each (fewer, had
        # it continued as new meanwhile: its history starts afresh every 1 000 events).
        assert await history_length(recheck) != rounds_before

        # A direct write makes 50 of them match: the re-check releases those, and only those.
        lucky = list(range(1000, 1000 + count, count // 50))
        async with engine.sessions() as session:
            await session.exec(
                update(Customer)
                .where(col(Customer.place_id) == PLACE, col(Customer.id).in_(lucky))
                .values(attributes={"account": {"tier": "gold"}})
            )
            await session.commit()
        finished = f"{executions_of(journey_id)} AND ExecutionStatus = 'Completed'"
        await visible(engine.client, finished, len(lucky))
        async with engine.sessions() as session:
            assert await waiting.count(session) == count - len(lucky)
        unlucky = [i for i in ids if int(i.rsplit("-", 1)[1]) not in lucky]
        assert [await signals(engine, i) for i in unlucky[:20]] == [0] * 20
