"""Journey definitions through the HTTP API, as the specification describes them."""

import asyncio
import time

import pytest

from tests.helpers.api import OTHER_PLACE, PLACE, only
from tests.spec_examples import (
    PROMO_CONFIG,
    PROMO_CREATE,
    VIP_BRANCH_CONFIG,
    WELCOME_CONFIG,
    WELCOME_CREATE,
    WINBACK_CONFIG,
    WINBACK_CREATE,
)
from workflows.model import TRIGGER_EVENTS

BASE = f"/places/{PLACE}/journeys"
KIND = "journey_definition"


async def create(api, body, place=PLACE, **kwargs):
    response = await api.post(f"/places/{place}/journeys", json=body, **kwargs)
    assert response.status_code == 200, response.text
    return only(response.json(), KIND)


async def test_welcome_example_end_to_end(api):
    before = int(time.time())
    response = await api.post(BASE, json=WELCOME_CREATE)
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["node.journey_definition"]
    (key, journey), *_ = body["node.journey_definition"].items()
    assert key == str(journey["id"])
    assert journey == {
        "id": journey["id"],
        "placeId": 42,
        "userId": 7,
        "name": "Welcome new members",
        "description": "Send a welcome email when someone joins the loyalty programme.",
        "triggerEvent": "account.created",
        "machineConfig": None,
        "active": False,
        "version": 1,
        "created": journey["created"],
        "updated": journey["updated"],
    }
    assert before <= journey["created"] == journey["updated"] <= int(time.time())

    put = await api.put(f"{BASE}/{journey['id']}", json={"machine_config": WELCOME_CONFIG})
    assert put.status_code == 200
    updated = only(put.json(), KIND)
    assert updated["machineConfig"] == WELCOME_CONFIG
    assert updated["version"] == 2
    assert updated["name"] == WELCOME_CREATE["name"]  # PUT changes only what it is given

    started = await api.post(f"{BASE}/{journey['id']}/start")
    assert started.status_code == 200
    assert only(started.json(), KIND)["active"] is True

    got = only((await api.get(f"{BASE}/{journey['id']}")).json(), KIND)
    assert got["active"] is True
    assert list(got["machineConfig"]["states"]) == ["send_welcome", "done"]
    assert got["machineConfig"]["states"]["send_welcome"]["meta"] == {
        "type": "send_email",
        "templateId": 5,
    }


async def test_spec_examples_created_configured_started_and_listed(api):
    ids = []
    for create_body, config in (
        (WELCOME_CREATE, WELCOME_CONFIG),
        (WINBACK_CREATE, WINBACK_CONFIG),
        (PROMO_CREATE, PROMO_CONFIG),
    ):
        journey = await create(api, create_body)
        response = await api.put(f"{BASE}/{journey['id']}", json={"machine_config": config})
        assert response.status_code == 200, response.text
        assert (await api.post(f"{BASE}/{journey['id']}/start")).status_code == 200
        ids.append(journey["id"])

    listed = (await api.get(BASE)).json()
    assert list(listed["node.journey_definition"]) == [str(i) for i in ids]
    assert listed["meta"] == {"page": 1, "perPage": 25, "total": 3}
    configs = [j["machineConfig"] for j in listed["node.journey_definition"].values()]
    assert configs == [WELCOME_CONFIG, WINBACK_CONFIG, PROMO_CONFIG]
    assert all(j["active"] for j in listed["node.journey_definition"].values())


async def test_camel_case_request_keys_are_accepted(api):
    journey = await create(
        api, {"name": "camel", "triggerEvent": "order.created", "machineConfig": WELCOME_CONFIG}
    )
    assert journey["triggerEvent"] == "order.created"
    assert journey["machineConfig"] == WELCOME_CONFIG


async def test_machine_config_is_stored_verbatim(api):
    config = {
        "states": {
            "Z last": {"type": "final"},
            "ÄöÜ 步骤": {
                "on": {"DONE": "Z last"},
                "meta": {"templateId": 5, "type": "send_email"},
            },
        },
        "initial": "ÄöÜ 步骤",
    }
    journey = await create(api, {**WELCOME_CREATE, "machine_config": config})
    raw = (await api.get(f"{BASE}/{journey['id']}")).text
    # Key order and non-ASCII names come back exactly as sent.
    assert raw.index('"states"') < raw.index('"initial"')
    assert raw.index('"Z last"') < raw.index('"ÄöÜ 步骤"')
    got = only((await api.get(f"{BASE}/{journey['id']}")).json(), KIND)
    assert got["machineConfig"] == config
    assert list(got["machineConfig"]["states"]["ÄöÜ 步骤"]) == ["on", "meta"]


