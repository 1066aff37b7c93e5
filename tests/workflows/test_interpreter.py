"""The interpreter walks the spec's examples the way the spec reads them."""

import pytest

from tests.spec_examples import VIP_BRANCH_CONFIG, WAIT_THEN_SMS_CONFIG, WINBACK_CONFIG
from workflows.model import parse_machine_config
from workflows.model.interpreter import event_after, next_state


def walk(raw, outcomes=()):
    config = parse_machine_config(raw)
    outcomes = iter(outcomes)
    state, path = config.initial, []
    while not config.states[state].final:
        step = config.states[state].step
        outcome = next(outcomes) if step is not None and step.type == "condition" else None
        path.append((state, event_after(config, state, outcome)))
        state = next_state(config, state, outcome)
    return [*path, (state, None)]


def test_wait_then_sms():
    assert walk(WAIT_THEN_SMS_CONFIG) == [("wait", "ELAPSED"), ("send_sms", "DONE"), ("done", None)]


def test_vip_branch_both_ways():
    assert walk(VIP_BRANCH_CONFIG, [True]) == [
        ("check_vip", "TRUE"),
        ("send_vip_email", "DONE"),
        ("done", None),
    ]
    assert walk(VIP_BRANCH_CONFIG, [False])[1] == ("send_standard_email", "DONE")


def test_winback():
    assert [state for state, _ in walk(WINBACK_CONFIG)] == [
        "wait_2_days",
        "send_email",
        "wait_3_days",
        "send_sms",
        "done",
    ]


def test_a_condition_needs_its_outcome():
    config = parse_machine_config(VIP_BRANCH_CONFIG)
    with pytest.raises(ValueError):
        next_state(config, "check_vip")
