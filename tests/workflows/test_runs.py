"""Manual runs executing on a real Temporal dev server, and the statistics they leave."""

import asyncio
from collections import Counter

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from orchestration import handoff
from services import journeys
from store import runs as store_runs
from store.db import session_factory
from tests.fixtures.database import one_backend
from tests.fixtures.engine import engine_settings, running_engine
from tests.helpers.api import PLACE, classified, import_customers, only
from tests.helpers.journeys import (
    FINAL_ONLY,
    execution_steps,
    executions_of,
    finished_run,
    manual_journey,
    visible,
)
from tests.helpers.providers import FCM_PATH, fcm_devices
from tests.spec_examples import PROMO_CONFIG, PROMO_CREATE, VIP_BRANCH_CONFIG
from tests.workflows.replay import keep

# The fan-out and the statistics are engine behaviour: one backend (SQLite) is enough, except
# for the run over hundreds of customers, whose keyset paging over the run's snapshot is store SQL.
pytestmark = pytest.mark.e2e

BASE = f"/places/{PLACE}/journeys"


@one_backend
async def test_one_off_promo_blast_as_in_the_spec(engine_under_test, http):
    """VIP segment 4 included, churned segment 6 excluded: one push per targeted customer."""
    engine = engine_under_test
    http.route("POST", FCM_PATH, fcm_devices())
    tokens = {"push_tokens": ["device-a"]}
    await import_customers(
        engine.api,
        [classified(i, "vip", **tokens) for i in range(1, 39)]
        + [classified(i, "churned", **tokens) for i in range(39, 51)]
        + [classified(i, "new", **tokens) for i in range(51, 61)],
    )
    created = await engine.api.post(BASE, json=PROMO_CREATE)
    journey_id = only(created.json(), "journey_definition")["id"]
    assert (
        await engine.api.put(f"{BASE}/{journey_id}", json={"machine_config": PROMO_CONFIG})
    ).status_code == 200

    response = await engine.api.post(
        f"{BASE}/{journey_id}/run", json={"include_segment_ids": [4], "exclude_segment_ids": [6]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["triggered"] == 38
    run_id = response.json()["runId"]
    run = await finished_run(engine.api, journey_id, run_id)
    assert (run["targeted"], run["started"]) == (38, 38)

    expected = {f"journey-{journey_id}-run-{run_id}-{i}" for i in range(1, 39)}
    for execution_id in expected:
        assert (await engine.execution_result(execution_id)).final_state == "done"
    ids = await visible(engine.client, executions_of(journey_id), 38)
    assert sorted(ids) == sorted(expected)
    messages = await engine.messages(journey_id=journey_id, per_page=100)
    assert sorted(m["customerId"] for m in messages) == list(range(1, 39))
    assert {(m["status"], m["channel"], m["templateId"]) for m in messages} == {("sent", "push", 9)}
    assert len(http.received(FCM_PATH)) == 38

    listed = await engine.api.get(f"{BASE}/{journey_id}/executions", params={"per_page": 1})
    (execution,) = listed.json()["node.journey_execution"].values()
    assert (execution["triggerEvent"], execution["runId"]) == ("manual", run_id)


async def test_hundreds_of_customers_each_started_once_from_the_snapshot(
    temporal, clean_engine, keys, database_url, smtp_port, http
):
    """Small pages and a small history limit: the fan-out pages by keyset and continues as
    new; customers who join after the call are not part of the run."""
    settings = engine_settings(
        database_url, smtp_port, http, run_page_size=50, run_concurrency=16, history_limit=20
    )
    async with running_engine(temporal, clean_engine, keys, settings) as engine:
        customers = 400
        await import_customers(
            engine.api,
            [classified(i, "vip" if i % 5 else "churned") for i in range(1, customers + 1)],
        )
        journey_id = await manual_journey(engine.api, "Everyone", FINAL_ONLY)
        response = await engine.api.post(
            f"{BASE}/{journey_id}/run", json={"exclude_segment_ids": [6]}
        )
        assert response.status_code == 200, response.text
        targeted = customers - customers // 5
        assert response.json()["triggered"] == targeted
        run_id = response.json()["runId"]
        # Joined after the call, with ids past everyone's: the fan-out would reach them last.
        late = [classified(i, "vip") for i in range(customers + 1, customers + 41)]
        await import_customers(engine.api, late)

        run = await finished_run(engine.api, journey_id, run_id)
        assert (run["targeted"], run["started"]) == (targeted, targeted)
        ids = await visible(engine.client, executions_of(journey_id), targeted)
        expected = {
            f"journey-{journey_id}-run-{run_id}-{i}" for i in range(1, customers + 1) if i % 5
        }
        assert len(ids) == targeted
        assert set(ids) == expected

        fan_out = f"WorkflowId = 'journey-{journey_id}-run-{run_id}'"
        chapters = [w.history_length async for w in engine.client.list_workflows(fan_out)]
        assert len(chapters) >= 3, chapters
        assert max(chapters) <= 20 + 10
        await keep(
            engine.client.get_workflow_handle(f"journey-{journey_id}-run-{run_id}"), "run-fan-out"
        )


@one_backend
async def test_stats_follow_the_paths_taken(engine_under_test, mailbox):
    """The VIP branch as a manual journey: stats per state match the executions and the
    messages actually produced."""
    engine = engine_under_test
    vips, others = range(1, 5), range(5, 12)
    await import_customers(
        engine.api,
        [classified(i, "vip", email=f"c{i}@example.com") for i in vips]
        + [classified(i, "new", email=f"c{i}@example.com") for i in others if i != 11]
        + [classified(11, "new")],  # no email address: the standard email is skipped
    )
    journey_id = await manual_journey(engine.api, "VIP branch", VIP_BRANCH_CONFIG)
    stats_url = f"{BASE}/{journey_id}/stats"
    empty = only((await engine.api.get(stats_url)).json(), "journey_stats")
    assert empty["executions"]["total"] == 0
    assert list(empty["states"]) == list(VIP_BRANCH_CONFIG["states"])

    response = await engine.api.post(f"{BASE}/{journey_id}/run", json={})
    run_id = response.json()["runId"]
    await finished_run(engine.api, journey_id, run_id)
    ids = await visible(engine.client, executions_of(journey_id), 11)
    for execution_id in ids:
        assert (await engine.execution_result(execution_id)).final_state == "done"

    messages = await engine.messages(journey_id=journey_id, per_page=100)
    produced = Counter((m["state"], m["status"]) for m in messages)
    assert produced == {
        ("send_vip_email", "sent"): 4,
        ("send_standard_email", "sent"): 6,
        ("send_standard_email", "skipped"): 1,
    }
    completed = executions_of(journey_id) + " AND ExecutionStatus = 'Completed'"
    await visible(engine.client, completed, 11)

    async with asyncio.timeout(30):
        while True:  # visibility catches up with the last step a moment later
            stats = only((await engine.api.get(stats_url)).json(), "journey_stats")
            if stats["states"]["done"]["entered"] == 11:
                break
            await asyncio.sleep(0.3)
    assert stats["id"] == journey_id
    assert stats["executions"] == {
        "total": 11,
        "running": 0,
        "completed": 11,
        "failed": 0,
        "cancelled": 0,
        "terminated": 0,
    }
    states = stats["states"]
    assert states["check_vip"] == {
        "type": "condition",
        "entered": 11,
        "current": 0,
        "messages": None,
    }
    assert states["send_vip_email"] == {
        "type": "send_email",
        "entered": 4,
        "current": 0,
        "messages": {"sent": 4, "skipped": 0, "failed": 0},
    }
    assert states["send_standard_email"] == {
        "type": "send_email",
        "entered": 7,
        "current": 0,
        "messages": {"sent": 6, "skipped": 1, "failed": 0},
    }
    assert states["done"] == {"type": "final", "entered": 11, "current": 0, "messages": None}
    assert len(mailbox.received) == 10
    assert sorted(r.rcpt_tos[0] for r in mailbox.received) == sorted(
        f"c{i}@example.com" for i in range(1, 11)
    )
    # Each branch sends its own template, rendered (what the event-triggered VIP test
    # asserted before the branch itself moved to tests/workflows/test_journey.py).
    by_customer = {m["customerId"]: m for m in messages}
    assert {by_customer[i]["templateId"] for i in vips} == {20}
    assert {by_customer[i]["subject"] for i in vips} == {"An exclusive offer for our VIPs"}
    assert {by_customer[i]["templateId"] for i in others} == {21}
    # Recorded with the JourneyPath search attribute (histories from before it replay too).
    vip = f"journey-{journey_id}-run-{run_id}-1"
    steps = await execution_steps(engine, journey_id, vip)
    assert [(s["state"], s["event"]) for s in steps] == [
        ("check_vip", "TRUE"),
        ("send_vip_email", "DONE"),
        ("done", None),
    ]
    assert steps[0]["detail"] == "account.classification eq 'vip': True"
    await keep(engine.client.get_workflow_handle(vip), "vip-branch-with-path")


@one_backend
async def test_deleting_a_journey_mid_run_ends_the_run_and_its_executions(
    temporal, clean_engine, keys, database_url, smtp_port, http
):
    settings = engine_settings(database_url, smtp_port, http, run_page_size=50, run_concurrency=2)
    async with running_engine(temporal, clean_engine, keys, settings) as engine:
        await import_customers(engine.api, [{"id": i} for i in range(1, 601)])
        parked = {
            "initial": "wait",
            "states": {
                "wait": {
                    "meta": {"type": "wait_for_duration", "days": 1},
                    "on": {"ELAPSED": "done"},
                },
                "done": {"type": "final"},
            },
        }
        journey_id = await manual_journey(engine.api, "Deleted mid-run", parked)
        run_id = (await engine.api.post(f"{BASE}/{journey_id}/run", json={})).json()["runId"]
        run_url = f"{BASE}/{journey_id}/runs/{run_id}"
        async with asyncio.timeout(60):
            while True:
                started = only((await engine.api.get(run_url)).json(), "journey_run")["started"]
                if started >= 20:
                    break
                await asyncio.sleep(0.1)
        assert (await engine.api.delete(f"{BASE}/{journey_id}")).status_code == 204
        assert (await engine.api.get(run_url)).status_code == 404

        query = executions_of(journey_id)
        async with asyncio.timeout(60):
            while True:  # the cleanup removes every execution the fan-out started
                if (await engine.client.count_workflows(query)).count == 0:
                    break
                await asyncio.sleep(0.5)
        await asyncio.sleep(3)  # and the fan-out starts none after it
        assert (await engine.client.count_workflows(query)).count == 0
        # The fan-out has ended: deleted, or (deleted just as it completed, which Temporal
        # finishes a little later) closed.
        fan_out = engine.client.get_workflow_handle(f"journey-{journey_id}-run-{run_id}")
        try:
            assert (await fan_out.describe()).status != WorkflowExecutionStatus.RUNNING
        except RPCError as gone:
            assert gone.status == RPCStatusCode.NOT_FOUND


@one_backend
async def test_a_fan_out_a_crash_left_owed_starts_on_the_repeat_or_by_the_relay(
    engine_under_test, clean_engine
):
    """`/run` commits the run with the fan-out it owes, then starts the fan-out. Should the
    API die in between, the repeat with the same Idempotency-Key starts it; without a
    repeat, the worker's relay does."""
    engine = engine_under_test
    await import_customers(engine.api, [{"id": i} for i in range(1, 4)])
    journey_id = await manual_journey(engine.api, "Owed", FINAL_ONLY)
    sessions = session_factory(clean_engine)

    async def committed_then_crashed(key: str) -> str:
        """Exactly what `/run` commits before it asks Temporal."""
        async with sessions() as session:
            journey = await journeys.get(session, PLACE, journey_id)
            run, _ = await store_runs.create(session, journey, [], [], key)
            await handoff.owe_run(session, engine.settings, journey, run)
            await session.commit()
            return run.id

    repeated = await committed_then_crashed("first")
    left = await committed_then_crashed("second")
    await asyncio.sleep(1)
    for run_id in (repeated, left):
        found = await engine.api.get(f"{BASE}/{journey_id}/runs/{run_id}")
        run = only(found.json(), "journey_run")
        assert (run["status"], run["started"]) == ("starting", 0)

    again = await engine.api.post(
        f"{BASE}/{journey_id}/run", json={}, headers={"Idempotency-Key": "first"}
    )
    assert (again.json()["runId"], again.json()["triggered"]) == (repeated, 3)
    assert (await finished_run(engine.api, journey_id, repeated))["started"] == 3

    assert await handoff.relay_once(engine.client, engine.settings, sessions, grace=-1) == 1
    assert (await finished_run(engine.api, journey_id, left))["started"] == 3
    assert await handoff.relay_once(engine.client, engine.settings, sessions, grace=-1) == 0
    ids = await visible(engine.client, executions_of(journey_id), 6)
    assert len(set(ids)) == 6
