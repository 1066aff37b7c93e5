"""The structural rules of a machineConfig, through the HTTP API.

A config that breaks a rule is refused with a 422 naming the exact path, on create and on
update, and changes nothing; configs on the allowed side of each rule, and generated valid
configs, are stored and returned exactly as sent.
"""

import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.db import session_factory
from store.tables import Campaign, Segment, Template
from tests.helpers.api import PLACE, only
from tests.helpers.machines import assert_names, broken_configs, valid_configs

BASE = f"/places/{PLACE}/journeys"
KIND = "journey_definition"
MC = "machine_config"
S = f"{MC}.states"
FINAL = {"type": "final"}
HYPOTHESIS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def machine(states: dict[str, Any], initial: str | None = None) -> dict[str, Any]:
    """A config starting at the first state (or `initial`), with a final state "done"."""
    return {"initial": initial or next(iter(states)), "states": {**states, "done": FINAL}}


def send(to: str = "done", **meta: Any) -> dict[str, Any]:
    return {"meta": {"type": "send_email", "templateId": 5, **meta}, "on": {"DONE": to}}


def wait(on: dict[str, str] | None = None, **units: Any) -> dict[str, Any]:
    return {"meta": {"type": "wait_for_duration", **units}, "on": on or {"ELAPSED": "done"}}


def check(true: str = "done", false: str = "done", **meta: Any) -> dict[str, Any]:
    meta = {"type": "condition", "attribute": "tier", "operator": "eq", "value": "vip", **meta}
    return {"meta": meta, "on": {"TRUE": true, "FALSE": false}}


def step(meta: dict[str, Any], **on: str) -> dict[str, Any]:
    return {"meta": meta, "on": on or {"DONE": "done"}}


Case = tuple[str, Any, list[tuple[str, str]]]


def case(case_id: str, config: Any, *expected: tuple[str, str]) -> Case:
    """A broken config and the (path, words in the message) of each detail, in order."""
    return case_id, config, list(expected)


