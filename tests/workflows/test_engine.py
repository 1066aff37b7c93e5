"""Journeys executing on a real Temporal dev server, driven through the HTTP API."""

import asyncio
from datetime import UTC, datetime

import pytest
from temporalio.client import WorkflowExecutionStatus

from orchestration import handoff
from services import journeys
from store import journeys as journey_store
from store.db import session_factory
from tests.fixtures.database import one_backend
from tests.fixtures.engine import engine_settings, running_engine
from tests.helpers.api import PLACE, only
from tests.helpers.journeys import (
    WAIT_FOR_GOLD,
    eventually,
    execution_steps,
    send_event,
    started_journey,
)
from tests.helpers.providers import TWILIO_PATH, twilio_created
from tests.spec_examples import (
    WAIT_THEN_SMS_CONFIG,
    WELCOME_CONFIG,
    WELCOME_CREATE,
    WINBACK_CONFIG,
    WINBACK_CREATE,
)
from tests.workflows.replay import keep

# Engine behaviour, not the store's SQL (tests/api and tests/store run that on both
# backends): one backend is enough.
pytestmark = [pytest.mark.e2e, one_backend]

BASE = f"/places/{PLACE}/journeys"


async def test_welcome_new_members_sends_template_5(engine_under_test, mailbox):
    engine = engine_under_test
    journey_id = await started_journey(engine.api, WELCOME_CREATE, WELCOME_CONFIG)
    event = {
        "event": "account.created",
        "customer_id": 7,
        "event_id": "acc-7-created",
        "customer": {"email": "ana@example.com", "attributes": {"first_name": "Ana"}},
    }
    response = await engine.api.post(f"/places/{PLACE}/events", json=event)
    assert response.status_code == 202, response.text
    execution_id = f"journey-{journey_id}-event-acc-7-created"
    assert response.json() == {
        "eventId": "acc-7-created",
        "triggered": 1,
        "executions": [execution_id],
    }
    result = await engine.execution_result(execution_id)
    assert result.final_state == "done"

    (received,) = mailbox.received
    assert received.rcpt_tos == ["ana@example.com"]
    assert received.message["Subject"] == "Welcome to Place 42, Ana!"
    (message,) = await engine.messages(execution_id=execution_id)
    assert (message["status"], message["templateId"], message["state"]) == (
        "sent",
        5,
        "send_welcome",
    )

    again = await engine.api.post(f"/places/{PLACE}/events", json=event)
    assert again.status_code == 202
    assert again.json()["executions"] == [execution_id]
    await engine.execution_result(execution_id)
    assert len(mailbox.received) == 1
    assert len(await engine.messages()) == 1


async def test_wait_three_days_then_sms(skipping_engine, http):
    engine = skipping_engine
    http.route("POST", TWILIO_PATH, twilio_created)
    journey_id = await started_journey(
        engine.api, {"name": "Remind", "trigger_event": "order.created"}, WAIT_THEN_SMS_CONFIG
    )
    customer = {"phone": "+4915112345678", "attributes": {"first_name": "Zoë"}}
    (execution_id,) = await send_event(engine, "order.created", 7, "ord-1", customer)
    assert execution_id == f"journey-{journey_id}-event-ord-1"
    result = await engine.execution_result(execution_id)
    assert result.final_state == "done"
    (request,) = http.received(TWILIO_PATH)
    assert request.form()["Body"] == "Place 42: Zoë, your reward expires soon."
    (message,) = await engine.messages(execution_id=execution_id)
    assert message["status"] == "sent"
    steps = await execution_steps(engine, journey_id, execution_id)
    wait, sms, done = steps
    assert (wait["state"], wait["event"]) == ("wait", "ELAPSED")
    assert sms["enteredAt"] - wait["enteredAt"] >= 3 * 86400
    assert (sms["state"], sms["event"], done["state"]) == ("send_sms", "DONE", "done")


