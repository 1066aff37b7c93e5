"""Recommendations through the HTTP API: trees of proposed changes, accepted atomically."""

import asyncio
import copy
from typing import Any

import pytest

from tests.helpers.api import OTHER_PLACE, PLACE, only, rec

BASE = f"/places/{PLACE}/recommendations"
KIND = "recommendation"


def email_template(ref, subject):
    return rec(
        "create",
        "communication_template",
        {
            "name": f"Win-back {ref}",
            "channel": "email",
            "subject": subject,
            "body": "Hi {{ customer.first_name }}, we miss you at {{ place.name }}.",
            "localRef": ref,
        },
    )


WINBACK_CONFIG: dict[str, Any] = {
    "initial": "first_email",
    "states": {
        "first_email": {
            "meta": {"type": "send_email", "templateRef": "winback_first"},
            "on": {"DONE": "pause"},
        },
        "pause": {"meta": {"type": "wait_for_duration", "seconds": 1}, "on": {"ELAPSED": "last"}},
        "last": {
            "meta": {"type": "send_email", "templateRef": "winback_last"},
            "on": {"DONE": "done"},
        },
        "done": {"type": "final"},
    },
}


def winback_tree(config=WINBACK_CONFIG, first_ref="winback_first"):
    """The journey at depth 3 and first in the tree's order; its templates after it."""
    journey = rec(
        "create",
        "journey",
        {
            "name": "Win-back: slipping away",
            "triggerEvent": "account.classification.became_slipping_away",
            "machineConfig": config,
            "active": True,
        },
        subcategory="win-back",
    )
    holder = rec(
        "create",
        "campaign",
        {"name": "Come back offer", "visibility": "public", "data": {"points": 100}},
        [journey],
    )
    return rec(
        "create",
        "targeting_segment",
        {
            "name": "Slipping away",
            "conditions": [{"attribute": "tier", "operator": "eq", "value": "slipping"}],
        },
        [
            holder,
            email_template(first_ref, "We miss you, {{ customer.first_name }}"),
            email_template("winback_last", "Last chance, {{ customer.first_name }}"),
        ],
        subcategory="win-back",
    )


async def propose(api, body, place=PLACE, **kwargs):
    response = await api.post(f"/places/{place}/recommendations", json=body, **kwargs)
    assert response.status_code == 200, response.text
    return only(response.json(), KIND)


async def accept(api, recommendation_id, expected=200):
    response = await api.post(f"{BASE}/{recommendation_id}/accept")
    assert response.status_code == expected, response.text
    return response.json()


def nodes(tree):
    yield tree
    for child in tree["children"]:
        yield from nodes(child)


async def counts(api):
    totals = {}
    for kind, url in (
        ("journey_definition", "journeys"),
        ("communication_template", "templates"),
        ("targeting_segment", "segments"),
        ("campaign", "campaigns"),
    ):
        response = await api.get(f"/places/{PLACE}/{url}")
        totals[kind] = response.json()["meta"]["total"]
    return totals


@pytest.mark.e2e
async def test_winback_tree_accepted_in_one_call(engine_under_test, mailbox):
    engine = engine_under_test
    api = engine.api
    proposed = await propose(api, winback_tree())
    assert [n["status"] for n in nodes(proposed)] == ["pending"] * 5
    journey_rec = proposed["children"][0]["children"][0]
    assert (journey_rec["category"], journey_rec["subcategory"]) == ("journey", "win-back")
    assert journey_rec["data"]["machineConfig"] == WINBACK_CONFIG  # stored as given

    body = await accept(api, proposed["id"])
    accepted = only(body, KIND)
    assert [n["status"] for n in nodes(accepted)] == ["accepted"] * 5
    created = {(c["category"], c["localRef"]): c["id"] for c in body["created"]}
    assert len(created) == 5 and body["updated"] == body["deleted"] == []
    first = created["communication_template", "winback_first"]
    last = created["communication_template", "winback_last"]
    journey_id = created["journey", None]
    assert accepted["children"][0]["children"][0]["entityId"] == journey_id

    journey = only(
        (await api.get(f"/places/{PLACE}/journeys/{journey_id}")).json(), "journey_definition"
    )
    assert journey["active"] is True
    states = journey["machineConfig"]["states"]
    assert states["first_email"]["meta"] == {"type": "send_email", "templateId": first}
    assert states["last"]["meta"] == {"type": "send_email", "templateId": last}
    assert list(states) == list(WINBACK_CONFIG["states"])

    event = {
        "event": "account.classification.became_slipping_away",
        "customer_id": 7,
        "event_id": "slip-7",
        "customer": {"email": "ana@example.com", "attributes": {"first_name": "Ana"}},
    }
    response = await api.post(f"/places/{PLACE}/events", json=event)
    assert response.status_code == 202, response.text
    (execution_id,) = response.json()["executions"]
    assert (await engine.execution_result(execution_id)).final_state == "done"
    assert [m.message["Subject"] for m in mailbox.received] == [
        "We miss you, Ana",
        "Last chance, Ana",
    ]
    messages = await engine.messages(execution_id=execution_id)
    assert sorted((m["state"], m["templateId"]) for m in messages) == [
        ("first_email", first),
        ("last", last),
    ]


