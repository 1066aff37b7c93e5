"""`update_customer`: a journey changes its customer's profile — Liquid values, nested
attributes, once per visit, waking the customer's waiting executions — through the HTTP API."""

import asyncio

import pytest
from temporalio.testing import ActivityEnvironment

from activities.profiles import Profiles
from tests.fixtures.database import one_backend
from tests.helpers.api import PLACE, only
from tests.helpers.journeys import (
    WAIT_FOR_GOLD,
    execution_steps,
    one_step_problems,
    send_event,
    started_journey,
)
from tests.workflows.replay import keep
from workflows.contracts import JourneyInfo, UpdateInput

CUSTOMER = f"/places/{PLACE}/customers/7"


def updating(meta, then="done"):
    return {
        "initial": "mark",
        "states": {
            "mark": {"meta": {"type": "update_customer", **meta}, "on": {"DONE": then}},
            "done": {"type": "final"},
        },
    }


async def customer(api):
    response = await api.get(CUSTOMER)
    assert response.status_code == 200, response.text
    return only(response.json(), "customer")


@pytest.mark.e2e
@one_backend
async def test_the_step_sets_and_unsets_and_later_steps_see_it(engine_under_test):
    engine = engine_under_test
    profile = {
        "email": "ana@example.com",
        "attributes": {"old": 1, "account": {"tier": "silver", "points": 10}},
    }
    await engine.api.put(CUSTOMER, json=profile)
    config = updating(
        {
            "set": {
                "attributes.last_contacted_journey": "{{ journey.id }}",
                "attributes.account.tier": "gold",
                "attributes.account.note": "{{ customer.email }} ordered {{ event.data.total }}",
                "attributes.flags.welcomed": True,
                "timezone": "Europe/Amsterdam",
            },
            "unset": ["attributes.old", "attributes.account.points"],
        },
        then="check",
    )
    config["states"]["check"] = {
        "meta": {
            "type": "condition",
            "attribute": "account.tier",
            "operator": "eq",
            "value": "gold",
        },
        "on": {"TRUE": "done", "FALSE": "not_gold"},
    }
    config["states"]["not_gold"] = {"type": "final"}
    create = {"name": "Mark", "trigger_event": "order.created"}
    journey_id = await started_journey(engine.api, create, config)
    body = {"event": "order.created", "customer_id": 7, "event_id": "o-1", "data": {"total": 42}}
    response = await engine.api.post(f"/places/{PLACE}/events", json=body)
    (execution_id,) = response.json()["executions"]
    assert (await engine.execution_result(execution_id)).final_state == "done"

    shown = await customer(engine.api)
    assert shown["attributes"] == {
        # One `{{ }}` rendering a number is a number.
        "last_contacted_journey": journey_id,
        "account": {"tier": "gold", "note": "ana@example.com ordered 42"},
        "flags": {"welcomed": True},
    }
    assert shown["timezone"] == "Europe/Amsterdam"
    steps = await execution_steps(engine, journey_id, execution_id)
    assert steps[0]["event"] == "DONE"
    assert steps[0]["detail"].startswith(
        f"set attributes.last_contacted_journey = {journey_id}, attributes.account.tier = 'gold'"
    )
    assert steps[0]["detail"].endswith("; unset attributes.old, attributes.account.points")
    await keep(engine.client.get_workflow_handle(execution_id), "update-customer")


@pytest.mark.e2e
async def test_an_update_wakes_the_customers_waiting_executions(engine_under_test):
    engine = engine_under_test
    await engine.api.put(CUSTOMER, json={"attributes": {"account": {"tier": "silver"}}})
    waiting = await started_journey(
        engine.api, {"name": "Gold", "trigger_event": "account.updated"}, WAIT_FOR_GOLD
    )
    (waiter,) = await send_event(engine, "account.updated", 7, "u-1")
    await asyncio.sleep(1)
    handle = engine.client.get_workflow_handle(waiter)
    assert (await handle.describe()).status.name == "RUNNING"
    promote = updating({"set": {"attributes.account.tier": "gold"}})
    await started_journey(
        engine.api, {"name": "Promote", "trigger_event": "order.created"}, promote
    )
    await send_event(engine, "order.created", 7, "o-1")
    # Woken at once (the wait's own re-check is a week away).
    async with asyncio.timeout(30):
        assert (await engine.execution_result(waiter)).final_state == "done"
    steps = await execution_steps(engine, waiting, waiter)
    assert steps[0]["detail"] == "customer matched the segments"


@pytest.mark.e2e
async def test_a_value_that_fails_changes_nothing_and_the_journey_goes_on(engine_under_test):
    engine = engine_under_test
    await engine.api.put(CUSTOMER, json={"attributes": {"tier": "silver"}})
    config = updating(
        {"set": {"attributes.tier": "gold", "email": "{{ customer.tier }} at nowhere"}}
    )
    journey_id = await started_journey(
        engine.api, {"name": "Bad", "trigger_event": "order.created"}, config
    )
    (execution_id,) = await send_event(engine, "order.created", 7, "o-1")
    assert (await engine.execution_result(execution_id)).final_state == "done"
    steps = await execution_steps(engine, journey_id, execution_id)
    assert steps[0]["detail"].startswith("not updated: email must be an email address")
    assert (await customer(engine.api))["attributes"] == {"tier": "silver"}


@pytest.mark.e2e
async def test_a_retried_update_changes_the_customer_once(engine_under_test):
    """The activity run twice with one key (a retry after its result was lost): the counter
    is incremented once, and the second answer is the first one's."""
    engine = engine_under_test
    await engine.api.put(CUSTOMER, json={"attributes": {"visits": 1}})
    profiles = Profiles(engine.client, engine.sessions, asyncio.Lock())
    request = UpdateInput(
        place_id=PLACE,
        customer_id=7,
        idempotency_key="journey-1-event-e:mark:1",
        assign={"attributes.visits": "{{ customer.visits | plus: 1 }}"},
        journey=JourneyInfo(id=1, name="Count", version=1),
        execution_id="journey-1-event-e",
        state="mark",
    )
    env = ActivityEnvironment()
    first = await env.run(profiles.update_customer, request)
    again = await env.run(profiles.update_customer, request)
    assert first.detail == again.detail == "set attributes.visits = 2"
    assert (await customer(engine.api))["attributes"] == {"visits": 2}


@pytest.mark.parametrize(
    ("meta", "path", "words"),
    [
        ({}, "meta", "needs something to change"),
        ({"set": {}, "unset": []}, "meta", "needs something to change"),
        ({"set": {"tier": "gold"}}, "meta.set.tier", "attributes.<name>"),
        ({"set": {"attributes.a b": 1}}, "meta.set.attributes.a b", "attributes.<name>"),
        ({"set": {"attributes..x": 1}}, "meta.set.attributes..x", "attributes.<name>"),
        ({"set": {"email": 5}}, "meta.set.email", "takes a string"),
        ({"set": {"attributes.x": "{% if %}"}}, "meta.set.attributes.x", "not valid Liquid"),
        ({"set": {"attributes.x": 1}, "unset": ["attributes.x"]}, "meta.unset.0", "not both"),
        ({"unset": "attributes.x"}, "meta.unset", "list of paths"),
        ({"unset": ["subscriptions"]}, "meta.unset.0", "attributes.<name>"),
        ({"set": []}, "meta.set", "object of paths"),
    ],
)
async def test_bad_update_customer_steps_name_the_field(api, meta, path, words):
    problems = await one_step_problems(api, {"type": "update_customer", **meta}, {"DONE": "done"})
    assert words in problems[path], problems