INVALID = [
    # initial exists
    case("initial-missing", {"states": {"done": FINAL}}, (f"{MC}.initial", "is required")),
    case(
        "initial-unknown",
        machine({"send": send()}, initial="nowhere"),
        (f"{MC}.initial", "names no state: 'nowhere'"),
    ),
    case(
        "initial-not-a-string",
        {"initial": ["send"], "states": {"done": FINAL}},
        (f"{MC}.initial", "must be a state name (a string), not a list"),
    ),
    # every `on` target exists
    case(
        "target-unknown",
        machine({"send": send(to="ghost")}),
        (f"{S}.send.on.DONE", "names no state: 'ghost' is not in states"),
    ),
    case(
        "target-not-a-string",
        machine({"send": {"meta": {"type": "send_sms", "templateId": 5}, "on": {"DONE": 7}}}),
        (f"{S}.send.on.DONE", "must be a state name, not a number"),
    ),
    # a non-final state has meta
    case(
        "meta-missing",
        machine({"send": {"on": {"DONE": "done"}}}),
        (f"{S}.send.meta", 'is required (or mark a final state with "type": "final")'),
    ),
    case(
        "meta-not-an-object",
        machine({"send": {"meta": "send_email", "on": {"DONE": "done"}}}),
        (f"{S}.send.meta", "must be an object with a type, not a string"),
    ),
    case(
        "meta-type-unknown",
        machine({"send": send(type="send_fax")}),
        (f"{S}.send.meta.type", "must be one of send_email, send_sms"),
    ),
    case(
        "meta-type-not-a-string",
        machine({"send": send(type=["send_email"])}),
        (f"{S}.send.meta.type", "must be one of"),
    ),
    case(
        "step-type-outside-meta",
        machine({"send": {"type": "send_email", "templateId": 5, "on": {"DONE": "done"}}}),
        (f"{S}.send.type", "a step's type goes in meta.type"),
    ),
    case(
        "state-unknown-key",
        machine({"send": {**send(), "next": "done"}}),
        (f"{S}.send.next", "unknown key; a step has meta and on"),
    ),
    # final states have no meta / on
    case(
        "final-with-meta",
        {"initial": "done", "states": {"done": {"type": "final", "meta": {"type": "send_sms"}}}},
        (f"{S}.done.meta", 'a final state has only "type": "final"'),
    ),
    case(
        "final-with-on",
        {"initial": "done", "states": {"done": {"type": "final", "on": {"DONE": "done"}}}},
        (f"{S}.done.on", 'a final state has only "type": "final"'),
    ),
    # each type's transition events, exactly
    case(
        "on-missing",
        machine({"send": {"meta": {"type": "send_email", "templateId": 5}}}),
        (f"{S}.send.on", "is required: a send_email step moves on with DONE"),
    ),
    case(
        "on-not-an-object",
        machine({"send": {"meta": {"type": "send_email", "templateId": 5}, "on": ["done"]}}),
        (f"{S}.send.on", "must be an object mapping DONE to a state, not a list"),
    ),
    case(
        "send-moves-on-with-elapsed",
        machine({"send": {**send(), "on": {"ELAPSED": "done"}}}),
        (f"{S}.send.on", "must handle DONE"),
        (f"{S}.send.on.ELAPSED", "a send_email step never sends ELAPSED; it sends DONE"),
    ),
    case(
        "wait-moves-on-with-done",
        machine({"wait": wait(on={"DONE": "done"}, days=3)}),
        (f"{S}.wait.on", "must handle ELAPSED"),
        (f"{S}.wait.on.DONE", "a wait_for_duration step never sends DONE; it sends ELAPSED"),
    ),
    case(
        "condition-without-false",
        machine({"check": {**check(), "on": {"TRUE": "done"}}}),
        (f"{S}.check.on", "must handle FALSE: a condition step moves on with TRUE and FALSE"),
    ),
    case(
        "condition-without-true",
        machine({"check": {**check(), "on": {"FALSE": "done"}}}),
        (f"{S}.check.on", "must handle TRUE"),
    ),
    case(
        "condition-with-done-too",
        machine({"check": {**check(), "on": {"TRUE": "done", "FALSE": "done", "DONE": "done"}}}),
        (f"{S}.check.on.DONE", "a condition step never sends DONE"),
    ),
    case(
        "send-with-extra-event",
        machine({"send": {**send(), "on": {"DONE": "done", "TIMEOUT": "done"}}}),
        (f"{S}.send.on.TIMEOUT", "never sends TIMEOUT"),
    ),
    case(
        "wait-for-condition-moves-on-with-elapsed",
        machine({"segs": step({"type": "wait_for_condition", "include": [1]}, ELAPSED="done")}),
        (f"{S}.segs.on", "must handle DONE"),
        (f"{S}.segs.on.ELAPSED", "never sends ELAPSED"),
    ),
    case(
        "create-campaign-moves-on-with-true",
        machine({"camp": step({"type": "create_campaign", "campaignId": 1}, TRUE="done")}),
        (f"{S}.camp.on", "must handle DONE"),
        (f"{S}.camp.on.TRUE", "never sends TRUE"),
    ),
    # templateId xor templateRef, campaignId xor campaignRef; refs only via recommendations
    case(
        "template-neither",
        machine({"send": step({"type": "send_sms"})}),
        (f"{S}.send.meta.templateId", "give exactly one of templateId"),
    ),
    case(
        "template-both",
        machine({"send": send(templateRef="welcome")}),
        (f"{S}.send.meta.templateId", "give exactly one of templateId"),
    ),
    case(
        "template-ref-in-own-config",
        machine({"send": step({"type": "send_push_notification", "templateRef": "welcome"})}),
        (f"{S}.send.meta.templateRef", "resolved only when a recommendation is accepted"),
    ),
    case(
        "template-ref-blank",
        machine({"send": step({"type": "send_email", "templateRef": " "})}),
        (f"{S}.send.meta.templateRef", "must be a non-empty string"),
    ),
    case(
        "campaign-neither",
        machine({"camp": step({"type": "create_campaign"})}),
        (f"{S}.camp.meta.campaignId", "give exactly one of campaignId"),
    ),
    case(
        "campaign-both",
        machine({"camp": step({"type": "create_campaign", "campaignId": 1, "campaignRef": "c"})}),
        (f"{S}.camp.meta.campaignId", "give exactly one of campaignId"),
    ),
    case(
        "campaign-ref-in-own-config",
        machine({"camp": step({"type": "create_campaign", "campaignRef": "spring"})}),
        (f"{S}.camp.meta.campaignRef", "resolved only when a recommendation is accepted"),
    ),
    # ids are positive integers (within 64 bits; not booleans, strings or floats)
    case(
        "template-id-string",
        machine({"send": send(templateId="5")}),
        (f"{S}.send.meta.templateId", "must be a positive integer, not a string"),
    ),
    case(
        "template-id-huge",
        machine({"send": send(templateId=2**70)}),
        (f"{S}.send.meta.templateId", "must be a positive integer (1 to"),
    ),
    case(
        "template-id-negative",
        machine({"send": send(templateId=-5)}),
        (f"{S}.send.meta.templateId", "must be a positive integer"),
    ),
    case(
        "template-id-boolean",
        machine({"send": send(templateId=True)}),
        (f"{S}.send.meta.templateId", "not a boolean"),
    ),
    case(
        "campaign-id-float",
        machine({"camp": step({"type": "create_campaign", "campaignId": 1.0})}),
        (f"{S}.camp.meta.campaignId", "not a number"),
    ),
    # durations: non-negative integers, at least one unit
    case(
        "duration-negative",
        machine({"wait": wait(days=-1)}),
        (f"{S}.wait.meta.days", "must be a non-negative integer, not -1"),
    ),
    case(
        "duration-fraction",
        machine({"wait": wait(hours=1.5)}),
        (f"{S}.wait.meta.hours", "must be a non-negative integer, not 1.5"),
    ),
    case(
        "duration-boolean",
        machine({"wait": wait(days=True)}),
        (f"{S}.wait.meta.days", "must be a non-negative integer, not True"),
    ),
    case(
        "duration-string",
        machine({"wait": wait(minutes="5")}),
        (f"{S}.wait.meta.minutes", "must be a non-negative integer"),
    ),
    case(
        "duration-null",
        machine({"wait": wait(days=1, seconds=None)}),
        (f"{S}.wait.meta.seconds", "must be a non-negative integer, not None"),
    ),
    case(
        "duration-without-unit",
        machine({"wait": wait()}),
        (f"{S}.wait.meta", "needs at least one duration unit: years, months, weeks"),
    ),
    case(
        "duration-over-100-years",
        machine({"wait": wait(years=100, days=366)}),
        (f"{S}.wait.meta", "longer than 100 years"),
    ),
    # include / exclude are lists of segment ids
    case(
        "include-not-a-list",
        machine({"segs": step({"type": "wait_for_condition", "include": 12})}),
        (f"{S}.segs.meta.include", "must be a list of segment ids, not a number"),
    ),
    case(
        "include-of-strings",
        machine({"segs": step({"type": "wait_for_condition", "include": ["12"]})}),
        (f"{S}.segs.meta.include.0", "a segment id must be a positive integer, not a string"),
    ),
    case(
        "exclude-with-a-boolean",
        machine({"segs": step({"type": "wait_for_condition", "exclude": [3, True]})}),
        (f"{S}.segs.meta.exclude.1", "not a boolean"),
    ),
    case(
        "segment-ref-in-own-config",
        machine({"segs": step({"type": "wait_for_condition", "exclude": [{"segmentRef": "x"}]})}),
        (f"{S}.segs.meta.exclude.0.segmentRef", "resolved only when a recommendation is accepted"),
    ),
    case(
        "segment-ref-not-a-string",
        machine({"segs": step({"type": "wait_for_condition", "include": [{"segmentRef": 4}]})}),
        (f"{S}.segs.meta.include.0.segmentRef", "segmentRef must be a non-empty string"),
    ),
    case(
        "include-zero",
        machine({"segs": step({"type": "wait_for_condition", "include": [0]})}),
        (f"{S}.segs.meta.include.0", "must be a positive integer"),
    ),
    case(
        "segments-none",
        machine({"segs": step({"type": "wait_for_condition"})}),
        (f"{S}.segs.meta", "needs segment ids in include, exclude or both"),
    ),
    case(
        "segments-empty",
        machine({"segs": step({"type": "wait_for_condition", "include": [], "exclude": []})}),
        (f"{S}.segs.meta", "needs segment ids"),
    ),
    # operators eq ne in exists; `in` takes a list; `exists` takes no value
    case(
        "operator-unknown",
        machine({"check": check(operator="gt")}),
        (f"{S}.check.meta.operator", "must be one of eq, ne, in, exists; got 'gt'"),
    ),
    case(
        "operator-missing",
        machine(
            {"check": step({"type": "condition", "attribute": "tier"}, TRUE="done", FALSE="done")}
        ),
        (f"{S}.check.meta.operator", "must be one of eq, ne, in, exists; it is missing"),
    ),
    case(
        "in-with-a-string",
        machine({"check": check(operator="in", value="vip")}),
        (f"{S}.check.meta.value", "in takes a non-empty list of values, not a string"),
    ),
    case(
        "in-with-an-empty-list",
        machine({"check": check(operator="in", value=[])}),
        (f"{S}.check.meta.value", "in takes a non-empty list"),
    ),
    case(
        "in-with-a-nested-list",
        machine({"check": check(operator="in", value=["vip", ["gold"]])}),
        (f"{S}.check.meta.value.1", "compares with a string, number, boolean or null, not a list"),
    ),
    case(
        "exists-with-a-value",
        machine({"check": check(operator="exists")}),
        (f"{S}.check.meta.value", "exists takes no value"),
    ),
    case(
        "eq-without-a-value",
        machine(
            {
                "check": step(
                    {"type": "condition", "attribute": "t", "operator": "eq"},
                    TRUE="done",
                    FALSE="done",
                )
            }
        ),
        (f"{S}.check.meta.value", "is required for operator eq"),
    ),
    case(
        "ne-with-an-object",
        machine({"check": check(operator="ne", value={"tier": "vip"})}),
        (f"{S}.check.meta.value", "ne compares with a string, number, boolean or null"),
    ),
    case(
        "attribute-missing",
        machine(
            {"check": step({"type": "condition", "operator": "exists"}, TRUE="done", FALSE="done")}
        ),
        (f"{S}.check.meta.attribute", "is required: a dotted attribute path"),
    ),
    case(
        "attribute-with-an-empty-part",
        machine({"check": check(attribute="account..tier")}),
        (f"{S}.check.meta.attribute", "must be a dotted attribute path"),
    ),
    # unknown keys
    case(
        "send-unknown-meta-key",
        machine({"send": send(subject="Hi")}),
        (f"{S}.send.meta.subject", "unknown key for a send_email step; it takes templateId"),
    ),
    case(
        "wait-unknown-meta-key",
        machine({"wait": wait(days=1, day=1)}),
        (f"{S}.wait.meta.day", "unknown key for a wait_for_duration step"),
    ),
    case(
        "condition-unknown-meta-key",
        machine({"check": check(values=["vip"])}),
        (f"{S}.check.meta.values", "unknown key for a condition step"),
    ),
    case(
        "unknown-top-level-key",
        {**machine({"send": send()}), "version": 2},
        (f"{MC}.version", "unknown key; a machineConfig has initial and states"),
    ),
    # no cycle without a wait step (a zero-length wait is no wait)
    case(
        "loop-without-wait",
        machine({"check": check(false="send"), "send": send(to="check")}),
        (f"{S}.check", "the loop through check, send has no wait step"),
    ),
    case(
        "condition-looping-to-itself",
        machine({"check": check(false="check")}),
        (f"{S}.check", "the loop through check has no wait step"),
    ),
    case(
        "loop-through-a-zero-wait",
        machine({"check": check(false="nap"), "nap": wait({"ELAPSED": "check"}, seconds=0)}),
        (f"{S}.check", "the loop through check, nap has no wait step"),
    ),
    case(
        "wait-free-loop-beside-a-waiting-one",
        machine(
            {
                "a": check(true="b", false="c"),
                "b": wait({"ELAPSED": "e"}, days=1),
                "e": check(true="a"),
                "c": send(to="a"),
            }
        ),
        (f"{S}.a", "the loop through a, c has no wait step"),
    ),
    # every state reachable; a final state reachable
    case(
        "unreachable-state",
        machine({"send": send(), "orphan": send()}),
        (f"{S}.orphan", "can never run: no path leads here from 'send'"),
    ),
    case(
        "final-unreachable",
        machine({"wait": wait({"ELAPSED": "wait"}, days=1)}),
        (f"{S}.done", "can never run"),
        (S, 'no final state ("type": "final") can be reached from \'wait\''),
    ),
    case(
        "no-final-state",
        {"initial": "wait", "states": {"wait": wait({"ELAPSED": "wait"}, days=1)}},
        (S, "no final state"),
    ),
    # shape
    case("states-missing", {"initial": "send"}, (S, "is required")),
    case("states-a-list", {"initial": "send", "states": []}, (S, "must be a non-empty object")),
    case("states-empty", {"initial": "send", "states": {}}, (S, "must be a non-empty object")),
    case(
        "state-not-an-object",
        machine({"send": "send_email"}),
        (f"{S}.send", "must be an object with meta and on, not a string"),
    ),
    case(
        "state-name-blank",
        {"initial": "send", "states": {"send": send(to=" "), " ": FINAL}},
        (f"{S}. ", "a state name must be non-empty"),
    ),
    # machine_config is not an object
    case("config-a-string", "x", (MC, "must be an object with initial and states, not a string")),
    case(
        "config-a-list",
        [machine({"send": send()})],
        (MC, "must be an object with initial and states, not a list"),
    ),
    case("config-a-number", 5, (MC, "not a number")),
    case("config-a-boolean", True, (MC, "not a boolean")),
]