async def test_win_back_waits_two_days_emails_waits_three_days_texts(
    skipping_engine, mailbox, http
):
    engine = skipping_engine
    http.route("POST", TWILIO_PATH, twilio_created)
    journey_id = await started_journey(engine.api, WINBACK_CREATE, WINBACK_CONFIG)
    customer = {
        "email": "zoe@example.com",
        "phone": "+4915112345678",
        "attributes": {"first_name": "Zoë"},
    }
    event = "account.classification.became_slipping_away"
    (execution_id,) = await send_event(engine, event, 7, "slip-7", customer)
    assert (await engine.execution_result(execution_id)).final_state == "done"
    email, sms = await engine.messages(execution_id=execution_id)
    assert (email["templateId"], email["status"], email["subject"]) == (
        30,
        "sent",
        "We miss you, Zoë",
    )
    assert (sms["templateId"], sms["status"]) == (31, "sent")
    assert mailbox.received[0].rcpt_tos == ["zoe@example.com"]
    assert http.received(TWILIO_PATH)[0].form()["Body"].endswith("ends in 2 days, Zoë.")
    steps = {s["state"]: s for s in await execution_steps(engine, journey_id, execution_id)}
    await keep(engine.client.get_workflow_handle(execution_id), "winback")
    assert steps["send_email"]["enteredAt"] - steps["wait_2_days"]["enteredAt"] >= 2 * 86400
    assert steps["send_sms"]["enteredAt"] - steps["wait_3_days"]["enteredAt"] >= 3 * 86400


async def test_second_scale_waits_on_a_normal_server(engine_under_test, mailbox):
    """Wall-clock time: a 2-second wait, observed through /messages and the executions API."""
    engine = engine_under_test
    config = {
        "initial": "pause",
        "states": {
            "pause": {
                "meta": {"type": "wait_for_duration", "seconds": 2},
                "on": {"ELAPSED": "mail"},
            },
            "mail": {"meta": {"type": "send_email", "templateId": 21}, "on": {"DONE": "done"}},
            "done": {"type": "final"},
        },
    }
    journey_id = await started_journey(
        engine.api, {"name": "Quick", "trigger_event": "order.closed"}, config
    )
    (execution_id,) = await send_event(
        engine, "order.closed", 9, "close-9", {"email": "nine@example.com"}
    )
    url = f"{BASE}/{journey_id}/executions"
    execution = await eventually(
        engine, url, lambda e: e.get(execution_id, {}).get("currentStep") == "pause"
    )
    assert execution[execution_id]["status"] == "running"
    assert await engine.messages() == []
    assert (await engine.execution_result(execution_id)).final_state == "done"
    (message,) = await engine.messages()
    assert message["status"] == "sent"
    done = await eventually(engine, url + "?status=completed", lambda e: execution_id in e)
    assert done[execution_id]["currentStep"] == "done"
    assert done[execution_id]["closedAt"] - done[execution_id]["startedAt"] >= 2
    assert done[execution_id]["version"] == 2
    assert done[execution_id]["eventId"] == "close-9"
    assert done[execution_id]["triggerEvent"] == "order.closed"
    assert done[execution_id]["customerId"] == 9
    assert "steps" not in done[execution_id]  # the single view has them


async def test_wait_for_condition_resumes_within_a_poll_after_joining(engine_under_test):
    """Segment 12 is `account.tier eq gold`, 3 is `account.classification eq inactive`; the
    poll interval here is 2 s. Editing the segment's rule changes who is in it without
    touching (or signalling) the customer: only the poll can notice."""
    engine = engine_under_test
    await started_journey(
        engine.api, {"name": "Gold", "trigger_event": "order.created"}, WAIT_FOR_GOLD
    )
    profile = {"email": "g@example.com", "attributes": {"account": {"tier": "silver"}}}
    (execution_id,) = await send_event(engine, "order.created", 5, "o-5", profile)
    await asyncio.sleep(3)
    assert await engine.messages() == []  # checked at once and again: not gold yet
    silver = [{"attribute": "account.tier", "operator": "eq", "value": "silver"}]
    edited = await engine.api.put(f"/places/{PLACE}/segments/12", json={"conditions": silver})
    assert edited.status_code == 200
    joined = asyncio.get_running_loop().time()
    assert (await engine.execution_result(execution_id)).final_state == "done"
    assert asyncio.get_running_loop().time() - joined < 2 + 1.5  # one poll interval, plus slack
    assert [m["status"] for m in await engine.messages()] == ["sent"]
    await keep(engine.client.get_workflow_handle(execution_id), "wait-for-condition-polled")


