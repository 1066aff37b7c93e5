"""Quiet hours, end to end on a time-skipping Temporal: a marketing send that falls in the
customer's local quiet window waits for its end as a durable timer, across both DST
changes, and then sends; transactional sends and customers whose own zone is awake are never
held."""

from datetime import UTC, datetime

import pytest

from tests.fixtures.database import one_backend
from tests.helpers.api import PLACE, only
from tests.helpers.journeys import duration_of, execution_steps, send_event, started_journey
from tests.helpers.providers import TWILIO_PATH, twilio_created
from tests.workflows.replay import keep

pytestmark = [pytest.mark.e2e, one_backend]

# New York: 21:00 to 08:00 is quiet.
NIGHTS = {"timezone": "America/New_York", "quiet_hours": {"start": "21:00", "end": "08:00"}}


def wait_then_sms(seconds, template_id):
    duration = duration_of(seconds)
    return {
        "initial": "wait",
        "states": {
            "wait": {
                "meta": {"type": "wait_for_duration", **duration},
                "on": {"ELAPSED": "sms"},
            },
            "sms": {
                "meta": {"type": "send_sms", "templateId": template_id},
                "on": {"DONE": "done"},
            },
            "done": {"type": "final"},
        },
    }


def seconds_until(moment):
    return int((moment - datetime.now(UTC)).total_seconds())


async def sms_at(engine, moment, trigger, customer_id, template_id=12):
    """Start a journey whose SMS step comes at `moment`; its step's final detail."""
    config = wait_then_sms(seconds_until(moment), template_id)
    journey_id = await started_journey(
        engine.api, {"name": trigger, "trigger_event": trigger}, config
    )
    (execution_id,) = await send_event(engine, trigger, customer_id, f"{trigger}-{customer_id}")
    result = await engine.execution_result(execution_id)
    assert result.final_state == "done"
    steps = await execution_steps(engine, journey_id, execution_id)
    return steps[1], execution_id


@pytest.mark.parametrize(
    ("moment", "release", "change"),
    [
        # 22:00 EST on the eve of spring-forward: 08:00 next morning is EDT (UTC-4).
        (datetime(2027, 3, 14, 3, 0, tzinfo=UTC), "2027-03-14T12:00:00Z", "spring-forward"),
        # 23:00 EDT on the eve of fall-back: 08:00 next morning is EST (UTC-5).
        (datetime(2027, 11, 7, 3, 0, tzinfo=UTC), "2027-11-07T13:00:00Z", "fall-back"),
    ],
)
async def test_a_send_in_quiet_hours_waits_for_their_end_across_a_dst_change(
    skipping_engine, http, moment, release, change
):
    engine = skipping_engine
    http.route("POST", TWILIO_PATH, twilio_created)
    put = await engine.api.put(f"/places/{PLACE}/settings", json=NIGHTS)
    assert put.status_code == 200, put.text
    assert only(put.json(), "place_settings")["quietHours"] == {"start": "21:00", "end": "08:00"}
    await engine.api.put(f"/places/{PLACE}/customers/7", json={"phone": "+14155550123"})

    step, execution_id = await sms_at(engine, moment, "order.created", 7)
    assert step["detail"].endswith(f"sent after quiet hours until {release}"), step
    (message,) = await engine.messages(execution_id=execution_id)
    assert message["status"] == "sent"
    assert len(http.received(TWILIO_PATH)) == 1
    history = await engine.client.get_workflow_handle(execution_id).fetch_history()
    summaries = [
        e.user_metadata.summary.data.decode()
        for e in history.events
        if e.HasField("timer_started_event_attributes") and e.HasField("user_metadata")
    ]
    assert f'"sms: quiet hours until {release}"' in summaries
    await keep(engine.client.get_workflow_handle(execution_id), f"quiet-hours-{change}")


async def test_transactional_sends_and_customers_awake_in_their_own_zone_are_not_held(
    skipping_engine, http
):
    engine = skipping_engine
    http.route("POST", TWILIO_PATH, twilio_created)
    await engine.api.put(f"/places/{PLACE}/settings", json=NIGHTS)
    await engine.api.put(f"/places/{PLACE}/customers/7", json={"phone": "+14155550123"})
    # 03:00 UTC is noon in Tokyo.
    tokyo = {"phone": "+81312345678", "timezone": "Asia/Tokyo"}
    assert (await engine.api.put(f"/places/{PLACE}/customers/8", json=tokyo)).status_code == 200
    created = await engine.api.post(
        f"/places/{PLACE}/templates",
        json={"name": "Code", "channel": "sms", "body": "Your code", "category": "transactional"},
    )
    receipt = only(created.json(), "communication_template")["id"]
    moment = datetime(2027, 3, 14, 3, 0, tzinfo=UTC)

    transactional, _ = await sms_at(engine, moment, "order.created", 7, receipt)
    awake, _ = await sms_at(engine, moment, "account.created", 8)
    for step in (transactional, awake):
        assert step["detail"].endswith(" sent"), step
    assert len(http.received(TWILIO_PATH)) == 2
