"""`wait_until`: the next local wall-clock time, in the customer's zone, the place's or a
named one, across both DST changes in Europe/Amsterdam and America/New_York — on a
time-skipping Temporal, through the HTTP API."""

from datetime import UTC, datetime

import pytest

from journeys.local_time import next_time
from tests.fixtures.database import one_backend
from tests.helpers.api import PLACE
from tests.helpers.journeys import (
    JOURNEYS,
    duration_of,
    execution_steps,
    send_event,
    started_journey,
)
from tests.workflows.replay import keep


def wait_then_ten(seconds, **meta):
    duration = duration_of(seconds)
    return {
        "initial": "first",
        "states": {
            "first": {
                "meta": {"type": "wait_for_duration", **duration},
                "on": {"ELAPSED": "at_ten"},
            },
            "at_ten": {
                "meta": {"type": "wait_until", "time": "10:00", **meta},
                "on": {"ELAPSED": "done"},
            },
            "done": {"type": "final"},
        },
    }


CASES = [
    # (where the zone comes from, the moment the step starts, the local 10:00 it waits for)
    ("customer", "Europe/Amsterdam", datetime(2027, 3, 27, 12, tzinfo=UTC), "2027-03-28T08:00:00Z"),
    ("place", "Europe/Amsterdam", datetime(2027, 10, 30, 12, tzinfo=UTC), "2027-10-31T09:00:00Z"),
    ("named", "America/New_York", datetime(2027, 3, 13, 18, tzinfo=UTC), "2027-03-14T14:00:00Z"),
    ("customer", "America/New_York", datetime(2027, 11, 6, 18, tzinfo=UTC), "2027-11-07T15:00:00Z"),
]


@pytest.mark.parametrize(("source", "zone", "moment", "ten"), CASES)
def test_the_next_local_time_is_dst_correct(source, zone, moment, ten):
    assert next_time(moment, zone, "10:00").strftime("%Y-%m-%dT%H:%M:%SZ") == ten


def test_weekdays_pick_the_next_allowed_day():
    saturday = datetime(2027, 3, 13, 18, tzinfo=UTC)
    monday = next_time(saturday, "America/New_York", "10:00", ("mon", "wed"))
    assert monday == datetime(2027, 3, 15, 14, tzinfo=UTC)


@pytest.mark.e2e
@one_backend
@pytest.mark.parametrize(("source", "zone", "moment", "ten"), CASES)
async def test_wait_until_ten_local_across_a_dst_change(skipping_engine, source, zone, moment, ten):
    engine = skipping_engine
    meta = {"timezone": zone} if source == "named" else {"timezone": source}
    if source == "customer":
        await engine.api.put(f"/places/{PLACE}/customers/7", json={"timezone": zone})
    elif source == "place":
        await engine.api.put(f"/places/{PLACE}/settings", json={"timezone": zone})
    seconds = int((moment - datetime.now(UTC)).total_seconds())
    create = {"name": "Ten", "trigger_event": "order.created"}
    journey_id = await started_journey(engine.api, create, wait_then_ten(seconds, **meta))
    (execution_id,) = await send_event(engine, "order.created", 7, "o-1")
    assert (await engine.execution_result(execution_id)).final_state == "done"
    steps = await execution_steps(engine, journey_id, execution_id)
    assert steps[1]["detail"] == f"waited until {ten} (10:00 {zone})"
    assert steps[1]["event"] == "ELAPSED"
    if source == "customer" and zone == "Europe/Amsterdam":
        await keep(engine.client.get_workflow_handle(execution_id), "wait-until-local-time")


async def test_bad_wait_until_steps_name_the_field(api):
    config = {
        "initial": "w",
        "states": {
            "w": {
                "meta": {
                    "type": "wait_until",
                    "time": "25:00",
                    "weekdays": ["mon", "funday", "mon"],
                    "timezone": "Mars/Base",
                },
                "on": {"DONE": "done"},
            },
            "done": {"type": "final"},
        },
    }
    response = await api.post(
        JOURNEYS, json={"name": "W", "trigger_event": "order.created", "machine_config": config}
    )
    assert response.status_code == 422, response.text
    problems = {d["path"]: d["message"] for d in response.json()["error"]["details"]}
    meta = "machine_config.states.w.meta"
    assert problems[f"{meta}.time"].startswith("must be a local time HH:MM")
    assert "funday" in problems[f"{meta}.weekdays.1"]
    assert problems[f"{meta}.weekdays"] == "must not name a day twice"
    assert "IANA" in problems[f"{meta}.timezone"]
    assert "must handle ELAPSED" in problems["machine_config.states.w.on"]
