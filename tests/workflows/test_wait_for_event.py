"""`wait_for_event`: until the customer's next event of a name (RECEIVED, a signal from the
event's request: no polling) or the time runs out (TIMEOUT) — through the HTTP API."""

import asyncio

import pytest

from store import waiting
from tests.fixtures.database import one_backend
from tests.helpers.api import PLACE, only
from tests.helpers.journeys import (
    execution_steps,
    one_step_problems,
    send_event,
    started_journey,
)
from tests.workflows.replay import keep


def thank_or_nudge(template_id, event="order.created"):
    return {
        "initial": "wait_order",
        "states": {
            "wait_order": {
                "meta": {"type": "wait_for_event", "event": event, "days": 7},
                "on": {"RECEIVED": "thank", "TIMEOUT": "nudge"},
            },
            "thank": {
                "meta": {"type": "send_email", "templateId": template_id},
                "on": {"DONE": "done"},
            },
            "nudge": {"meta": {"type": "send_email", "templateId": 5}, "on": {"DONE": "done"}},
            "done": {"type": "final"},
        },
    }


async def thanks_template(api):
    """An email template that reads the event it was sent after."""
    body = {
        "name": "Thanks",
        "channel": "email",
        "subject": "Thanks for order {{ event.data.order }}",
        "body": "{{ event.name }}: {{ event.data.total }} points on the way",
    }
    response = await api.post(f"/places/{PLACE}/templates", json=body)
    assert response.status_code == 200, response.text
    return only(response.json(), "communication_template")["id"]


async def registered(engine, execution_id):
    """Once the execution waits for its event (the registry holds it)."""
    async with asyncio.timeout(20):
        while True:
            async with engine.sessions() as session:
                if await waiting.of_execution(session, execution_id):
                    return
            await asyncio.sleep(0.1)


async def order(engine, customer_id, event_id, **data):
    body = {"event": "order.created", "customer_id": customer_id, "event_id": event_id}
    response = await engine.api.post(f"/places/{PLACE}/events", json={**body, "data": data})
    assert response.status_code == 202, response.text


@pytest.mark.e2e
@one_backend
async def test_an_order_within_the_week_is_received_and_later_templates_see_it(
    engine_under_test, mailbox
):
    engine = engine_under_test
    template_id = await thanks_template(engine.api)
    create = {"name": "Thank or nudge", "trigger_event": "account.created"}
    journey_id = await started_journey(engine.api, create, thank_or_nudge(template_id))
    await engine.api.put(f"/places/{PLACE}/customers/7", json={"email": "ana@example.com"})
    # An order from before the wait began is not the one it waits for.
    await order(engine, 7, "before", order="A-0", total=1)
    (execution_id,) = await send_event(engine, "account.created", 7, "joined-7")
    await registered(engine, execution_id)
    # Another customer's order, and another event of this customer, don't end it.
    await order(engine, 8, "not-hers", order="B-1", total=5)
    await send_event(engine, "account.updated", 7, "updated-7")
    await order(engine, 7, "A-1", order="A-1", total=42)
    result = await engine.execution_result(execution_id)
    assert result.final_state == "done"

    steps = await execution_steps(engine, journey_id, execution_id)
    assert [(s["state"], s["event"]) for s in steps[:2]] == [
        ("wait_order", "RECEIVED"),
        ("thank", "DONE"),
    ]
    assert steps[0]["detail"] == "received order.created (event A-1)"
    (sent,) = [m for m in await engine.messages() if m["executionId"] == execution_id]
    assert sent["subject"] == "Thanks for order A-1"
    assert sent["body"] == "order.created: 42 points on the way"
    assert len(mailbox.received) == 1
    async with engine.sessions() as session:
        assert await waiting.of_execution(session, execution_id) == []
    await keep(engine.client.get_workflow_handle(execution_id), "wait-for-event-received")


@pytest.mark.e2e
async def test_the_trigger_is_not_the_event_it_waits_for(engine_under_test, mailbox):
    engine = engine_under_test
    template_id = await thanks_template(engine.api)
    create = {"name": "Next order", "trigger_event": "order.created"}
    await started_journey(engine.api, create, thank_or_nudge(template_id))
    await engine.api.put(f"/places/{PLACE}/customers/7", json={"email": "ana@example.com"})
    body = {"event": "order.created", "customer_id": 7, "event_id": "first", "data": {"total": 1}}
    response = await engine.api.post(f"/places/{PLACE}/events", json=body)
    (execution_id,) = response.json()["executions"]
    await registered(engine, execution_id)
    # Sending the trigger again (a client's retry) starts nothing and ends no wait.
    assert (await engine.api.post(f"/places/{PLACE}/events", json=body)).status_code == 202
    await asyncio.sleep(1)
    handle = engine.client.get_workflow_handle(execution_id)
    assert (await handle.describe()).status.name == "RUNNING"
    # The second order, in a batch that repeats the first, ends the first execution's wait
    # (and starts an execution of its own).
    second = {
        "event": "order.created",
        "customer_id": 7,
        "event_id": "second",
        "data": {"total": 9},
    }
    batch = {"events": [body, second]}
    assert (await engine.api.post(f"/places/{PLACE}/events", json=batch)).status_code == 202
    assert (await engine.execution_result(execution_id)).final_state == "done"
    assert [m["body"] for m in await engine.messages() if m["executionId"] == execution_id] == [
        "order.created: 9 points on the way"
    ]


@pytest.mark.e2e
@one_backend
async def test_no_order_within_the_week_times_out(skipping_engine):
    engine = skipping_engine
    template_id = await thanks_template(engine.api)
    create = {"name": "Thank or nudge", "trigger_event": "account.created"}
    journey_id = await started_journey(engine.api, create, thank_or_nudge(template_id))
    await engine.api.put(f"/places/{PLACE}/customers/7", json={"email": "ana@example.com"})
    (execution_id,) = await send_event(engine, "account.created", 7, "joined-7")
    assert (await engine.execution_result(execution_id)).final_state == "done"
    steps = await execution_steps(engine, journey_id, execution_id)
    assert [(s["state"], s["event"]) for s in steps[:2]] == [
        ("wait_order", "TIMEOUT"),
        ("nudge", "DONE"),
    ]
    assert steps[0]["detail"].startswith("no order.created by ")
    async with engine.sessions() as session:
        assert await waiting.of_execution(session, execution_id) == []
    await keep(engine.client.get_workflow_handle(execution_id), "wait-for-event-timeout")


@pytest.mark.parametrize(
    ("meta", "on", "path", "words"),
    [
        ({"event": "order.created"}, {}, "meta", "at least one duration unit"),
        ({"event": "order.shipped", "days": 1}, {}, "meta.event", "must be an event"),
        ({"event": "manual", "days": 1}, {}, "meta.event", "must be an event"),
        ({"days": 1}, {}, "meta.event", "must be an event"),
        ({"event": "order.created", "days": -1}, {}, "meta.days", "non-negative"),
        ({"event": "order.created", "days": 1}, {"TIMEOUT": None}, "on", "must handle TIMEOUT"),
        ({"event": "order.created", "days": 1}, {"DONE": "done"}, "on.DONE", "never sends DONE"),
    ],
)
async def test_bad_wait_for_event_steps_name_the_field(api, meta, on, path, words):
    transitions = {"RECEIVED": "done", "TIMEOUT": "done", **on}
    kept = {event: to for event, to in transitions.items() if to}
    problems = await one_step_problems(api, {"type": "wait_for_event", **meta}, kept)
    assert words in problems[path], problems
