"""Every execution ends: data no retry can fix ends a step at once, and an outage that
outlasts the retry budget fails the step (and the execution) saying why."""

import socket

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import WorkflowFailureError

from activities.channels import build_channels, close_channels
from store.db import create_engine, session_factory
from store.tables import Customer, Journey
from tests.fixtures.api import app_client
from tests.fixtures.database import one_backend
from tests.fixtures.engine import engine_settings
from tests.fixtures.temporal import namespace_client
from tests.helpers.api import PLACE, only
from tests.helpers.journeys import JOURNEYS as BASE
from tests.helpers.journeys import ONE_EMAIL, execution, send_event, started_journey
from tests.servers import LOOPBACK
from tests.spec_examples import VIP_BRANCH_CONFIG
from tests.workflows.replay import keep
from worker import build_worker

# How executions end, not the store's SQL (tests/api and tests/store run that on both
# backends): one backend is enough.
pytestmark = [pytest.mark.e2e, one_backend]


async def test_a_condition_on_an_attribute_larger_than_a_temporal_payload(
    engine_under_test, clean_engine: AsyncEngine, mailbox
):
    engine = engine_under_test
    journey_id = await started_journey(
        engine.api, {"name": "VIP", "trigger_event": "account.tier.upgraded"}, VIP_BRANCH_CONFIG
    )
    # Stored before attributes had a size limit: 3 MB, over Temporal's 2 MB payload limit.
    huge = {"classification": "vip", "history": "x" * 3_000_000}
    async with session_factory(clean_engine)() as session:
        session.add(
            Customer(
                place_id=PLACE,
                id=1,
                email="vip@example.com",
                attributes={"account": huge},
                created=0,
                updated=0,
            )
        )
        await session.commit()
    (execution_id,) = await send_event(engine, "account.tier.upgraded", 1, "up-huge")
    result = await engine.execution_result(execution_id)
    assert result.final_state == "done"
    await keep(engine.client.get_workflow_handle(execution_id), "condition-compared-by-activity")
    steps = (await execution(engine, journey_id, execution_id))["steps"]
    assert [s["state"] for s in steps] == ["check_vip", "send_vip_email", "done"]


async def test_a_template_that_raises_outside_liquid_fails_the_message_not_the_journey(
    engine_under_test, mailbox
):
    engine = engine_under_test
    created = await engine.api.post(
        f"/places/{PLACE}/templates",
        json={
            "name": "too long to print",
            "channel": "email",
            "subject": "Hi",
            "body": "{{ event.data.n | times: event.data.n | times: event.data.n }}",
        },
    )
    template_id = int(next(iter(created.json()["node.communication_template"])))
    config = {
        "initial": "send",
        "states": {
            "send": {
                "meta": {"type": "send_email", "templateId": template_id},
                "on": {"DONE": "done"},
            },
            "done": {"type": "final"},
        },
    }
    journey_id = await started_journey(
        engine.api, {"name": "big", "trigger_event": "order.created"}, config
    )
    body = {
        "event": "order.created",
        "customer_id": 3,
        "event_id": "big-int",
        "data": {"n": 10**4000},
        "customer": {"email": "big@example.com"},
    }
    response = await engine.api.post(f"/places/{PLACE}/events", json=body)
    assert response.status_code == 202, response.text
    (execution_id,) = response.json()["executions"]
    assert (await engine.execution_result(execution_id)).final_state == "done"
    (message,) = await engine.messages(execution_id=execution_id)
    assert message["status"] == "failed"
    assert message["reason"].startswith("template")
    assert mailbox.received == []
    assert journey_id