def bad_ref():
    config = copy.deepcopy(WINBACK_CONFIG)
    config["states"]["last"]["meta"]["templateRef"] = "winback_lst"
    return winback_tree(config), (
        "children.0.children.0.data.machineConfig.states.last.meta.templateRef",
        "no communication_template recommendation of this tree has localRef 'winback_lst'",
    )


def invalid_config():
    config = copy.deepcopy(WINBACK_CONFIG)
    config["states"]["pause"]["on"] = {"DONE": "last"}
    return winback_tree(config), (
        "children.0.children.0.data.machineConfig.states.pause.on",
        "must handle ELAPSED",
    )


def duplicate_ref():
    return winback_tree(first_ref="winback_last"), (
        "children.1.data.localRef",
        "localRef 'winback_last' is given more than once in the tree: children.1, children.2",
    )


@pytest.mark.parametrize("case", [bad_ref, invalid_config, duplicate_ref])
async def test_a_bad_tree_applies_nothing(api, case):
    tree, (path, message) = case()
    before = await counts(api)
    proposed = await propose(api, tree)
    response = await api.post(f"{BASE}/{proposed['id']}/accept")
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert any(d["path"] == path and message in d["message"] for d in error["details"]), error
    assert await counts(api) == before
    again = only((await api.get(f"{BASE}/{proposed['id']}")).json(), KIND)
    assert [n["status"] for n in nodes(again)] == ["pending"] * 5
    assert [n["entityId"] for n in nodes(again)] == [None] * 5


async def test_decisions_are_final(api):
    first = await propose(api, winback_tree())
    child = first["children"][1]["id"]
    await accept(api, first["id"])
    for action in ("accept", "reject"):
        for target in (first["id"], child):
            response = await api.post(f"{BASE}/{target}/{action}")
            assert response.status_code == 409, response.text
            assert response.json()["error"]["code"] == "conflict"

    second = await propose(api, winback_tree())
    rejected = await api.post(f"{BASE}/{second['id']}/reject")
    assert rejected.status_code == 200
    assert [n["status"] for n in nodes(only(rejected.json(), KIND))] == ["rejected"] * 5
    assert (await api.post(f"{BASE}/{second['id']}/reject")).status_code == 409
    assert (await api.post(f"{BASE}/{second['children'][1]['id']}/accept")).status_code == 409


async def test_a_subtree_first_then_its_parent(api):
    """Accepting a child applies only its subtree; the parent's accept later resolves refs
    to what that child created."""
    tree = winback_tree()
    top = await propose(api, tree)
    template = top["children"][1]
    body = await accept(api, template["id"])
    (created,) = body["created"]
    assert created["localRef"] == "winback_first"
    assert (await counts(api))["journey_definition"] == 0

    body = await accept(api, top["id"])
    assert [
        c["localRef"] for c in body["created"] if c["category"] == "communication_template"
    ] == ["winback_last"]
    (journey_id,) = [c["id"] for c in body["created"] if c["category"] == "journey"]
    journey = only(
        (await api.get(f"/places/{PLACE}/journeys/{journey_id}")).json(), "journey_definition"
    )
    assert journey["machineConfig"]["states"]["first_email"]["meta"]["templateId"] == created["id"]