def assert_rejected(response: Any, expected: list[tuple[str, str]]) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["message"] == "machine_config is invalid."
    assert [d["path"] for d in error["details"]] == [path for path, _ in expected]
    for detail, (_, words) in zip(error["details"], expected, strict=True):
        assert words in detail["message"], detail


async def test_every_broken_rule_is_refused_with_its_path(api, subtests):
    # One test per backend with a subtest per case: a fixture set-up per case costs more
    # than the case itself.
    bare = only(
        (await api.post(BASE, json={"name": "bare", "trigger_event": "manual"})).json(), KIND
    )
    url = f"{BASE}/{bare['id']}"
    for case_id, config, expected in INVALID:
        with subtests.test(msg=case_id):
            body = {"name": "broken", "trigger_event": "order.created", "machine_config": config}
            assert_rejected(await api.post(BASE, json=body), expected)
            updated = await api.put(url, json={"name": "renamed", "machine_config": config})
            assert_rejected(updated, expected)
            # Neither stored nor changed anything.
            listed = (await api.get(BASE)).json()["node.journey_definition"]
            assert listed == {str(bare["id"]): bare}


# The edge of each rule, on the allowed side (configs that name no template, segment or
# campaign, so only the structural rules apply).
VALID = [
    pytest.param(
        machine({"check": check(false="nap"), "nap": wait({"ELAPSED": "check"}, seconds=1)}),
        id="loop-through-a-one-second-wait",
    ),
    pytest.param(machine({"nap": wait(seconds=0)}), id="zero-wait-outside-a-loop"),
    pytest.param(machine({"nap": wait(days=0, hours=1)}), id="zero-and-positive-units"),
    pytest.param(machine({"nap": wait(years=99, days=365)}), id="just-under-100-years"),
    pytest.param(
        machine(
            {
                "check": step(
                    {"type": "condition", "attribute": "a.b", "operator": "exists"},
                    TRUE="done",
                    FALSE="done",
                )
            }
        ),
        id="exists-without-a-value",
    ),
    pytest.param(
        machine({"check": check(operator="in", value=["vip", 1, None, True, 2.5])}),
        id="in-with-a-list-of-scalars",
    ),
    pytest.param(machine({"check": check(value=None)}), id="eq-null"),
    pytest.param({"initial": "done", "states": {"done": FINAL}}, id="only-a-final-state"),
    pytest.param(
        {
            "states": {"end": FINAL, "nap": wait({"ELAPSED": "end"}, hours=2)},
            "initial": "nap",
        },
        id="states-before-initial",
    ),
]


