"""Communication templates through the HTTP API."""

from tests.helpers.api import PLACE, only

BASE = f"/places/{PLACE}/templates"
KIND = "communication_template"


async def test_create_per_channel_and_update(api):
    email = await api.post(
        BASE,
        json={
            "name": "Hello",
            "channel": "email",
            "subject": "Hi {{ customer.first_name }}",
            "body": "Welcome to {{ place.name }}",
        },
    )
    assert email.status_code == 200, email.text
    template = only(email.json(), KIND)
    assert template["channel"] == "email"
    assert template["subject"] == "Hi {{ customer.first_name }}"
    sms = await api.post(BASE, json={"name": "s", "channel": "sms", "body": "Hi"})
    assert sms.status_code == 200
    push = await api.post(BASE, json={"name": "p", "channel": "push", "title": "T", "body": "B"})
    assert push.status_code == 200

    url = f"{BASE}/{template['id']}"
    updated = await api.put(url, json={"body": "Bye {{ customer.email }}"})
    assert only(updated.json(), KIND)["body"] == "Bye {{ customer.email }}"
    changed = await api.put(url, json={"channel": "sms"})
    assert changed.status_code == 422
    assert changed.json()["error"]["details"][0]["path"] == "channel"
    listed = (await api.get(f"{BASE}?channel=push")).json()
    assert [t["name"] for t in listed["node.communication_template"].values()] == [
        "Points update",
        "Promo blast",
        "p",
    ]


async def test_bad_liquid_is_rejected_with_its_line(api):
    response = await api.post(
        BASE,
        json={"name": "x", "channel": "sms", "body": "line one\n{% if customer.vip %} no end"},
    )
    assert response.status_code == 422
    (detail,) = response.json()["error"]["details"]
    assert detail["path"] == "body"
    assert "line 2" in detail["message"]
    assert "endif" in detail["message"]


async def test_channel_fields(api):
    cases = [
        ({"name": "x", "channel": "email", "body": "b"}, "subject"),
        ({"name": "x", "channel": "sms", "body": "b", "title": "t"}, "title"),
        ({"name": "x", "channel": "push", "body": "b", "subject": "s"}, "subject"),
        ({"name": "x", "channel": "fax", "body": "b"}, "channel"),
        ({"name": "x", "channel": "sms"}, "body"),
    ]
    for body, path in cases:
        response = await api.post(BASE, json=body)
        assert response.status_code == 422, body
        assert [d["path"] for d in response.json()["error"]["details"]] == [path], response.text


async def test_delete(api):
    response = await api.delete(f"{BASE}/5")
    assert response.status_code == 204
    assert (await api.get(f"{BASE}/5")).status_code == 404


async def test_templates_of_another_place_are_404(api, keys):
    theirs = await api.post(
        "/places/43/templates",
        json={"name": "t", "channel": "sms", "body": "b"},
        headers=keys.headers(43),
    )
    template_id = only(theirs.json(), KIND)["id"]
    for method in ("GET", "PUT", "DELETE"):
        kwargs = {"json": {"name": "mine"}} if method == "PUT" else {}
        response = await api.request(method, f"{BASE}/{template_id}", **kwargs)
        assert response.status_code == 404, method


async def test_a_template_a_journey_sends_cannot_be_deleted(api):
    config = {
        "initial": "send",
        "states": {
            "send": {"meta": {"type": "send_sms", "templateId": 12}, "on": {"DONE": "done"}},
            "done": {"type": "final"},
        },
    }
    made = await api.post(
        "/places/42/journeys",
        json={"name": "j", "trigger_event": "order.created", "machine_config": config},
    )
    journey_id = only(made.json(), "journey_definition")["id"]
    response = await api.delete(f"{BASE}/12")
    assert response.status_code == 409
    assert response.json()["error"]["message"] == (
        f"Template 12 is used by journeys {journey_id}; change their machine_config first."
    )
    assert (await api.get(f"{BASE}/12")).status_code == 200
    await api.put(f"/places/42/journeys/{journey_id}", json={"machine_config": None})
    assert (await api.delete(f"{BASE}/12")).status_code == 204
