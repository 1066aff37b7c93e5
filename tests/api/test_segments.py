"""Targeting segments through the HTTP API."""

from tests.helpers.api import OTHER_PLACE, PLACE, only

BASE = f"/places/{PLACE}/segments"
KIND = "targeting_segment"


async def import_customers(api):
    rows = [
        {"id": 1, "attributes": {"account": {"classification": "vip"}, "points": 500}},
        {"id": 2, "attributes": {"account": {"classification": "vip"}, "points": 50}},
        {"id": 3, "attributes": {"account": {"classification": "churned"}, "points": 900}},
        {"id": 4, "attributes": {"points": "many"}},
        {"id": 5, "attributes": {}},
    ]
    assert (await api.post("/places/42/customers/import", json=rows)).status_code == 200


async def members(api, segment_id, query=""):
    response = await api.get(f"{BASE}/{segment_id}/customers{query}")
    assert response.status_code == 200, response.text
    body = response.json()
    return [int(i) for i in body["node.customer"]], body["meta"]["total"]


async def create(api, body):
    response = await api.post(BASE, json=body)
    assert response.status_code == 200, response.text
    return only(response.json(), KIND)


async def test_rule_segments_all_and_any(api):
    await import_customers(api)
    rich_vips = await create(
        api,
        {
            "name": "Rich VIPs",
            "match": "all",
            "conditions": [
                {"attribute": "account.classification", "operator": "eq", "value": "vip"},
                {"attribute": "points", "operator": "gte", "value": 100},
            ],
        },
    )
    assert rich_vips["kind"] == "rule"
    assert rich_vips["customerIds"] is None
    assert await members(api, rich_vips["id"]) == ([1], 1)
    either = await create(
        api,
        {
            "name": "VIP or churned",
            "match": "any",
            "conditions": [
                {
                    "attribute": "account.classification",
                    "operator": "in",
                    "value": ["vip", "churned"],
                },
                {"attribute": "points", "operator": "exists"},
            ],
        },
    )
    assert await members(api, either["id"]) == ([1, 2, 3, 4], 4)
    assert await members(api, either["id"], "?per_page=2&page=2") == ([3, 4], 4)
    default_match = await create(
        api,
        {
            "name": "not vip",
            "conditions": [
                {"attribute": "account.classification", "operator": "ne", "value": "vip"}
            ],
        },
    )
    assert default_match["match"] == "all"
    assert await members(api, default_match["id"]) == ([3, 4, 5], 3)


async def test_static_segments(api):
    await import_customers(api)
    static = await create(api, {"name": "Picked", "customer_ids": [5, 3, 3, 99]})
    assert static["kind"] == "static"
    assert static["customerIds"] == [3, 5, 99]
    # Listed ids that are not (yet) customers are not members.
    assert await members(api, static["id"]) == ([3, 5], 2)
    updated = await api.put(f"{BASE}/{static['id']}", json={"customer_ids": [1]})
    assert only(updated.json(), KIND)["customerIds"] == [1]
    assert await members(api, static["id"]) == ([1], 1)
    wrong = await api.put(f"{BASE}/{static['id']}", json={"conditions": []})
    assert wrong.status_code == 422


async def test_bad_segments_name_the_problem(api):
    cases = [
        (
            {"name": "x", "conditions": [{"attribute": "a", "operator": "like", "value": 1}]},
            "conditions.0.operator",
        ),
        (
            {"name": "x", "conditions": [{"attribute": "a", "operator": "in", "value": "vip"}]},
            "conditions.0.value",
        ),
        (
            {"name": "x", "conditions": [{"attribute": "a", "operator": "gt", "value": [1]}]},
            "conditions.0.value",
        ),
        ({"name": "x", "conditions": [{"operator": "eq", "value": 1}]}, "conditions.0.attribute"),
        ({"name": "x", "match": "some", "conditions": []}, "match"),
        ({"name": "x"}, "conditions"),
        ({"name": "x", "conditions": [], "customer_ids": [1]}, "customer_ids"),
        ({"name": "x", "customer_ids": [0]}, "customer_ids.0"),
    ]
    for body, path in cases:
        response = await api.post(BASE, json=body)
        assert response.status_code == 422, body
        paths = [d["path"] for d in response.json()["error"]["details"]]
        assert path in paths, (body, paths)
    assert (await api.get(BASE)).json()["meta"]["total"] == 5  # only the demo segments


async def test_segments_of_another_place_are_404(api, keys):
    theirs = await api.post(
        f"/places/{OTHER_PLACE}/segments",
        json={"name": "theirs", "customer_ids": [1]},
        headers=keys.headers(OTHER_PLACE),
    )
    segment_id = only(theirs.json(), KIND)["id"]
    for method, suffix in (("GET", ""), ("GET", "/customers"), ("DELETE", ""), ("PUT", "")):
        kwargs = {"json": {"name": "mine"}} if method == "PUT" else {}
        response = await api.request(method, f"{BASE}/{segment_id}{suffix}", **kwargs)
        assert response.status_code == 404, (method, suffix)


async def test_a_segment_in_use_cannot_be_deleted(api):
    config = {
        "initial": "wait",
        "states": {
            "wait": {
                "meta": {"type": "wait_for_condition", "include": [12]},
                "on": {"DONE": "done"},
            },
            "done": {"type": "final"},
        },
    }
    journey = await api.post(
        "/places/42/journeys",
        json={"name": "j", "trigger_event": "order.created", "machine_config": config},
    )
    journey_id = only(journey.json(), "journey_definition")["id"]
    response = await api.delete(f"{BASE}/12")
    assert response.status_code == 409
    assert str(journey_id) in response.json()["error"]["message"]
    assert (await api.delete(f"{BASE}/15")).status_code == 204
    assert (await api.get(f"{BASE}/15")).status_code == 404
