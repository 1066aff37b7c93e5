"""`split`: weighted branches chosen by a hash of the execution id and state — spread by the
weights, the same on replay, counted per branch (with conversions) in the stats."""

import asyncio
from collections import Counter

import pytest

from orchestration import launcher
from tests.helpers.api import PLACE
from tests.helpers.journeys import execution_steps, one_step_problems, started_journey
from tests.workflows.replay import keep
from tests.workflows.test_journey_rules import EVENTS, stats_when
from workflows.model.interpreter import split_branch
from workflows.model.machine import SplitStep

WEIGHTS = {"A": 45, "B": 45, "CONTROL": 10}
SPLIT = {
    "initial": "experiment",
    "states": {
        "experiment": {
            "meta": {"type": "split", "branches": WEIGHTS},
            "on": {"A": "got_a", "B": "got_b", "CONTROL": "holdout"},
        },
        "got_a": {"type": "final"},
        "got_b": {"type": "final"},
        "holdout": {"type": "final"},
    },
}
ENDS = {"A": "got_a", "B": "got_b", "CONTROL": "holdout"}


def test_ten_thousand_executions_land_within_two_percent_of_the_weights():
    step = SplitStep(type="split", branches=tuple(WEIGHTS.items()))
    # Execution ids as events name them: one journey, one event per customer.
    taken = Counter(
        split_branch(step, launcher.event_execution_id(31, f"signup-{i}"), "experiment")[0]
        for i in range(10_000)
    )
    for branch, weight in WEIGHTS.items():
        assert abs(taken[branch] / 10_000 - weight / 100) <= 0.02, taken
    # Deterministic: the same execution and state always take the same branch.
    again = [split_branch(step, f"x-{i}", "experiment") for i in range(200)]
    assert again == [split_branch(step, f"x-{i}", "experiment") for i in range(200)]
    # A branch of weight 0 is never taken.
    paused = SplitStep(type="split", branches=(("A", 1), ("B", 0)))
    assert {split_branch(paused, f"x-{i}", "s")[0] for i in range(500)} == {"A"}


@pytest.mark.parametrize(
    ("branches", "on", "path", "words"),
    [
        ({"A": 100}, {"A": "done"}, "meta.branches", "2 to 10 branch names"),
        ([50, 50], {"A": "done"}, "meta.branches", "2 to 10 branch names"),
        ({"A": 50, "B": -1}, {"A": "done", "B": "done"}, "meta.branches.B", "0 to 10000"),
        ({"A": 50, "B": 1.5}, {"A": "done", "B": "done"}, "meta.branches.B", "whole number"),
        ({"A": 50, "B": "50"}, {"A": "done", "B": "done"}, "meta.branches.B", "whole number"),
        ({"A": 0, "B": 0}, {"A": "done", "B": "done"}, "meta.branches", "add up to 0"),
        ({"A": 1, "b c": 1}, {"A": "done", "b c": "done"}, "meta.branches.b c", "a letter"),
        ({"A": 50, "B": 50}, {"A": "done"}, "on", "must handle B"),
        ({"A": 50, "B": 50}, {"A": "done", "B": "done", "C": "done"}, "on.C", "never sends C"),
        ({"A": 50, "B": 50}, {"A": "done", "B": "nowhere"}, "on.B", "names no state"),
    ],
)
async def test_bad_splits_name_the_field(api, branches, on, path, words):
    problems = await one_step_problems(api, {"type": "split", "branches": branches}, on)
    assert words in problems[path], problems


@pytest.mark.e2e
async def test_a_split_spreads_executions_and_the_stats_read_each_branch(engine_under_test):
    engine = engine_under_test
    goal = {"event": "order.created", "within_days": 7}
    create = {"name": "A/B", "trigger_event": "account.created", "goal": goal}
    journey_id = await started_journey(engine.api, create, SPLIT)
    customers = range(1, 41)
    bodies = [
        {"event": "account.created", "customer_id": i, "event_id": f"joined-{i}"} for i in customers
    ]
    answers = await asyncio.gather(*(engine.api.post(EVENTS, json=body) for body in bodies))
    ids = [answer.json()["executions"][0] for answer in answers]
    results = await asyncio.gather(*(engine.execution_result(i) for i in ids))

    step = SplitStep(type="split", branches=tuple(WEIGHTS.items()))
    expected = [split_branch(step, execution_id, "experiment")[0] for execution_id in ids]
    assert [result.final_state for result in results] == [ENDS[b] for b in expected]
    steps = await execution_steps(engine, journey_id, ids[0])
    assert steps[0]["event"] == expected[0]
    assert steps[0]["detail"].startswith(f"branch {expected[0]} (point ")

    # The even customers reach the goal.
    for i in customers[1::2]:
        body = {"event": "order.created", "customer_id": i, "event_id": f"order-{i}"}
        assert (await engine.api.post(f"/places/{PLACE}/events", json=body)).status_code == 202
    taken = Counter(expected)
    converted = Counter(b for i, b in zip(customers, expected, strict=True) if i % 2 == 0)
    stats = await stats_when(engine, journey_id, lambda s: s["executions"]["completed"] == len(ids))
    branches = stats["states"]["experiment"]["branches"]
    for branch, weight in WEIGHTS.items():
        shown = branches[branch]
        assert shown["weight"] == weight
        assert shown["entered"] == taken[branch]
        assert shown["conversions"] == converted[branch]
        if taken[branch]:
            assert shown["conversionRate"] == round(converted[branch] / taken[branch], 4)
    assert stats["states"]["experiment"]["entered"] == len(ids)
    assert stats["goal"]["converted"] == len(customers) // 2
    # Other states show no branches.
    assert "branches" not in stats["states"]["got_a"]
    await keep(engine.client.get_workflow_handle(ids[0]), "split")