async def test_segment_and_campaign_refs(api):
    config = {
        "initial": "wait_vip",
        "states": {
            "wait_vip": {
                "meta": {
                    "type": "wait_for_condition",
                    "include": [{"segmentRef": "vips"}, 4],
                    "exclude": [{"segmentRef": "churned"}],
                },
                "on": {"DONE": "gift"},
            },
            "gift": {
                "meta": {"type": "create_campaign", "campaignRef": "gift"},
                "on": {"DONE": "done"},
            },
            "done": {"type": "final"},
        },
    }
    tree = rec(
        "create",
        "journey",
        {"name": "VIP gift", "trigger_event": "order.created", "machine_config": config},
        [
            rec(
                "create",
                "targeting_segment",
                {"name": "VIPs", "localRef": "vips", "customer_ids": [1, 2]},
            ),
            rec(
                "create",
                "targeting_segment",
                {
                    "name": "Churned",
                    "local_ref": "churned",
                    "match": "any",
                    "conditions": [{"attribute": "churned", "operator": "exists"}],
                },
            ),
            rec("create", "campaign", {"name": "Gift", "visibility": "public", "localRef": "gift"}),
        ],
    )
    body = await accept(api, (await propose(api, tree))["id"])
    ids = {c["localRef"]: c["id"] for c in body["created"]}
    journey = only(
        (await api.get(f"/places/{PLACE}/journeys/{ids[None]}")).json(), "journey_definition"
    )
    assert journey["active"] is False
    assert journey["machineConfig"]["states"]["wait_vip"]["meta"] == {
        "type": "wait_for_condition",
        "include": [ids["vips"], 4],
        "exclude": [ids["churned"]],
    }
    assert journey["machineConfig"]["states"]["gift"]["meta"] == {
        "type": "create_campaign",
        "campaignId": ids["gift"],
    }


def sms_journey(ref, children):
    """A journey recommendation whose one step sends the SMS template named by `ref`."""
    config = {
        "initial": "send",
        "states": {
            "send": {"meta": {"type": "send_sms", "templateRef": ref}, "on": {"DONE": "done"}},
            "done": {"type": "final"},
        },
    }
    return rec(
        "create",
        "journey",
        {"name": "x", "trigger_event": "order.created", "machine_config": config},
        children,
    )


async def test_a_ref_must_name_the_right_kind(api):
    tree = sms_journey(
        "vips",
        [
            rec(
                "create",
                "targeting_segment",
                {"name": "VIPs", "localRef": "vips", "customer_ids": [1]},
            )
        ],
    )
    proposed = await propose(api, tree)
    response = await api.post(f"{BASE}/{proposed['id']}/accept")
    assert response.status_code == 422
    assert response.json()["error"]["details"] == [
        {
            "path": "data.machine_config.states.send.meta.templateRef",
            "message": "localRef 'vips' names a targeting_segment recommendation, "
            "not a communication_template one",
        }
    ]


async def test_update_and_delete(api):
    tree = rec(
        "update",
        "communication_template",
        {"id": 5, "subject": "Welcome aboard, {{ customer.first_name }}!"},
        [
            rec("delete", "campaign", {"id": 55}),
            rec("update", "targeting_segment", {"id": 12, "name": "Renamed"}),
            rec("delete", "communication_template", {"id": 8}),
        ],
    )
    body = await accept(api, (await propose(api, tree))["id"])
    assert [(c["category"], c["id"]) for c in body["updated"]] == [
        ("communication_template", 5),
        ("targeting_segment", 12),
    ]
    assert [(c["category"], c["id"]) for c in body["deleted"]] == [
        ("campaign", 55),
        ("communication_template", 8),
    ]
    template = only(
        (await api.get(f"/places/{PLACE}/templates/5")).json(), "communication_template"
    )
    assert template["subject"] == "Welcome aboard, {{ customer.first_name }}!"
    assert (await api.get(f"/places/{PLACE}/campaigns/55")).status_code == 404
    assert (await api.get(f"/places/{PLACE}/templates/8")).status_code == 404