@pytest.mark.parametrize("config", VALID)
async def test_rule_edges_are_accepted(api, config):
    body = {"name": "edge", "trigger_event": "order.created", "machine_config": config}
    created = await api.post(BASE, json=body)
    assert created.status_code == 200, created.text
    got = await api.get(f"{BASE}/{only(created.json(), KIND)['id']}")
    assert json.dumps(only(got.json(), KIND)["machineConfig"]) == json.dumps(config)


@dataclass(frozen=True)
class Pool:
    """Ids of templates (by channel), campaigns and segments that exist in the place."""

    by_kind: dict[str, list[int]]

    def ids_for(self, kind: str) -> st.SearchStrategy[int]:
        return st.sampled_from(self.by_kind[kind])


@pytest.fixture
async def pool(clean_engine, keys) -> Pool:
    # Configs are checked against the place's templates, segments and campaigns.
    async with session_factory(clean_engine)() as session:
        rows: dict[str, list[Any]] = {
            channel: [
                Template(
                    place_id=PLACE,
                    name=f"{channel} {i}",
                    channel=channel,
                    subject="Hi",
                    title="Hi",
                    body="Hello {{ customer.id }}",
                )
                for i in range(2)
            ]
            for channel in ("email", "sms", "push")
        }
        rows["segment"] = [Segment(place_id=PLACE, name=f"s{i}", kind="static") for i in range(2)]
        rows["campaign"] = [
            Campaign(place_id=PLACE, name=f"c{i}", visibility="public", data={}) for i in range(2)
        ]
        session.add_all([row for made in rows.values() for row in made])
        await session.commit()
        return Pool({kind: [row.id for row in made] for kind, made in rows.items()})