async def test_an_outage_past_the_retry_budget_fails_the_step_visibly(
    temporal, clean_engine, keys, database_url, smtp_port, http
):
    # The worker's database is unreachable for longer than the retry budget (3 s here);
    # the API's is fine.
    with socket.socket() as closed:
        closed.bind((LOOPBACK, 0))
        nowhere = f"postgresql+asyncpg://postgres@{LOOPBACK}:{closed.getsockname()[1]}/none"
        settings = engine_settings(database_url, smtp_port, http, step_retry_budget_seconds=3)
        client = await namespace_client(temporal, database_url)
        down = create_engine(nowhere)
        channels = build_channels(settings)
        worker = build_worker(client, settings, down, channels)
        try:
            async with worker, app_client(client, clean_engine, settings, keys) as api:
                journey_id = await started_journey(
                    api, {"name": "one", "trigger_event": "order.created"}, ONE_EMAIL
                )
                body = {"event": "order.created", "customer_id": 5, "event_id": "down-1"}
                response = await api.post(f"/places/{PLACE}/events", json=body)
                assert response.status_code == 202, response.text
                (execution_id,) = response.json()["executions"]
                with pytest.raises(WorkflowFailureError) as failed:
                    await client.get_workflow_handle(execution_id).result()
                assert "step send (send_email) failed" in str(failed.value.cause)
                assert "retry budget ran out: ConnectionRefusedError" in str(failed.value.cause)
                await keep(client.get_workflow_handle(execution_id), "step-failed-after-budget")
                url = f"{BASE}/{journey_id}/executions/{execution_id}"
                detail = only((await api.get(url)).json(), "journey_execution")
        finally:
            await close_channels(channels)
            await down.dispose()
    assert detail["status"] == "failed"
    (step,) = detail["steps"]
    assert step["state"] == "send"
    assert step["detail"].startswith("failed: ")


# Refused by today's rules (an unknown meta key, a 300-character state name, a state nothing
# reaches), as a snapshot accepted by looser ones would be after they were tightened.
LONG_NAME = "d" * 300
LOOSE_SNAPSHOT = {
    "initial": "pause",
    "states": {
        "pause": {
            "meta": {"type": "wait_for_duration", "seconds": 1, "note": "from an older version"},
            "on": {"ELAPSED": LONG_NAME},
        },
        LONG_NAME: {"type": "final"},
        "orphan": {"type": "final"},
    },
}
PAUSE = {"meta": {"type": "wait_for_duration", "seconds": 1}, "on": {"ELAPSED": "done"}}
ONE_PAUSE = {"initial": "pause", "states": {"pause": PAUSE, "done": {"type": "final"}}}


async def _stored_snapshot(clean_engine: AsyncEngine, journey_id: int, snapshot: object) -> None:
    """Replace a journey's machine_config under the API, as an older version stored it."""
    async with session_factory(clean_engine)() as session:
        journey = await session.get(Journey, journey_id)
        assert journey is not None
        journey.machine_config = snapshot  # type: ignore[assignment]
        await session.commit()


async def test_a_snapshot_todays_rules_refuse_still_runs_to_its_end(
    engine_under_test, clean_engine: AsyncEngine
):
    engine = engine_under_test
    create = {"name": "loose", "trigger_event": "order.created"}
    journey_id = await started_journey(engine.api, create, ONE_PAUSE)
    url = f"{BASE}/{journey_id}"
    assert (await engine.api.put(url, json={"machine_config": LOOSE_SNAPSHOT})).status_code == 422
    await _stored_snapshot(clean_engine, journey_id, LOOSE_SNAPSHOT)
    (execution_id,) = await send_event(engine, "order.created", 5, "loose-1")
    assert (await engine.execution_result(execution_id)).final_state == LONG_NAME
    steps = (await execution(engine, journey_id, execution_id))["steps"]
    assert [s["state"] for s in steps] == ["pause", LONG_NAME]


async def test_a_snapshot_the_interpreter_cannot_walk_fails_the_execution(
    engine_under_test, clean_engine: AsyncEngine
):
    engine = engine_under_test
    create = {"name": "broken", "trigger_event": "order.created"}
    journey_id = await started_journey(engine.api, create, ONE_PAUSE)
    broken = {"initial": "pause", "states": {"pause": PAUSE}}
    await _stored_snapshot(clean_engine, journey_id, broken)
    (execution_id,) = await send_event(engine, "order.created", 5, "broken-1")
    with pytest.raises(WorkflowFailureError) as failed:
        await engine.execution_result(execution_id)
    assert "machine_config can't be run" in str(failed.value.cause)
    assert "states.pause.on.ELAPSED" in str(failed.value.cause)
    assert (await execution(engine, journey_id, execution_id))["status"] == "failed"