async def test_targets_that_do_not_exist_or_are_elsewhere(api, keys):
    theirs = await api.post(
        f"/places/{OTHER_PLACE}/templates",
        json={"name": "t", "channel": "sms", "body": "b"},
        headers=keys.headers(OTHER_PLACE),
    )
    their_template = only(theirs.json(), "communication_template")["id"]
    tree = rec(
        "update",
        "communication_template",
        {"id": their_template, "body": "mine now"},
        [
            rec("delete", "journey", {"id": 999_999}),
            rec("delete", "targeting_segment", {"id": 888_888}),
        ],
    )
    proposed = await propose(api, tree)
    response = await api.post(f"{BASE}/{proposed['id']}/accept")
    assert response.status_code == 422
    assert {(d["path"], d["message"]) for d in response.json()["error"]["details"]} == {
        ("data.id", f"template {their_template} does not exist in this place"),
        ("children.0.data.id", "journey 999999 does not exist in this place"),
        ("children.1.data.id", "segment 888888 does not exist in this place"),
    }
    theirs_now = await api.get(
        f"/places/{OTHER_PLACE}/templates/{their_template}", headers=keys.headers(OTHER_PLACE)
    )
    assert only(theirs_now.json(), "communication_template")["body"] == "b"


async def waiting_on_segment_4(api):
    config = {
        "initial": "wait",
        "states": {
            "wait": {
                "meta": {"type": "wait_for_condition", "include": [4]},
                "on": {"DONE": "done"},
            },
            "done": {"type": "final"},
        },
    }
    made = await api.post(
        f"/places/{PLACE}/journeys",
        json={"name": "Waits on 4", "trigger_event": "order.created", "machine_config": config},
    )
    return only(made.json(), "journey_definition")["id"]


async def test_deleting_a_segment_a_journey_waits_on(api):
    journey_id = await waiting_on_segment_4(api)
    alone = await propose(api, rec("delete", "targeting_segment", {"id": 4}))
    response = await api.post(f"{BASE}/{alone['id']}/accept")
    assert response.status_code == 422
    (detail,) = response.json()["error"]["details"]
    assert detail["path"] == "data.id"
    assert f"used by journeys {journey_id}" in detail["message"]

    # The same delete with the journey deleted alongside it goes through.
    both = await propose(
        api,
        rec(
            "delete", "targeting_segment", {"id": 4}, [rec("delete", "journey", {"id": journey_id})]
        ),
    )
    body = await accept(api, both["id"])
    assert {(c["category"], c["id"]) for c in body["deleted"]} == {
        ("targeting_segment", 4),
        ("journey", journey_id),
    }
    assert (await api.get(f"/places/{PLACE}/journeys/{journey_id}")).status_code == 404


def chain(depth):
    """A campaign recommendation with one under it, `depth` deep."""
    node = None
    for level in range(depth):
        node = rec(
            "create",
            "campaign",
            {"name": f"c{level}", "visibility": "public"},
            [node] if node else [],
        )
    return node


async def test_a_deep_tree(api):
    top = await propose(api, chain(20))
    body = await accept(api, top["id"])
    assert len(body["created"]) == 20
    too_deep = await api.post(BASE, json=chain(40))
    assert too_deep.status_code == 422
    assert "nested deeper than" in too_deep.json()["error"]["details"][0]["message"]