@pytest.mark.parametrize("update", ["put", "import"])
async def test_wait_for_condition_wakes_at_once_on_an_api_update_and_never_while_excluded(
    temporal, clean_engine, keys, database_url, smtp_port, http, update
):
    settings = engine_settings(database_url, smtp_port, http, condition_poll_seconds=300)
    async with running_engine(temporal, clean_engine, keys, settings) as engine:
        await started_journey(
            engine.api, {"name": "Gold", "trigger_event": "order.created"}, WAIT_FOR_GOLD
        )
        inactive_gold = {"account": {"tier": "gold", "classification": "inactive"}}
        profile = {"email": "g@example.com", "attributes": inactive_gold}
        (execution_id,) = await send_event(engine, "order.created", 5, "o-5", profile)
        await asyncio.sleep(2)
        assert await engine.messages() == []  # gold, but in the excluded segment

        started = asyncio.get_running_loop().time()
        active_gold = {"attributes": {"account": {"tier": "gold", "classification": "active"}}}
        if update == "put":
            updated = await engine.api.put(f"/places/{PLACE}/customers/5", json=active_gold)
        else:
            updated = await engine.api.post(
                f"/places/{PLACE}/customers/import", json=[{"id": 5, **active_gold}]
            )
        assert updated.status_code == 200
        assert (await engine.execution_result(execution_id)).final_state == "done"
        # Far sooner than the 300 s poll: the update signalled the execution.
        assert asyncio.get_running_loop().time() - started < 10
        assert [m["status"] for m in await engine.messages()] == ["sent"]
        handle = engine.client.get_workflow_handle(execution_id)
        await keep(handle, "wait-for-condition")


def waiting_config(template_id=21, seconds=3):
    return {
        "initial": "pause",
        "states": {
            "pause": {
                "meta": {"type": "wait_for_duration", "seconds": seconds},
                "on": {"ELAPSED": "mail"},
            },
            "mail": {
                "meta": {"type": "send_email", "templateId": template_id},
                "on": {"DONE": "done"},
            },
            "done": {"type": "final"},
        },
    }


async def test_an_inactive_journey_starts_nothing(engine_under_test):
    engine = engine_under_test
    response = await engine.api.post(BASE, json={"name": "off", "trigger_event": "order.created"})
    assert response.status_code == 200
    assert await send_event(engine, "order.created", 1, "o-1") == []


async def test_config_changes_reach_only_new_executions(engine_under_test, mailbox):
    engine = engine_under_test
    journey_id = await started_journey(
        engine.api, {"name": "v", "trigger_event": "order.created"}, waiting_config(21)
    )
    email = {"email": "a@example.com"}
    (old,) = await send_event(engine, "order.created", 1, "o-1", email)
    updated = await engine.api.put(
        f"{BASE}/{journey_id}", json={"machine_config": waiting_config(20)}
    )
    assert only(updated.json(), "journey_definition")["version"] == 3
    (new,) = await send_event(engine, "order.created", 2, "o-2", {"email": "b@example.com"})
    for execution_id in (old, new):
        await engine.execution_result(execution_id)
    templates = {m["customerId"]: m["templateId"] for m in await engine.messages()}
    assert templates == {1: 21, 2: 20}
    listed = await eventually(
        engine, f"{BASE}/{journey_id}/executions?status=completed", lambda e: len(e) == 2
    )
    assert {e["customerId"]: e["version"] for e in listed.values()} == {1: 2, 2: 3}


async def test_stop_lets_running_executions_finish(engine_under_test):
    engine = engine_under_test
    journey_id = await started_journey(
        engine.api, {"name": "s", "trigger_event": "order.created"}, waiting_config()
    )
    (running,) = await send_event(engine, "order.created", 1, "o-1", {"email": "a@example.com"})
    assert (await engine.api.post(f"{BASE}/{journey_id}/stop")).status_code == 200
    assert await send_event(engine, "order.created", 2, "o-2") == []
    assert (await engine.execution_result(running)).final_state == "done"
    assert [m["status"] for m in await engine.messages()] == ["sent"]