@pytest.mark.parametrize("event", TRIGGER_EVENTS)
async def test_every_spec_trigger_event_is_accepted(api, event):
    journey = await create(api, {"name": event, "trigger_event": event})
    assert journey["triggerEvent"] == event
    assert journey["active"] is (event == "manual")


async def test_unknown_trigger_event_is_422(api):
    response = await api.post(BASE, json={"name": "x", "trigger_event": "order.deleted"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert [d["path"] for d in error["details"]] == ["trigger_event"]
    assert "order.created" in error["details"][0]["message"]


async def test_create_requires_name_and_trigger_event(api):
    response = await api.post(BASE, json={"description": "no name"})
    assert response.status_code == 422
    details = response.json()["error"]["details"]
    assert {d["path"]: d["message"] for d in details} == {
        "name": "is required",
        "trigger_event": "is required",
    }


async def test_trigger_event_cannot_change(api):
    journey = await create(api, WELCOME_CREATE)
    url = f"{BASE}/{journey['id']}"
    same = await api.put(url, json={"trigger_event": "account.created", "name": "renamed"})
    assert same.status_code == 200
    assert only(same.json(), KIND)["name"] == "renamed"
    other = await api.put(url, json={"trigger_event": "order.created"})
    assert other.status_code == 422
    assert other.json()["error"]["details"][0]["path"] == "trigger_event"
    got = only((await api.get(url)).json(), KIND)
    assert got["triggerEvent"] == "account.created"


async def test_rejected_update_changes_nothing(api):
    journey = await create(api, {**WELCOME_CREATE, "machine_config": WELCOME_CONFIG})
    url = f"{BASE}/{journey['id']}"
    response = await api.put(
        url, json={"name": "new name", "machine_config": {"initial": "nowhere", "states": {}}}
    )
    assert response.status_code == 422
    got = only((await api.get(url)).json(), KIND)
    assert got == journey


async def test_manual_journeys_are_always_active(api):
    journey = await create(api, PROMO_CREATE)
    assert journey["active"] is True
    url = f"{BASE}/{journey['id']}"
    assert only((await api.post(f"{url}/start")).json(), KIND)["active"] is True
    stop = await api.post(f"{url}/stop")
    assert stop.status_code == 409
    assert stop.json()["error"]["code"] == "conflict"
    assert only((await api.get(url)).json(), KIND)["active"] is True


async def test_start_and_stop_toggle_active(api):
    journey = await create(api, WINBACK_CREATE)
    url = f"{BASE}/{journey['id']}"
    assert only((await api.post(f"{url}/start")).json(), KIND)["active"] is True
    stopped = await api.post(f"{url}/stop", json={"cancel_running": False})
    assert only(stopped.json(), KIND)["active"] is False
    assert only((await api.get(url)).json(), KIND)["active"] is False


async def test_start_and_stop_move_updated(api):
    """Timestamps are whole seconds: each change comes a second after the one before."""
    journey = await create(api, WINBACK_CREATE)
    url = f"{BASE}/{journey['id']}"
    await asyncio.sleep(1.05)
    started = only((await api.post(f"{url}/start")).json(), KIND)
    assert started["updated"] > journey["updated"] == journey["created"]
    await asyncio.sleep(1.05)
    stopped = only((await api.post(f"{url}/stop")).json(), KIND)
    assert stopped["updated"] > started["updated"]
    assert only((await api.get(url)).json(), KIND)["updated"] == stopped["updated"]


async def test_active_is_read_only_in_bodies(api):
    response = await api.post(BASE, json={**WINBACK_CREATE, "active": True})
    assert response.status_code == 422
    (detail,) = response.json()["error"]["details"]
    assert detail["path"] == "active"
    assert "/start" in detail["message"]


async def test_unknown_fields_are_rejected(api):
    response = await api.post(BASE, json={**WINBACK_CREATE, "trigger": "x"})
    assert response.status_code == 422
    assert response.json()["error"]["details"] == [
        {"path": "trigger", "message": "is not a known field"}
    ]


async def test_version_increments_only_when_machine_config_changes(api):
    journey = await create(api, WINBACK_CREATE)
    url = f"{BASE}/{journey['id']}"
    assert journey["version"] == 1

    async def put(body):
        response = await api.put(url, json=body)
        assert response.status_code == 200, response.text
        return only(response.json(), KIND)

    assert (await put({"machine_config": WINBACK_CONFIG}))["version"] == 2
    assert (await put({"machine_config": WINBACK_CONFIG}))["version"] == 2
    assert (await put({"name": "renamed", "description": None}))["version"] == 2
    assert (await put({"machine_config": WELCOME_CONFIG}))["version"] == 3
    cleared = await put({"machine_config": None})
    assert cleared["version"] == 4
    assert cleared["machineConfig"] is None


async def test_null_name_is_rejected(api):
    journey = await create(api, WINBACK_CREATE)
    response = await api.put(f"{BASE}/{journey['id']}", json={"name": None})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["path"] == "name"


async def test_pagination(api):
    ids = [
        (await create(api, {"name": f"j{i}", "trigger_event": "order.created"}))["id"]
        for i in range(7)
    ]

    async def page(query):
        response = await api.get(f"{BASE}?{query}")
        assert response.status_code == 200
        return response.json()

    first = await page("per_page=3")
    assert list(first["node.journey_definition"]) == [str(i) for i in ids[:3]]
    assert first["meta"] == {"page": 1, "perPage": 3, "total": 7}
    last = await page("per_page=3&page=3")
    assert list(last["node.journey_definition"]) == [str(ids[6])]
    beyond = await page("per_page=3&page=9")
    assert beyond["node.journey_definition"] == {}
    assert beyond["meta"]["total"] == 7
    for bad in ("per_page=101", "per_page=0", "page=0", "page=abc"):
        response = await api.get(f"{BASE}?{bad}")
        assert response.status_code == 422, bad
        assert response.json()["error"]["details"][0]["path"] in ("page", "per_page")


async def test_list_filters(api):
    manual = await create(api, PROMO_CREATE)
    await create(api, WINBACK_CREATE)
    listed = (await api.get(f"{BASE}?trigger_event=manual")).json()
    assert list(listed["node.journey_definition"]) == [str(manual["id"])]
    active = (await api.get(f"{BASE}?active=true")).json()
    assert list(active["node.journey_definition"]) == [str(manual["id"])]


async def test_delete(api):
    journey = await create(api, WINBACK_CREATE)
    url = f"{BASE}/{journey['id']}"
    response = await api.delete(url)
    assert response.status_code == 204
    assert response.content == b""
    assert (await api.get(url)).status_code == 404
    assert (await api.delete(url)).status_code == 404
    again = await create(api, WINBACK_CREATE)
    assert again["id"] > journey["id"]  # ids are never reused


async def test_missing_and_unknown_keys_are_401(api):
    for headers in ({"Api-Key": ""}, {"Api-Key": "jrn_not-a-key"}):
        response = await api.get(BASE, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"
    api.headers.pop("Api-Key")
    response = await api.get(BASE)
    assert response.status_code == 401


async def test_key_of_another_place_is_403(api, keys):
    response = await api.get(BASE, headers=keys.headers(OTHER_PLACE))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


async def test_journey_of_another_place_is_404(api, keys):
    theirs = await create(api, WINBACK_CREATE, place=OTHER_PLACE, headers=keys.headers(OTHER_PLACE))
    url = f"{BASE}/{theirs['id']}"
    for method, extra in (
        ("GET", ""),
        ("PUT", ""),
        ("DELETE", ""),
        ("POST", "/start"),
        ("POST", "/stop"),
    ):
        kwargs = {"json": {"name": "mine now"}} if method == "PUT" else {}
        response = await api.request(method, url + extra, **kwargs)
        assert response.status_code == 404, (method, extra)
        assert response.json()["error"]["code"] == "not_found"
    listed = (await api.get(BASE)).json()
    assert listed["node.journey_definition"] == {}
    still = await api.get(
        f"/places/{OTHER_PLACE}/journeys/{theirs['id']}", headers=keys.headers(OTHER_PLACE)
    )
    assert only(still.json(), KIND) == theirs


async def test_unknown_route_and_method_use_the_error_body(api):
    response = await api.get(f"/places/{PLACE}/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    response = await api.patch(BASE)
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def _send(step_type, template_id):
    return {
        "initial": "send",
        "states": {
            "send": {
                "meta": {"type": step_type, "templateId": template_id},
                "on": {"DONE": "done"},
            },
            "done": {"type": "final"},
        },
    }


async def test_referenced_templates_segments_and_campaigns_must_exist(api, keys):
    theirs = await api.post(
        f"/places/{OTHER_PLACE}/templates",
        json={"name": "theirs", "channel": "email", "subject": "s", "body": "b"},
        headers=keys.headers(OTHER_PLACE),
    )
    their_template = only(theirs.json(), "communication_template")["id"]
    path = "machine_config.states.send.meta.templateId"
    cases = [
        (_send("send_email", 999_999), path, "does not exist"),
        (_send("send_email", their_template), path, "does not exist"),
        (_send("send_sms", 5), path, "needs a sms template"),
        (_send("send_push_notification", 12), path, "needs a push template"),
        (
            {
                "initial": "wait",
                "states": {
                    "wait": {
                        "meta": {
                            "type": "wait_for_condition",
                            "include": [12, 999],
                            "exclude": [998],
                        },
                        "on": {"DONE": "clone"},
                    },
                    "clone": {
                        "meta": {"type": "create_campaign", "campaignId": 997},
                        "on": {"DONE": "done"},
                    },
                    "done": {"type": "final"},
                },
            },
            None,
            None,
        ),
    ]
    for config, where, says in cases[:4]:
        response = await api.post(BASE, json={**WINBACK_CREATE, "machine_config": config})
        assert response.status_code == 422, config
        (detail,) = response.json()["error"]["details"]
        assert detail["path"] == where
        assert says in detail["message"]
    response = await api.post(BASE, json={**WINBACK_CREATE, "machine_config": cases[4][0]})
    assert response.status_code == 422
    assert {d["path"] for d in response.json()["error"]["details"]} == {
        "machine_config.states.wait.meta.include.1",
        "machine_config.states.wait.meta.exclude.0",
        "machine_config.states.clone.meta.campaignId",
    }
    assert (await api.get(BASE)).json()["meta"]["total"] == 0


async def test_the_spec_step_examples_are_accepted(api):
    steps = [
        {"type": "send_email", "templateId": 5},
        {"type": "send_sms", "templateId": 12},
        {"type": "send_push_notification", "templateId": 8},
        {"type": "create_campaign", "campaignId": 55},
        {"type": "wait_for_condition", "include": [12, 15]},
        {"type": "wait_for_condition", "exclude": [3]},
        {"type": "wait_for_condition", "include": [12], "exclude": [3]},
    ]
    for meta in steps:
        config = {
            "initial": "step",
            "states": {"step": {"meta": meta, "on": {"DONE": "done"}}, "done": {"type": "final"}},
        }
        response = await api.post(BASE, json={**WINBACK_CREATE, "machine_config": config})
        assert response.status_code == 200, (meta, response.text)
    for meta in (
        {"type": "wait_for_duration", "days": 3},
        {"type": "wait_for_duration", "hours": 48},
        {"type": "wait_for_duration", "days": 1, "hours": 12},
    ):
        config = {
            "initial": "step",
            "states": {
                "step": {"meta": meta, "on": {"ELAPSED": "done"}},
                "done": {"type": "final"},
            },
        }
        response = await api.post(BASE, json={**WINBACK_CREATE, "machine_config": config})
        assert response.status_code == 200, (meta, response.text)
    response = await api.post(BASE, json={**WINBACK_CREATE, "machine_config": VIP_BRANCH_CONFIG})
    assert response.status_code == 200, response.text


async def test_request_values_are_not_coerced(api):
    journey = await create(api, WINBACK_CREATE)
    await api.post(f"{BASE}/{journey['id']}/start")
    for value in ("yes", 1, "true"):
        response = await api.post(f"{BASE}/{journey['id']}/stop", json={"cancel_running": value})
        assert response.status_code == 422, value
        assert response.json()["error"]["details"][0]["path"] == "cancel_running"
    response = await api.post(BASE, json={"name": 5, "trigger_event": "manual"})
    assert response.status_code == 422
    assert only((await api.get(f"{BASE}/{journey['id']}")).json(), KIND)["active"] is True