async def test_concurrent_accepts_apply_once(api):
    top = await propose(api, winback_tree())
    before = await counts(api)
    responses = await asyncio.gather(*(api.post(f"{BASE}/{top['id']}/accept") for _ in range(3)))
    assert sorted(r.status_code for r in responses) == [200, 409, 409]
    after = await counts(api)
    assert {k: after[k] - before[k] for k in after} == {
        "journey_definition": 1,
        "communication_template": 2,
        "targeting_segment": 1,
        "campaign": 1,
    }


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        (rec("create", "item", {"name": "x"}), "category", "this service does not manage item"),
        (rec("create", "campaign", ["x"]), "data", "must be an object"),
        (
            rec(
                "create", "communication_template", {"name": "t", "channel": "sms", "body": "{{ x"}
            ),
            "data.body",
            "is not valid Liquid",
        ),
        (
            rec("update", "communication_template", {"id": 5, "subject": "{% if x %}"}),
            "data.subject",
            "is not valid Liquid",
        ),
        (
            rec(
                "create",
                "targeting_segment",
                {"name": "s", "conditions": [{"attribute": "a", "operator": "nope", "value": 1}]},
            ),
            "data.conditions.0.operator",
            "must be one of",
        ),
        (rec("create", "targeting_segment", {"name": "s"}), "data.conditions", "give conditions"),
        (
            rec("create", "journey", {"name": "x", "trigger_event": "manual", "active": False}),
            "data.active",
            "manual journeys are always active",
        ),
        ({**rec("create", "campaign", {}), "children": {}}, "children", "must be an array"),
        ({"type": "create", "data": {}}, "category", "is required"),
        (rec("create", "collection", {}), "category", "does not manage collection"),
        (rec("create", "widget", {}), "category", "must be one of journey"),
        (rec("move", "journey", {}), "type", "must be 'create', 'update' or 'delete'"),
        (rec("update", "journey", {"name": "x"}), "data.id", "is required"),
        (rec("delete", "campaign", {"id": 55, "name": "x"}), "data.name", "takes only the id"),
        (rec("delete", "campaign", {"id": "55"}), "data.id", "must be a positive integer"),
        (
            rec(
                "create",
                "journey",
                {"name": "x", "trigger_event": "order.created", "localRef": "j"},
            ),
            "data.localRef",
            "only templates, segments and campaigns",
        ),
        (
            rec(
                "create",
                "journey",
                {"name": "x", "trigger_event": "order.created", "active": "yes"},
            ),
            "data.active",
            "must be true",
        ),
        (
            rec("create", "journey", {"name": "x", "trigger_event": "manual", "id": 3}),
            "data.id",
            "is read-only",
        ),
        (
            rec(
                "create",
                "journey",
                {"name": "x", "trigger_event": "order.created"},
                status="accepted",
            ),
            "status",
            "must be 'pending'",
        ),
        (
            rec(
                "create",
                "campaign",
                {"name": "x", "visibility": "public"},
                [rec("create", "communication_template", {"name": "t", "channel": "sms"})],
            ),
            "children.0.data.body",
            "is required",
        ),
    ],
)
async def test_malformed_proposals_are_refused(api, body, path, message):
    response = await api.post(BASE, json=body)
    assert response.status_code == 422, response.text
    details = response.json()["error"]["details"]
    assert any(d["path"] == path and message in d["message"] for d in details), details
    listed = (await api.get(BASE)).json()
    assert listed["meta"]["total"] == 0


async def test_get_and_list(api, keys):
    first = await propose(api, winback_tree())
    second = await propose(api, email_template("solo", "Hello"))
    await accept(api, second["id"])

    got = only((await api.get(f"{BASE}/{first['id']}")).json(), KIND)
    assert got == first
    assert got["placeId"] == PLACE and got["userId"] == 7 and got["parentId"] is None
    assert got["children"][0]["parentId"] == first["id"]

    everything = (await api.get(BASE)).json()
    assert everything["meta"]["total"] == 6
    tops = (await api.get(BASE, params={"top_level": "true"})).json()
    assert list(tops["node.recommendation"]) == [str(first["id"]), str(second["id"])]
    pending = (
        await api.get(BASE, params={"status": "pending", "category": "communication_template"})
    ).json()
    assert pending["meta"]["total"] == 2
    assert all(r["status"] == "pending" for r in pending["node.recommendation"].values())
    winback = (
        await api.get(BASE, params={"subcategory": "win-back", "category": "journey"})
    ).json()
    (journey_rec,) = winback["node.recommendation"].values()
    assert journey_rec["data"]["name"] == "Win-back: slipping away"

    assert (await api.get(f"{BASE}/999999")).status_code == 404
    elsewhere = await api.get(
        f"/places/{OTHER_PLACE}/recommendations/{first['id']}", headers=keys.headers(OTHER_PLACE)
    )
    assert elsewhere.status_code == 404
    assert (
        await api.post(f"/places/{OTHER_PLACE}/recommendations/{first['id']}/accept")
    ).status_code == 403


