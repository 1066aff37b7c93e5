"""Frequency caps, entry rules, exit rules and goals, end to end through the HTTP API.

The caps and the entry rules are races between concurrent requests settled by the database:
they run on SQLite and PostgreSQL; the rest is the engine's, and runs on SQLite."""

import asyncio

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata

from tests.fixtures.database import one_backend
from tests.helpers.api import PLACE, import_customers, only
from tests.helpers.journeys import (
    JOURNEYS,
    ONE_SMS,
    WAIT_FOR_GOLD,
    eventually,
    execution,
    finished_run,
    manual_journey,
    started_journey,
)
from tests.helpers.providers import TWILIO_PATH, twilio_created
from tests.workflows.replay import keep

pytestmark = [pytest.mark.e2e]

EVENTS = f"/places/{PLACE}/events"
# The built-in query the Temporal UI reads an execution's summary and details with.
TEMPORAL_METADATA = "__temporal_workflow_metadata"
WAIT_A_DAY = {
    "initial": "wait",
    "states": {
        "wait": {"meta": {"type": "wait_for_duration", "days": 1}, "on": {"ELAPSED": "done"}},
        "done": {"type": "final"},
    },
}


async def events_at_once(api, count, customer_id=7, event="order.created", prefix="e"):
    """POST `count` events for one customer concurrently; their answers."""
    bodies = [
        {"event": event, "customer_id": customer_id, "event_id": f"{prefix}-{i}"}
        for i in range(count)
    ]
    responses = await asyncio.gather(*(api.post(EVENTS, json=body) for body in bodies))
    for response in responses:
        assert response.status_code == 202, response.text
    return [response.json() for response in responses]


async def stats_when(engine, journey_id, check):
    """The journey's stats once `check` holds (visibility counts lag a moment)."""
    async with asyncio.timeout(20):
        while True:
            response = await engine.api.get(f"{JOURNEYS}/{journey_id}/stats")
            assert response.status_code == 200, response.text
            stats = only(response.json(), "journey_stats")
            if check(stats):
                return stats
            await asyncio.sleep(0.2)


async def rule_journey(api, config, trigger="order.created", **rules):
    create = {"name": "Rules", "trigger_event": trigger, **rules}
    return await started_journey(api, create, config)


async def test_a_cap_of_two_a_day_lets_exactly_two_of_five_concurrent_sends_through(
    engine_under_test, http
):
    engine = engine_under_test
    http.route("POST", TWILIO_PATH, twilio_created)
    caps = {"frequency_caps": {"sms": {"max": 2, "per_days": 1}}}
    assert (await engine.api.put(f"/places/{PLACE}/settings", json=caps)).status_code == 200
    await engine.api.put(f"/places/{PLACE}/customers/7", json={"phone": "+14155550123"})
    await rule_journey(engine.api, ONE_SMS)

    answers = await events_at_once(engine.api, 5)
    ids = [execution_id for answer in answers for execution_id in answer["executions"]]
    assert len(ids) == 5
    await asyncio.gather(*(engine.execution_result(i) for i in ids))

    messages = await engine.messages()
    outcomes = sorted((m["status"], m["reason"]) for m in messages)
    assert outcomes == [("sent", None)] * 2 + [("skipped", "frequency_cap")] * 3
    assert len(http.received(TWILIO_PATH)) == 2  # counted at the provider


async def test_never_lets_a_customer_in_once_even_under_twenty_concurrent_events(
    engine_under_test,
):
    engine = engine_under_test
    journey_id = await rule_journey(engine.api, ONE_SMS, entry_rules={"reentry": "never"})
    shown = only((await engine.api.get(f"{JOURNEYS}/{journey_id}")).json(), "journey_definition")
    assert shown["entryRules"] == {"reentry": "never"}

    answers = await events_at_once(engine.api, 20)
    assert sum(answer["triggered"] for answer in answers) == 1
    kept_out = [answer for answer in answers if answer["triggered"] == 0]
    assert len(kept_out) == 19
    for answer in kept_out:
        (skipped,) = answer["skipped"]
        assert skipped["journeyId"] == journey_id and "never" in skipped["reason"]
    # A repeated event id answers as the first time.
    again = await engine.api.post(
        EVENTS,
        json={"event": "order.created", "customer_id": 7, "event_id": kept_out[0]["eventId"]},
    )
    assert again.json() == kept_out[0]
    # Another customer gets in once too.
    (other,) = await events_at_once(engine.api, 1, customer_id=8, prefix="other")
    assert other["triggered"] == 1


