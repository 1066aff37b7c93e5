"""Simulating a journey for one customer through the HTTP API: the path, its simulated times
and the messages as they would be sent, with nothing sent, stored or started."""

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers.api import PLACE, classified, import_customers, only
from tests.helpers.store import statements
from tests.spec_examples import VIP_BRANCH_CONFIG, WINBACK_CONFIG, WINBACK_CREATE
from workflows.model.interpreter import split_branch
from workflows.model.machine import SplitStep

JOURNEYS = f"/places/{PLACE}/journeys"
START = "2026-05-01T09:00:00Z"  # a Friday
T0 = int(datetime(2026, 5, 1, 9, tzinfo=UTC).timestamp())
DAY = 86_400
ANA = classified(
    1,
    "vip",
    email="ana@example.com",
    phone="+14155550101",
    attributes={"first_name": "Ana", "account": {"classification": "vip", "tier": "gold"}},
)
BEN = classified(
    2,
    "new",
    email="ben@example.com",
    attributes={"first_name": "Ben", "account": {"classification": "new"}},
)

# A day's nap and an email, until the customer has ordered.
LOOP = {
    "initial": "nap",
    "states": {
        "nap": {"meta": {"type": "wait_for_duration", "days": 1}, "on": {"ELAPSED": "nudge"}},
        "nudge": {"meta": {"type": "send_email", "templateId": 5}, "on": {"DONE": "check"}},
        "check": {
            "meta": {"type": "condition", "attribute": "ordered", "operator": "exists"},
            "on": {"TRUE": "end", "FALSE": "nap"},
        },
        "end": {"type": "final"},
    },
}


async def journey(api, config, trigger="account.created", **rules):
    body = {"name": "Tried", "trigger_event": trigger, "machine_config": config, **rules}
    response = await api.post(JOURNEYS, json=body)
    assert response.status_code == 200, response.text
    return only(response.json(), "journey_definition")["id"]