async def test_a_journey_delete_while_temporal_is_down_applies_nothing(api, temporal_down):
    made = await api.post(
        f"/places/{PLACE}/journeys", json={"name": "Old", "trigger_event": "order.created"}
    )
    journey_id = only(made.json(), "journey_definition")["id"]
    tree = rec(
        "create",
        "communication_template",
        {"name": "New", "channel": "sms", "body": "Hi"},
        [rec("delete", "journey", {"id": journey_id})],
    )
    proposed = await propose(api, tree)
    before = await counts(api)
    response = await temporal_down.post(f"{BASE}/{proposed['id']}/accept")
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "unavailable"
    assert await counts(api) == before
    again = only((await api.get(f"{BASE}/{proposed['id']}")).json(), KIND)
    assert [n["status"] for n in nodes(again)] == ["pending", "pending"]
    # Once Temporal answers again, the same accept goes through.
    body = await accept(api, proposed["id"])
    assert [c["id"] for c in body["deleted"]] == [journey_id]


@pytest.mark.parametrize("change", [{"name": "Renamed"}, {"active": True}])
async def test_a_journey_the_tree_touches_still_guards_its_segment(api, change):
    journey_id = await waiting_on_segment_4(api)
    tree = rec(
        "delete",
        "targeting_segment",
        {"id": 4},
        [rec("update", "journey", {"id": journey_id, **change})],
    )
    proposed = await propose(api, tree)
    response = await api.post(f"{BASE}/{proposed['id']}/accept")
    assert response.status_code == 422, response.text
    (detail,) = response.json()["error"]["details"]
    assert detail["path"] == "data.id"
    assert f"used by journeys {journey_id}" in detail["message"]
    assert (await api.get(f"/places/{PLACE}/segments/4")).status_code == 200


async def test_one_change_per_entity(api):
    journey_id = await waiting_on_segment_4(api)
    tree = rec(
        "delete",
        "journey",
        {"id": journey_id},
        [
            rec("update", "journey", {"id": journey_id, "name": "x"}),
            rec("delete", "targeting_segment", {"id": 3}),
            rec("delete", "targeting_segment", {"id": 3}),
        ],
    )
    proposed = await propose(api, tree)
    response = await api.post(f"{BASE}/{proposed['id']}/accept")
    assert response.status_code == 422, response.text
    assert {
        (d["path"], d["message"].split(" is ")[0]) for d in response.json()["error"]["details"]
    } == {
        ("data.id", f"journey {journey_id}"),
        ("children.0.data.id", f"journey {journey_id}"),
        ("children.1.data.id", "segment 3"),
        ("children.2.data.id", "segment 3"),
    }
    assert "more than one recommendation" in response.json()["error"]["details"][0]["message"]
    assert (await api.get(f"/places/{PLACE}/segments/3")).status_code == 200


async def test_a_ref_whose_node_failed_says_so(api):
    tree = sms_journey(
        "t",
        [rec("update", "communication_template", {"id": 999_999, "localRef": "t"})],
    )
    proposed = await propose(api, tree)
    response = await api.post(f"{BASE}/{proposed['id']}/accept")
    assert response.status_code == 422
    assert response.json()["error"]["details"] == [
        {"path": "children.0.data.id", "message": "template 999999 does not exist in this place"},
        {
            "path": "data.machine_config.states.send.meta.templateRef",
            "message": "the communication_template recommendation with localRef 't' "
            "(children.0) could not be applied",
        },
    ]


async def test_crossing_accepts_queue_instead_of_deadlocking(api):
    ids = [5, 8, 9, 12, 20, 21, 30, 31]

    def updates(order):
        first, *rest = order
        return rec(
            "update",
            "communication_template",
            {"id": first, "name": "renamed"},
            [rec("update", "communication_template", {"id": i, "name": "renamed"}) for i in rest],
        )

    forward = await propose(api, updates(ids))
    backward = await propose(api, updates(ids[::-1]))
    responses = await asyncio.gather(
        api.post(f"{BASE}/{forward['id']}/accept"), api.post(f"{BASE}/{backward['id']}/accept")
    )
    assert [r.status_code for r in responses] == [200, 200], [r.text for r in responses]