async def test_after_exit_keeps_a_customer_out_while_their_execution_runs(engine_under_test):
    engine = engine_under_test
    journey_id = await rule_journey(engine.api, WAIT_A_DAY, entry_rules={"reentry": "after_exit"})
    answers = await events_at_once(engine.api, 20)
    (entered,) = [answer for answer in answers if answer["triggered"] == 1]
    assert sum(answer["triggered"] for answer in answers) == 1
    (execution_id,) = entered["executions"]

    (later,) = await events_at_once(engine.api, 1, prefix="later")
    assert later["triggered"] == 0 and "after_exit" in later["skipped"][0]["reason"]

    cancel = f"{JOURNEYS}/{journey_id}/executions/{execution_id}/cancel"
    assert (await engine.api.post(cancel)).status_code == 200
    # The execution releases the customer as it ends.
    async with asyncio.timeout(20):
        while True:
            (after,) = await events_at_once(engine.api, 1, prefix=f"after-{id(object())}")
            if after["triggered"] == 1:
                break
            await asyncio.sleep(0.2)
    await keep(engine.client.get_workflow_handle(execution_id), "after-exit-released-on-cancel")


async def test_after_seconds_lets_a_customer_in_again_only_after_the_interval(engine_under_test):
    engine = engine_under_test
    await rule_journey(engine.api, ONE_SMS, entry_rules={"reentry": {"after_seconds": 3}})
    answers = await events_at_once(engine.api, 20)
    assert sum(answer["triggered"] for answer in answers) == 1
    skipped = next(answer for answer in answers if answer["triggered"] == 0)["skipped"][0]
    assert "less than 3 s ago" in skipped["reason"]
    await asyncio.sleep(3.5)
    answers = await events_at_once(engine.api, 20, prefix="later")
    assert sum(answer["triggered"] for answer in answers) == 1


@one_backend
async def test_a_manual_run_skips_customers_a_never_journey_has_had(engine_under_test):
    engine = engine_under_test
    journey_id = await manual_journey(engine.api, "Once", ONE_SMS)
    rules = {"entry_rules": {"reentry": "never"}}
    assert (await engine.api.put(f"{JOURNEYS}/{journey_id}", json=rules)).status_code == 200
    await import_customers(engine.api, [{"id": i, "phone": "+14155550123"} for i in (1, 2, 3)])
    segment = await engine.api.post(
        f"/places/{PLACE}/segments",
        json={"name": "Three", "customer_ids": [1, 2, 3]},
    )
    segment_id = only(segment.json(), "targeting_segment")["id"]
    answers = []
    for _ in range(2):
        response = await engine.api.post(
            f"{JOURNEYS}/{journey_id}/run", json={"include_segment_ids": [segment_id]}
        )
        assert response.status_code == 200, response.text
        answers.append(response.json())
        run = await finished_run(engine.api, journey_id, answers[-1]["runId"])
    first = await finished_run(engine.api, journey_id, answers[0]["runId"])
    assert answers[0]["triggered"] == 3 and "skipped" not in answers[0]
    assert (answers[1]["triggered"], answers[1]["skipped"]) == (0, 3)
    assert (first["started"], first["skipped"]) == (3, 0)
    assert (run["started"], run["skipped"]) == (0, 3)