@HYPOTHESIS
@given(data=st.data())
async def test_generated_valid_configs_are_accepted_and_returned_verbatim(api, pool, data):
    config = data.draw(valid_configs(ids_for=pool.ids_for), label="machine_config")
    text = json.dumps(config)

    created = await api.post(
        BASE, json={"name": "generated", "trigger_event": "order.created", "machine_config": config}
    )
    assert created.status_code == 200, created.text
    bare = await api.post(BASE, json={"name": "bare", "trigger_event": "order.created"})
    put = await api.put(f"{BASE}/{only(bare.json(), KIND)['id']}", json={"machine_config": config})
    assert put.status_code == 200, put.text

    for journey in (only(created.json(), KIND), only(put.json(), KIND)):
        got = only((await api.get(f"{BASE}/{journey['id']}")).json(), KIND)
        # Same keys in the same order, same values of the same JSON types.
        assert json.dumps(got["machineConfig"]) == text


@HYPOTHESIS
@given(broken=broken_configs())
async def test_generated_configs_with_one_rule_broken_are_refused(api, broken):
    config, paths, word = broken
    response = await api.post(
        BASE, json={"name": "broken", "trigger_event": "order.created", "machine_config": config}
    )
    assert response.status_code == 422, response.text
    assert_names(response.json()["error"]["details"], paths, word)
