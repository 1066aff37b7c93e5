"""The pure `machineConfig` parser, driven by generated configs.

The strategies `valid_configs` and `broken_configs` are shared with tests/api.
"""

import pytest
from hypothesis import given, settings

from journeys.errors import Invalid
from tests.helpers.machines import FINAL, assert_names, broken_configs, valid_configs
from workflows.model import parse_machine_config, read_machine_config
from workflows.model.machine import (
    MAX_NAME,
    WaitForDurationStep,
)

# --- Tests -------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(valid_configs(refs=True))
def test_generated_valid_configs_parse(config):
    parsed = parse_machine_config(config)
    # The model holds what the config says: same states, same transitions, same finals.
    assert parsed.initial == config["initial"]
    assert list(parsed.states) == list(config["states"])
    for name, state in config["states"].items():
        assert parsed.states[name].final is (state == FINAL)
        assert parsed.states[name].on == state.get("on", {})
        step = parsed.states[name].step
        if step is not None:
            assert step.type == state["meta"]["type"]


@settings(max_examples=300, deadline=None)
@given(broken_configs())
def test_generated_configs_with_one_rule_broken_are_rejected(broken):
    config, paths, word = broken
    with pytest.raises(Invalid) as raised:
        parse_machine_config(config)
    assert_names([{"path": i.path, "message": i.message} for i in raised.value.issues], paths, word)


def test_a_wait_free_cycle_is_refused_even_beside_a_waiting_one():
    # a -> c -> a never waits, although a -> b -> e -> a (through the wait b) does.
    config = {
        "initial": "a",
        "states": {
            "a": {
                "meta": {"type": "condition", "attribute": "x", "operator": "exists"},
                "on": {"TRUE": "b", "FALSE": "c"},
            },
            "b": {"meta": {"type": "wait_for_duration", "days": 1}, "on": {"ELAPSED": "e"}},
            "e": {
                "meta": {"type": "condition", "attribute": "y", "operator": "exists"},
                "on": {"TRUE": "a", "FALSE": "done"},
            },
            "c": {"meta": {"type": "send_email", "templateId": 1}, "on": {"DONE": "a"}},
            "done": FINAL,
        },
    }
    with pytest.raises(Invalid) as raised:
        parse_machine_config(config)
    (issue,) = raised.value.issues
    assert issue.path == "machine_config.states.a"
    assert "the loop through a, c has no wait step" in issue.message


@pytest.mark.parametrize("kind", [[], {}, ["send_email"], 5, None])
def test_a_step_type_that_is_not_a_string_is_an_issue_not_a_crash(kind):
    config = {
        "initial": "s",
        "states": {"s": {"meta": {"type": kind}, "on": {"DONE": "d"}}, "d": FINAL},
    }
    with pytest.raises(Invalid) as raised:
        parse_machine_config(config)
    assert [i.path for i in raised.value.issues] == ["machine_config.states.s.meta.type"]


@settings(max_examples=200, deadline=None)
@given(valid_configs())
def test_the_interpreter_reads_a_valid_config_as_the_api_parses_it(config):
    assert read_machine_config(config) == parse_machine_config(config)


def test_the_interpreter_reads_a_snapshot_todays_rules_refuse():
    long_name = "s" * (MAX_NAME + 1)
    snapshot = {
        "initial": long_name,
        "states": {
            long_name: {
                "meta": {"type": "condition", "attribute": "tier", "operator": "eq", "extra": 1},
                "on": {"TRUE": "far", "FALSE": "far"},
            },
            "far": {"meta": {"type": "wait_for_duration", "years": 500}, "on": {"ELAPSED": "end"}},
            "end": FINAL,
            "unreached": FINAL,
        },
    }
    with pytest.raises(Invalid):
        parse_machine_config(snapshot)
    config = read_machine_config(snapshot)
    assert config.initial == long_name
    assert config.states["far"].step == WaitForDurationStep(type="wait_for_duration", years=500)
    assert config.states["unreached"].final


@pytest.mark.parametrize(
    "snapshot",
    [
        None,
        {"initial": "a"},
        {"initial": "missing", "states": {"a": FINAL}},
        {"initial": "a", "states": {"a": {"on": {"DONE": "a"}}}},
        {"initial": "a", "states": {"a": {"meta": {"type": "teleport"}, "on": {}}}},
        {"initial": "a", "states": {"a": {"meta": {"type": "send_email"}, "on": {"DONE": "b"}}}},
        {"initial": "a", "states": {"a": {"meta": {"type": "condition"}, "on": {}}, "b": FINAL}},
    ],
)
def test_a_snapshot_without_a_walkable_structure_is_a_value_error(snapshot):
    with pytest.raises(ValueError):
        read_machine_config(snapshot)