async def simulate(api, journey_id, body):
    response = await api.post(f"{JOURNEYS}/{journey_id}/simulate", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def path(result):
    return [(step["state"], step["enteredAt"] - T0, step["event"]) for step in result["steps"]]


def problems(response):
    return {d["path"]: d["message"] for d in response["error"]["details"]}


async def test_vip_example_takes_the_branch_the_customer_is_on(api):
    await import_customers(api, [ANA, BEN])
    vip = await journey(api, VIP_BRANCH_CONFIG)
    ana = await simulate(api, vip, {"customer_id": 1, "start_at": START})
    assert path(ana) == [
        ("check_vip", 0, "TRUE"),
        ("send_vip_email", 0, "DONE"),
        ("done", 0, None),
    ]
    check, send, _ = ana["steps"]
    assert check["next"] == "send_vip_email"
    assert check["detail"] == "account.classification eq 'vip': True (the customer's is 'vip')"
    assert send["message"] == {
        "channel": "email",
        "templateId": 20,
        "category": "marketing",
        "status": "sent",
        "reason": None,
        "to": ["ana@example.com"],
        "subject": "An exclusive offer for our VIPs",
        "title": None,
        "body": "Dear Ana,\n\nAs a VIP you get early access this week.\n",
    }
    assert (ana["outcome"], ana["endedIn"], ana["customerId"]) == ("completed", "done", 1)

    ben = await simulate(api, vip, {"customer_id": 2, "start_at": START})
    assert [step["state"] for step in ben["steps"]] == ["check_vip", "send_standard_email", "done"]
    assert ben["steps"][0]["detail"] == (
        "account.classification eq 'vip': False (the customer's is 'new')"
    )
    message = ben["steps"][1]["message"]
    assert (message["templateId"], message["subject"]) == (21, "Something new at Place 42")
    assert message["body"].startswith("Hi Ben,")


async def test_winback_example_fast_forwards_its_waits(api):
    await import_customers(api, [ANA])
    winback = await journey(api, WINBACK_CONFIG, WINBACK_CREATE["trigger_event"])
    result = await simulate(api, winback, {"customer_id": 1, "start_at": START})
    assert path(result) == [
        ("wait_2_days", 0, "ELAPSED"),
        ("send_email", 2 * DAY, "DONE"),
        ("wait_3_days", 2 * DAY, "ELAPSED"),
        ("send_sms", 5 * DAY, "DONE"),
        ("done", 5 * DAY, None),
    ]
    wait, email, _, sms, _ = result["steps"]
    assert wait["detail"] == "waited 2 days, until 2026-05-03T09:00:00Z"
    assert (wait["leftAt"] - T0, wait["offset"]) == (2 * DAY, "day 0")
    assert email["offset"] == "day 2"
    assert email["message"]["subject"] == "We miss you, Ana"
    assert email["message"]["body"].startswith("Hi Ana,\n\nIt's been a while.")
    assert sms["message"]["to"] == ["+14155550101"]
    assert sms["message"]["body"] == "Place 42: your 20% off ends in 2 days, Ana."
    assert (result["outcome"], result["endedAt"], result["startAt"]) == (
        "completed",
        T0 + 5 * DAY,
        T0,
    )
    assert result["note"] == "reached the final state done at day 5"


async def test_a_customer_problem_is_shown_as_delivery_would_log_it(api):
    await import_customers(api, [BEN])  # no phone number
    winback = await journey(api, WINBACK_CONFIG, WINBACK_CREATE["trigger_event"])
    result = await simulate(api, winback, {"customer_id": 2, "start_at": START})
    sms = result["steps"][3]
    assert sms["detail"] == "message skipped: customer has no phone number"
    assert sms["message"]["status"] == "skipped"
    assert sms["message"]["body"] is None
    assert result["outcome"] == "completed"  # the journey goes on, as it would


async def test_a_template_that_fails_to_render_fails_that_step_only(api):
    created = await api.post(
        f"/places/{PLACE}/templates",
        json={"name": "Bad", "channel": "sms", "body": "{{ customer.points | divided_by: 0 }}"},
    )
    template_id = only(created.json(), "communication_template")["id"]
    config = {
        "initial": "sms",
        "states": {
            "sms": {"meta": {"type": "send_sms", "templateId": template_id}, "on": {"DONE": "end"}},
            "end": {"type": "final"},
        },
    }
    described = {"phone": "+14155550199", "attributes": {"points": 3}}
    result = await simulate(api, await journey(api, config), {"customer": described})
    message = result["steps"][0]["message"]
    assert message["status"] == "failed"
    assert message["reason"].startswith("template line 1:")
    assert result["outcome"] == "completed"


async def test_wait_until_waits_for_the_customers_local_time(api):
    customer = {**BEN, "timezone": "America/New_York"}
    await import_customers(api, [customer])
    config = {
        "initial": "monday_10",
        "states": {
            "monday_10": {
                "meta": {"type": "wait_until", "time": "10:00", "weekdays": ["mon"]},
                "on": {"ELAPSED": "end"},
            },
            "end": {"type": "final"},
        },
    }
    result = await simulate(api, await journey(api, config), {"customer_id": 2, "start_at": START})
    wait = result["steps"][0]
    # Friday 05:00 in New York; the next Monday 10:00 EDT is 14:00 UTC.
    assert wait["detail"] == "waited until 2026-05-04T14:00:00Z (10:00 America/New_York)"
    assert result["endedAt"] == int(datetime(2026, 5, 4, 14, tzinfo=UTC).timestamp())


async def test_a_loop_stops_at_the_step_limit(api):
    body = {"customer": {"email": "zoe@example.com"}, "start_at": START, "max_steps": 5}
    result = await simulate(api, await journey(api, LOOP), body)
    assert [step["state"] for step in result["steps"]] == ["nap", "nudge", "check", "nap", "nudge"]
    assert [step["visit"] for step in result["steps"]] == [1, 1, 1, 2, 2]
    assert result["steps"][2]["detail"] == "ordered exists: False (the customer has none)"
    assert (result["outcome"], result["endedIn"]) == ("step_limit", "check")
    assert result["note"].startswith("stopped after 5 steps, before check (visit 2) at day 2")
    assert result["endedAt"] == T0 + 2 * DAY


async def test_an_exit_event_ends_it_and_a_goal_event_converts_it(api):
    await import_customers(api, [ANA])
    rules = {
        "exit_rules": {"events": ["order.created"]},
        "goal": {"event": "order.created", "within_days": 7},
    }
    winback = await journey(api, WINBACK_CONFIG, WINBACK_CREATE["trigger_event"], **rules)
    order = {"after_days": 4, "event": "order.created", "data": {"total": 40}}
    body = {"customer_id": 1, "start_at": START, "events": [order]}
    result = await simulate(api, winback, body)
    assert [step["state"] for step in result["steps"]] == [
        "wait_2_days",
        "send_email",
        "wait_3_days",
    ]
    cut = result["steps"][2]
    assert cut["detail"] == "cut short at 2026-05-05T09:00:00Z, waiting until 2026-05-06T09:00:00Z"
    assert (cut["leftAt"], cut["event"]) == (T0 + 4 * DAY, None)
    assert (result["outcome"], result["endedIn"], result["endedAt"]) == (
        "exited",
        "wait_3_days",
        T0 + 4 * DAY,
    )
    assert result["note"] == "exit event order.created at day 4 cut wait_3_days short"
    assert result["goal"] == {
        "event": "order.created",
        "withinDays": 7,
        "converted": True,
        "at": T0 + 4 * DAY,
        "detail": "goal event order.created at day 4, within 7 days",
    }
    # At the very moment a wait ends, the wait ends first: the exit comes before the send.
    result = await simulate(api, winback, {**body, "events": [{**order, "after_days": 2}]})
    assert [step["state"] for step in result["steps"]] == ["wait_2_days"]
    assert (result["outcome"], result["endedIn"]) == ("exited", "send_email")
    assert result["note"] == "exit event order.created at day 2 ended the journey before send_email"
    # Past the goal's window: no conversion, and an exit only after the journey completed.
    late = {**order, "after_days": 8}
    result = await simulate(api, winback, {**body, "events": [late]})
    assert result["outcome"] == "completed"
    assert result["goal"]["converted"] is False


async def test_a_described_customer(api):
    vip = await journey(api, VIP_BRANCH_CONFIG)
    zoe = {
        "email": "zoe@example.com",
        "attributes": {"first_name": "Zoë", "account": {"classification": "vip"}},
    }
    result = await simulate(api, vip, {"customer": zoe, "event": {"id": "acct-9"}})
    assert (result["customerId"], result["executionId"]) == (None, f"journey-{vip}-event-acct-9")
    message = result["steps"][1]["message"]
    assert (message["to"], message["body"]) == (
        ["zoe@example.com"],
        "Dear Zoë,\n\nAs a VIP you get early access this week.\n",
    )
    unsubscribed = {**zoe, "subscriptions": {"email": "unsubscribed"}}
    result = await simulate(api, vip, {"customer": unsubscribed})
    assert result["steps"][1]["detail"] == "message skipped: unsubscribed"


def waiting_for(segment_id):
    """A journey's config that waits for the customer to be in the segment."""
    wait = {"meta": {"type": "wait_for_condition", "include": [segment_id]}, "on": {"DONE": "end"}}
    return {"initial": "wait_in", "states": {"wait_in": wait, "end": {"type": "final"}}}


async def test_segments_by_time_move_a_wait_for_condition(api):
    await import_customers(api, [ANA, BEN])  # Ana is gold (segment 12), Ben is not
    gold = await journey(api, waiting_for(12))
    # Ana's membership is read from the database: she matches at once.
    ana = await simulate(api, gold, {"customer_id": 1, "start_at": START})
    assert ana["steps"][0]["detail"] == (
        "customer matched the segments at once: in segment 12 from the start"
    )
    joins = {"customer_id": 2, "start_at": START, "segments": [{"segment_id": 12, "after_days": 2}]}
    ben = await simulate(api, gold, joins)
    assert ben["steps"][0]["detail"] == (
        "customer matched the segments at day 2: in segment 12 from day 2"
    )
    assert ben["steps"][1]["enteredAt"] == T0 + 2 * DAY
    never = await simulate(api, gold, {"customer_id": 2, "start_at": START})
    assert (never["outcome"], never["endedIn"], never["endedAt"]) == ("waiting", "wait_in", T0)
    assert never["note"].startswith(
        "waits at wait_in from day 0 for ever: the customer is never in segment 12"
    )
    # A static segment's members are read from the database too.
    listed = await api.post(f"/places/{PLACE}/segments", json={"name": "Ben", "customer_ids": [2]})
    static = only(listed.json(), "targeting_segment")["id"]
    on_list = await simulate(api, await journey(api, waiting_for(static)), {"customer_id": 2})
    assert on_list["steps"][0]["detail"] == (
        f"customer matched the segments at once: in segment {static} from the start"
    )


async def test_create_campaign_says_what_it_would_clone_and_nothing_is_written(
    api, clean_engine: AsyncEngine
):
    await import_customers(api, [ANA])
    config = {
        "initial": "gift",
        "states": {
            "gift": {"meta": {"type": "create_campaign", "campaignId": 55}, "on": {"DONE": "mail"}},
            "mail": {"meta": {"type": "send_email", "templateId": 5}, "on": {"DONE": "end"}},
            "end": {"type": "final"},
        },
    }
    journey_id = await journey(api, config)
    with statements(clean_engine) as seen:
        result = await simulate(api, journey_id, {"customer_id": 1})
    gift = result["steps"][0]
    assert gift["campaign"] == {"campaignId": 55, "name": "Birthday reward"}
    assert gift["detail"].startswith("campaign 55 (Birthday reward) would be cloned")
    assert result["steps"][1]["message"]["status"] == "sent"
    writes = [s for s in seen if s.split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]
    assert writes == []
    assert not any("BEGIN IMMEDIATE" in s for s in seen)  # SQLite's write lock: never taken
    assert (await api.get(f"/places/{PLACE}/messages")).json()["meta"]["total"] == 0
    campaigns = await api.get(f"/places/{PLACE}/campaigns?customer_id=1")
    assert campaigns.json()["meta"]["total"] == 0


async def test_quiet_hours_hold_a_marketing_message(api):
    settings = {"timezone": "UTC", "quiet_hours": {"start": "21:00", "end": "08:00"}}
    assert (await api.put(f"/places/{PLACE}/settings", json=settings)).status_code == 200
    vip = await journey(api, VIP_BRANCH_CONFIG)
    body = {"customer": {"email": "zoe@example.com"}, "start_at": "2026-05-01T22:30:00Z"}
    result = await simulate(api, vip, body)
    send = result["steps"][1]
    assert send["detail"] == "message sent after quiet hours until 2026-05-02T08:00:00Z"
    assert send["leftAt"] == int(datetime(2026, 5, 2, 8, tzinfo=UTC).timestamp())


async def test_the_frequency_cap_counts_the_simulated_messages(api):
    caps = {"frequency_caps": {"email": {"max": 1, "per_days": 7}}}
    assert (await api.put(f"/places/{PLACE}/settings", json=caps)).status_code == 200
    body = {"customer": {"email": "zoe@example.com"}, "start_at": START, "max_steps": 5}
    result = await simulate(api, await journey(api, LOOP), body)
    first, second = (step for step in result["steps"] if step["state"] == "nudge")
    assert (first["detail"], second["detail"]) == ("message sent", "message skipped: frequency_cap")


async def test_bad_requests_name_the_field(api):
    await import_customers(api, [ANA])
    vip = await journey(api, VIP_BRANCH_CONFIG)
    url = f"{JOURNEYS}/{vip}/simulate"

    async def refused(body):
        response = await api.post(url, json=body)
        assert response.status_code == 422, response.text
        return problems(response.json())

    assert await refused({"customer_id": 1, "max_steps": 0}) == {"max_steps": "must be 1 or more"}
    assert await refused({"customer_id": 1, "max_steps": 1001}) == {
        "max_steps": "must be 1000 or less"
    }
    unknown = {"customer_id": 1, "segments": [{"segment_id": 4}, {"segment_id": 99_999}]}
    assert await refused(unknown) == {
        "segments.1.segment_id": "segment 99999 does not exist in this place"
    }
    both = {"customer_id": 1, "customer": {"email": "a@example.com"}}
    assert "customer_id" in await refused(both)
    assert await refused({"customer_id": 999}) == {
        "customer_id": "customer 999 does not exist in this place"
    }
    assert "start_at" in await refused({"customer_id": 1, "start_at": "2026-05-01T09:00:00"})
    other = {"customer_id": 1, "event": {"name": "order.created"}}
    assert "event.name" in await refused(other)
    empty = await api.post(JOURNEYS, json={"name": "Empty", "trigger_event": "order.created"})
    empty_id = only(empty.json(), "journey_definition")["id"]
    response = await api.post(f"{JOURNEYS}/{empty_id}/simulate", json={"customer_id": 1})
    assert response.status_code == 422
    assert "has no machine_config" in problems(response.json())["machine_config"]
    missing = await api.post(f"{JOURNEYS}/99999/simulate", json={"customer_id": 1})
    assert missing.status_code == 404


async def test_the_documented_example_works_as_given(api):
    await import_customers(api, [ANA])
    schemas = (await api.get("/openapi.json")).json()["components"]["schemas"]
    (example,) = schemas["SimulateRequest"]["examples"]
    winback = await journey(api, WINBACK_CONFIG, WINBACK_CREATE["trigger_event"])
    result = await simulate(api, winback, example)
    assert result["outcome"] == "completed"


async def test_a_clock_past_the_year_9999_ends_the_simulation(api):
    config = {
        "initial": "century",
        "states": {
            "century": {
                "meta": {"type": "wait_for_duration", "years": 100},
                "on": {"ELAPSED": "check"},
            },
            "check": {
                "meta": {"type": "condition", "attribute": "ordered", "operator": "exists"},
                "on": {"TRUE": "end", "FALSE": "century"},
            },
            "end": {"type": "final"},
        },
    }
    body = {"customer": {}, "start_at": "8999-06-01T00:00:00Z", "max_steps": 1000}
    result = await simulate(api, await journey(api, config), body)
    assert (result["outcome"], result["endedIn"]) == ("waiting", "century")
    assert "until after the year 9999" in result["note"]
    assert result["steps"][-1]["enteredAt"] == int(datetime(9999, 6, 1, tzinfo=UTC).timestamp())


THANK_OR_NUDGE = {
    "initial": "wait_order",
    "states": {
        "wait_order": {
            "meta": {"type": "wait_for_event", "event": "order.created", "days": 7},
            "on": {"RECEIVED": "thank", "TIMEOUT": "nudge"},
        },
        "thank": {"meta": {"type": "send_email", "templateId": 20}, "on": {"DONE": "done"}},
        "nudge": {"meta": {"type": "send_email", "templateId": 21}, "on": {"DONE": "done"}},
        "done": {"type": "final"},
    },
}


async def test_wait_for_event_receives_an_order_within_the_week_or_times_out(api):
    await import_customers(api, [ANA])
    journey_id = await journey(api, THANK_OR_NUDGE)
    order = {"event": "order.created", "after_days": 2, "data": {"total": 42}}
    ordered = await simulate(
        api, journey_id, {"customer_id": 1, "start_at": START, "events": [order]}
    )
    assert path(ordered) == [
        ("wait_order", 0, "RECEIVED"),
        ("thank", 2 * DAY, "DONE"),
        ("done", 2 * DAY, None),
    ]
    assert ordered["steps"][0]["detail"] == "received order.created at day 2"
    late = {**order, "after_days": 8}
    silent = await simulate(
        api, journey_id, {"customer_id": 1, "start_at": START, "events": [late]}
    )
    assert path(silent) == [
        ("wait_order", 0, "TIMEOUT"),
        ("nudge", 7 * DAY, "DONE"),
        ("done", 7 * DAY, None),
    ]
    assert silent["steps"][0]["detail"] == "no order.created by 2026-05-08T09:00:00Z"


async def test_a_split_takes_the_branch_the_execution_would(api):
    await import_customers(api, [ANA])
    config = {
        "initial": "ab",
        "states": {
            "ab": {
                "meta": {"type": "split", "branches": {"A": 50, "B": 50}},
                "on": {"A": "got_a", "B": "got_b"},
            },
            "got_a": {"type": "final"},
            "got_b": {"type": "final"},
        },
    }
    journey_id = await journey(api, config)
    seen = set()
    for event_id in ("e-1", "e-2", "e-3", "e-4", "e-5", "e-6"):
        body = {"customer_id": 1, "event": {"id": event_id}}
        result = await simulate(api, journey_id, body)
        step = SplitStep(type="split", branches=(("A", 50), ("B", 50)))
        branch, _ = split_branch(step, result["executionId"], "ab")
        assert result["steps"][0]["event"] == branch
        assert result["endedIn"] == f"got_{branch.lower()}"
        seen.add(branch)
    assert seen == {"A", "B"}