async def test_who_is_in_a_step_and_when_its_wait_ends(engine_under_test):
    """`?state=` lists the executions in a state now; a wait's step says when it ends."""
    engine = engine_under_test
    journey_id = await started_journey(
        engine.api, {"name": "w", "trigger_event": "order.created"}, waiting_config(seconds=600)
    )
    (waiting,) = await send_event(engine, "order.created", 1, "o-1", {"email": "a@example.com"})
    url = f"{BASE}/{journey_id}/executions"
    assert list(await eventually(engine, f"{url}?state=pause", lambda e: e)) == [waiting]
    assert (await engine.api.get(f"{url}?state=mail")).json()["meta"]["total"] == 0
    execution = only((await engine.api.get(f"{url}/{waiting}")).json(), "journey_execution")
    (step,) = execution["steps"]
    ends = datetime.fromtimestamp(step["enteredAt"] + 600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert step["detail"] == f"waiting until {ends}"


async def test_stop_with_cancel_running_cancels_them(engine_under_test):
    engine = engine_under_test
    journey_id = await started_journey(
        engine.api, {"name": "s", "trigger_event": "order.created"}, waiting_config(seconds=30)
    )
    ids = [
        (await send_event(engine, "order.created", c, f"o-{c}", {"email": "a@example.com"}))[0]
        for c in (1, 2)
    ]
    stopped = await engine.api.post(f"{BASE}/{journey_id}/stop", json={"cancel_running": True})
    assert stopped.status_code == 200
    listed = await eventually(
        engine, f"{BASE}/{journey_id}/executions?status=cancelled", lambda e: len(e) == 2
    )
    assert set(listed) == set(ids)
    assert await engine.messages() == []


async def test_deleting_a_journey_leaves_no_execution(engine_under_test):
    engine = engine_under_test
    journey_id = await started_journey(
        engine.api, {"name": "d", "trigger_event": "order.created"}, waiting_config(seconds=30)
    )
    (execution_id,) = await send_event(
        engine, "order.created", 1, "o-1", {"email": "a@example.com"}
    )
    assert (await engine.api.delete(f"{BASE}/{journey_id}")).status_code == 204
    assert (await engine.api.get(f"{BASE}/{journey_id}")).status_code == 404
    async with asyncio.timeout(30):
        while True:
            left = [w.id async for w in engine.client.list_workflows(f"JourneyId = {journey_id}")]
            if not left:
                break
            assert left == [execution_id]
            await asyncio.sleep(0.5)
    assert await engine.messages() == []
    cleanup = engine.client.get_workflow_handle(f"journey-{journey_id}-delete")
    assert await cleanup.result() == 1
    await keep(cleanup, "cleanup-delete-commit-first")


async def test_a_cleanup_a_crash_left_owed_is_started_by_the_relay(engine_under_test, clean_engine):
    """A DELETE commits the journey's removal with the cleanup it owes, then starts the
    cleanup. Should the API die in between, the journey is gone and its executions still run
    until the worker's relay makes the owed start; making it again is a no-op."""
    engine = engine_under_test
    journey_id = await started_journey(
        engine.api, {"name": "d", "trigger_event": "order.created"}, waiting_config(seconds=60)
    )
    (execution_id,) = await send_event(
        engine, "order.created", 1, "o-1", {"email": "a@example.com"}
    )
    # Exactly what the DELETE commits before it asks Temporal, and no more.
    sessions = session_factory(clean_engine)
    async with sessions() as session:
        await journeys.remove(session, await journeys.get(session, PLACE, journey_id))
        await session.commit()
    assert (await engine.api.get(f"{BASE}/{journey_id}")).status_code == 404
    execution = engine.client.get_workflow_handle(execution_id)
    assert (await execution.describe()).status == WorkflowExecutionStatus.RUNNING

    # A start younger than the grace is left to its request.
    assert await handoff.relay_once(engine.client, engine.settings, sessions, grace=60) == 0
    assert await handoff.relay_once(engine.client, engine.settings, sessions, grace=-1) == 1
    cleanup = engine.client.get_workflow_handle(f"journey-{journey_id}-delete")
    assert await cleanup.result() == 1
    async with asyncio.timeout(30):
        while True:
            if not [w async for w in engine.client.list_workflows(f"JourneyId = {journey_id}")]:
                break
            await asyncio.sleep(0.5)
    assert await handoff.relay_once(engine.client, engine.settings, sessions, grace=-1) == 0
    # A repeated DELETE finds nothing left to do.
    assert (await engine.api.delete(f"{BASE}/{journey_id}")).status_code == 404


async def test_a_stop_whose_cleanup_was_owed_spares_what_started_after_it(
    engine_under_test, clean_engine
):
    """A stop with cancel_running commits, then its cleanup starts; if that start is left to
    the relay and the journey is started again meanwhile, the cleanup cancels only what ran
    before the stop."""
    engine = engine_under_test
    journey_id = await started_journey(
        engine.api, {"name": "s", "trigger_event": "order.created"}, waiting_config(seconds=60)
    )
    (before,) = await send_event(engine, "order.created", 1, "o-1", {"email": "a@example.com"})
    sessions = session_factory(clean_engine)
    async with sessions() as session:  # exactly what /stop commits before it asks Temporal
        journey = await journeys.get(session, PLACE, journey_id)
        await journey_store.update(session, journey, {"active": False})
        await handoff.owe_cleanup(session, PLACE, journey_id, "cancel")
        await session.commit()
    await asyncio.sleep(0.1)
    assert (await engine.api.post(f"{BASE}/{journey_id}/start")).status_code == 200
    (after,) = await send_event(engine, "order.created", 2, "o-2", {"email": "b@example.com"})
    url = f"{BASE}/{journey_id}/executions"
    await eventually(engine, f"{url}?status=running", lambda e: len(e) == 2)
    assert await handoff.relay_once(engine.client, engine.settings, sessions, grace=-1) == 1
    await eventually(engine, f"{url}?status=cancelled", lambda e: list(e) == [before])
    running = engine.client.get_workflow_handle(after)
    assert (await running.describe()).status == WorkflowExecutionStatus.RUNNING


async def test_cancel_one_execution(engine_under_test):
    engine = engine_under_test
    journey_id = await started_journey(
        engine.api, {"name": "c", "trigger_event": "order.created"}, waiting_config(seconds=30)
    )
    (first,) = await send_event(engine, "order.created", 1, "o-1", {"email": "a@example.com"})
    url = f"{BASE}/{journey_id}/executions/{first}"
    response = await engine.api.post(f"{url}/cancel")
    assert response.status_code == 200, response.text
    await eventually(
        engine, f"{BASE}/{journey_id}/executions?status=cancelled", lambda e: first in e
    )
    other = await engine.api.get(f"/places/{PLACE}/journeys/{journey_id}/executions/nope")
    assert other.status_code == 404


async def test_a_long_wait_continues_as_new_with_bounded_history(
    temporal, clean_engine, keys, database_url, smtp_port, http
):
    """Checks by itself every second (a safety interval far shorter than any deployment's)
    with a 30-event limit: the wait goes on over several runs, each short, and the execution
    still reads as one with its steps intact."""
    settings = engine_settings(
        database_url, smtp_port, http, wait_safety_seconds=1, history_limit=30
    )
    async with running_engine(temporal, clean_engine, keys, settings) as engine:
        journey_id = await started_journey(
            engine.api, {"name": "Gold", "trigger_event": "order.created"}, WAIT_FOR_GOLD
        )
        profile = {"email": "g@example.com", "attributes": {"account": {"tier": "silver"}}}
        (execution_id,) = await send_event(engine, "order.created", 5, "o-5", profile)
        runs = f"WorkflowId = '{execution_id}' AND ExecutionStatus = 'ContinuedAsNew'"
        async with asyncio.timeout(60):
            while True:
                if (await engine.client.count_workflows(runs)).count >= 2:
                    break
                await asyncio.sleep(0.5)
        imported = await engine.api.post(
            f"/places/{PLACE}/customers/import",
            json=[{"id": 5, "attributes": {"account": {"tier": "gold"}}}],
        )
        assert imported.status_code == 200
        assert (await engine.execution_result(execution_id)).final_state == "done"
        assert [m["status"] for m in await engine.messages()] == ["sent"]

        lengths = [
            run.history_length
            async for run in engine.client.list_workflows(f"WorkflowId = '{execution_id}'")
        ]
        assert len(lengths) >= 3
        assert max(lengths) <= 30 + 15  # the limit, plus the step that crossed it
        print(f"runs: {len(lengths)}, history lengths: {sorted(lengths)}")
        steps = await execution_steps(engine, journey_id, execution_id)
        assert [s["state"] for s in steps] == ["wait_gold", "mail", "done"]
        listed = await eventually(
            engine, f"{BASE}/{journey_id}/executions", lambda e: execution_id in e
        )
        assert len(listed) == 1