@one_backend
async def test_an_exit_event_ends_executions_waiting_in_either_kind_of_wait(engine_under_test):
    engine = engine_under_test
    exit_rules = {"events": ["order.created"]}
    timed = await rule_journey(engine.api, WAIT_A_DAY, "account.created", exit_rules=exit_rules)
    gold = await rule_journey(engine.api, WAIT_FOR_GOLD, "account.created", exit_rules=exit_rules)
    started = await engine.api.post(
        EVENTS, json={"event": "account.created", "customer_id": 7, "event_id": "joined"}
    )
    executions = dict(zip((timed, gold), started.json()["executions"], strict=True))
    for journey_id, execution_id in executions.items():
        await eventually(
            engine,
            f"{JOURNEYS}/{journey_id}/executions?status=running",
            lambda items, e=execution_id: e in items,
        )
    # Another customer's executions are not touched.
    other = await engine.api.post(
        EVENTS, json={"event": "account.created", "customer_id": 8, "event_id": "other"}
    )

    exit_event = {"event": "order.created", "customer_id": 7, "event_id": "order-1"}
    assert (await engine.api.post(EVENTS, json=exit_event)).status_code == 202
    for journey_id, execution_id in executions.items():
        result = await engine.execution_result(execution_id)
        state = "wait" if journey_id == timed else "wait_gold"
        assert (result.exited_at, result.final_state) == (state, None)
        shown = await execution(engine, journey_id, execution_id)
        assert shown["status"] == "completed"
        assert shown["exitedAt"] == state
        assert shown["exitReason"] == "exit event order.created (event order-1)"
        assert shown["steps"][-1]["detail"].startswith("cut short")
        # What the Temporal UI shows as the execution's current details.
        handle = engine.client.get_workflow_handle(execution_id)
        shown_in_ui = await handle.query(TEMPORAL_METADATA, result_type=WorkflowMetadata)
        reason = "exit event order.created (event order-1)"
        assert shown_in_ui.current_details == f"**Exited** at {state}: {reason}"
        stats = await stats_when(engine, journey_id, lambda s, w=state: s["states"][w]["exited"])
        assert stats["states"][state]["exited"] == 1
        await keep(engine.client.get_workflow_handle(execution_id), f"exited-{state}")
    for execution_id in other.json()["executions"]:
        described = await engine.client.get_workflow_handle(execution_id).describe()
        assert described.status.name == "RUNNING"


@one_backend
async def test_an_exit_event_later_in_the_same_batch_ends_what_an_earlier_one_started(
    engine_under_test,
):
    engine = engine_under_test
    exit_rules = {"events": ["order.created"]}
    journey_id = await rule_journey(
        engine.api, WAIT_A_DAY, "account.created", exit_rules=exit_rules
    )
    batch = {
        "events": [
            {"event": "account.created", "customer_id": 7, "event_id": "joined"},
            {"event": "order.created", "customer_id": 7, "event_id": "ordered"},
        ]
    }
    answer = await engine.api.post(EVENTS, json=batch)
    assert answer.status_code == 202, answer.text
    (execution_id,) = answer.json()["events"][0]["executions"]
    result = await engine.execution_result(execution_id)
    assert result.exited_at == "wait"
    shown = await execution(engine, journey_id, execution_id)
    assert shown["exitReason"] == "exit event order.created (event ordered)"


@one_backend
async def test_goal_conversions_are_counted_per_journey_and_per_state(engine_under_test, http):
    engine = engine_under_test
    http.route("POST", TWILIO_PATH, twilio_created)
    goal = {"event": "order.created", "within_days": 7}
    journey_id = await rule_journey(engine.api, ONE_SMS, "account.created", goal=goal)
    ids = []
    for customer_id in (7, 8, 9, 10):
        await engine.api.put(
            f"/places/{PLACE}/customers/{customer_id}", json={"phone": "+14155550123"}
        )
        response = await engine.api.post(
            EVENTS,
            json={
                "event": "account.created",
                "customer_id": customer_id,
                "event_id": f"j{customer_id}",
            },
        )
        ids += response.json()["executions"]
    await asyncio.gather(*(engine.execution_result(i) for i in ids))
    await eventually(
        engine,
        f"{JOURNEYS}/{journey_id}/executions?status=completed",
        lambda items: len(items) == 4,
    )
    for event_id in ("o1", "o1-again", "o2"):
        body = {"event": "order.created", "customer_id": 7, "event_id": event_id}
        assert (await engine.api.post(EVENTS, json=body)).status_code == 202
    body = {"event": "order.created", "customer_id": 8, "event_id": "o3"}
    assert (await engine.api.post(EVENTS, json=body)).status_code == 202
    # A goal event dated far in the future converts nothing, and fails nothing.
    late = {"event": "order.created", "customer_id": 9, "event_id": "o4", "occurred_at": 2**40}
    assert (await engine.api.post(EVENTS, json=late)).status_code == 202

    stats = await stats_when(engine, journey_id, lambda s: s["executions"]["completed"] == 4)
    assert stats["goal"] == {
        "event": "order.created",
        "withinDays": 7,
        "converted": 2,  # each execution once, however many orders
        "rate": 0.5,
    }
    assert stats["states"]["sms"]["conversions"] == 2
    assert stats["states"]["sms"]["conversionRate"] == 0.5
