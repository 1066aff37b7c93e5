"""Driving journeys through the API and watching their executions (engine tests)."""

import asyncio
from typing import Any

from tests.helpers.api import PLACE, only

JOURNEYS = f"/places/{PLACE}/journeys"
FINAL_ONLY = {"initial": "done", "states": {"done": {"type": "final"}}}
ONE_EMAIL = {
    "initial": "send",
    "states": {
        "send": {"meta": {"type": "send_email", "templateId": 5}, "on": {"DONE": "done"}},
        "done": {"type": "final"},
    },
}
ONE_SMS = {
    "initial": "sms",
    "states": {
        "sms": {"meta": {"type": "send_sms", "templateId": 12}, "on": {"DONE": "done"}},
        "done": {"type": "final"},
    },
}
WAIT_FOR_GOLD = {
    "initial": "wait_gold",
    "states": {
        "wait_gold": {
            "meta": {"type": "wait_for_condition", "include": [12], "exclude": [3]},
            "on": {"DONE": "mail"},
        },
        "mail": {"meta": {"type": "send_email", "templateId": 21}, "on": {"DONE": "done"}},
        "done": {"type": "final"},
    },
}


def duration_of(seconds):
    """A `wait_for_duration` meta's units for `seconds` (each unit within its bounds)."""
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    return {"days": days, "hours": hours, "minutes": minutes, "seconds": seconds}


async def started_journey(api, create, config):
    """A journey made from `create`, given `config` and (unless manual) started; its id."""
    response = await api.post(JOURNEYS, json=create)
    journey = only(response.json(), "journey_definition")
    url = f"{JOURNEYS}/{journey['id']}"
    put = await api.put(url, json={"machine_config": config})
    assert put.status_code == 200, put.text
    if create["trigger_event"] != "manual":
        assert (await api.post(f"{url}/start")).status_code == 200
    return journey["id"]


async def manual_journey(api, name, config):
    response = await api.post(JOURNEYS, json={"name": name, "trigger_event": "manual"})
    journey_id = only(response.json(), "journey_definition")["id"]
    updated = await api.put(f"{JOURNEYS}/{journey_id}", json={"machine_config": config})
    assert updated.status_code == 200, updated.text
    return journey_id


async def send_event(engine, event, customer_id, event_id, customer=None):
    """POST one event; the ids of the executions it started."""
    body: dict[str, Any] = {"event": event, "customer_id": customer_id, "event_id": event_id}
    if customer is not None:
        body["customer"] = customer
    response = await engine.api.post(f"/places/{PLACE}/events", json=body)
    assert response.status_code == 202, response.text
    return response.json()["executions"]


async def execution(engine, journey_id, execution_id):
    """One execution as the executions API shows it (with its steps)."""
    response = await engine.api.get(f"{JOURNEYS}/{journey_id}/executions/{execution_id}")
    assert response.status_code == 200, response.text
    return only(response.json(), "journey_execution")


async def execution_steps(engine, journey_id, execution_id):
    return (await execution(engine, journey_id, execution_id))["steps"]


async def eventually(engine, url, check):
    """Poll an executions list until `check` holds (Temporal's visibility lags a moment)."""
    async with asyncio.timeout(20):
        while True:
            response = await engine.api.get(url)
            assert response.status_code == 200, response.text
            items = response.json()["node.journey_execution"]
            if check(items):
                return items
            await asyncio.sleep(0.2)


async def finished_run(api, journey_id, run_id):
    """The run once its fan-out has started every execution."""
    async with asyncio.timeout(120):
        while True:
            response = await api.get(f"{JOURNEYS}/{journey_id}/runs/{run_id}")
            assert response.status_code == 200, response.text
            run = only(response.json(), "journey_run")
            if run["status"] == "completed":
                return run
            await asyncio.sleep(0.2)


async def visible(client, query, expected):
    """The ids of the executions matching `query` once visibility shows `expected` of them."""
    async with asyncio.timeout(60):
        while True:
            if (await client.count_workflows(query)).count >= expected:
                return [execution.id async for execution in client.list_workflows(query)]
            await asyncio.sleep(0.3)


def executions_of(journey_id):
    return (
        f"WorkflowType = 'JourneyExecution' AND JourneyId = {journey_id} "
        "AND ExecutionStatus != 'ContinuedAsNew'"
    )


async def one_step_problems(api, meta, on):
    """What a journey of one step (state `w`, then `done`) is refused for: its 422's
    problems by path, each path relative to the step's state."""
    config = {"initial": "w", "states": {"w": {"meta": meta, "on": on}, "done": {"type": "final"}}}
    create = {"name": "W", "trigger_event": "order.created", "machine_config": config}
    response = await api.post(JOURNEYS, json=create)
    assert response.status_code == 422, response.text
    prefix = "machine_config.states.w."
    details = response.json()["error"]["details"]
    return {d["path"].removeprefix(prefix): d["message"] for d in details}
