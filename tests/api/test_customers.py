"""Customers through the HTTP API."""

from tests.helpers.api import OTHER_PLACE, PLACE, only

BASE = f"/places/{PLACE}/customers"
KIND = "customer"


async def test_upsert_get_list_delete(api):
    created = await api.put(
        f"{BASE}/7",
        json={
            "email": "ana@example.com",
            "phone": "+14155550123",
            "push_tokens": ["tok-1"],
            "attributes": {"first_name": "Ana", "account": {"classification": "vip"}},
        },
    )
    assert created.status_code == 200, created.text
    customer = only(created.json(), KIND)
    assert customer["id"] == 7
    assert customer["placeId"] == PLACE
    assert customer["pushTokens"] == ["tok-1"]
    assert customer["attributes"] == {"first_name": "Ana", "account": {"classification": "vip"}}

    # Fields given replace, attributes merge at the top level, null removes an attribute.
    updated = await api.put(
        f"{BASE}/7", json={"phone": None, "attributes": {"first_name": None, "tier": "gold"}}
    )
    customer = only(updated.json(), KIND)
    assert customer["phone"] is None
    assert customer["email"] == "ana@example.com"
    assert customer["attributes"] == {"account": {"classification": "vip"}, "tier": "gold"}

    assert only((await api.get(f"{BASE}/7")).json(), KIND) == customer
    await api.put(f"{BASE}/3", json={})
    listed = (await api.get(BASE)).json()
    assert list(listed["node.customer"]) == ["3", "7"]
    assert listed["meta"]["total"] == 2

    assert (await api.delete(f"{BASE}/7")).status_code == 204
    assert (await api.get(f"{BASE}/7")).status_code == 404


async def test_customers_are_per_place(api, keys):
    await api.put(f"/places/{OTHER_PLACE}/customers/7", json={}, headers=keys.headers(OTHER_PLACE))
    assert (await api.get(f"{BASE}/7")).status_code == 404
    assert (await api.delete(f"{BASE}/7")).status_code == 404
    assert (await api.get(BASE)).json()["meta"]["total"] == 0


async def test_bad_profiles_name_the_field(api):
    cases = {
        "email": {"email": "not-an-address"},
        "phone": {"phone": "555-0123"},
        "push_tokens": {"push_tokens": "tok"},
        "attributes": {"attributes": ["a"]},
    }
    for field, body in cases.items():
        response = await api.put(f"{BASE}/7", json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["details"][0]["path"].startswith(field), response.text
    assert (await api.put(f"{BASE}/0", json={})).status_code == 422
    assert (await api.get(f"{BASE}/7")).status_code == 404


async def test_import_creates_and_updates_all_or_nothing(api):
    await api.put(f"{BASE}/1", json={"attributes": {"keep": 1, "tier": "silver"}})
    rows = [
        {"id": i, "email": f"c{i}@example.com", "attributes": {"tier": "gold"}}
        for i in range(1, 1201)
    ]
    response = await api.post(f"{BASE}/import", json=rows)
    assert response.status_code == 200, response.text
    assert response.json() == {"imported": 1200, "created": 1199, "updated": 1}
    first = only((await api.get(f"{BASE}/1")).json(), KIND)
    assert first["attributes"] == {"keep": 1, "tier": "gold"}
    assert (await api.get(BASE)).json()["meta"]["total"] == 1200

    bad = [{"id": 5000, "email": "x@example.com"}, {"id": 5001, "email": "nope"}]
    response = await api.post(f"{BASE}/import", json=bad)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["path"] == "1.email"
    assert (await api.get(f"{BASE}/5000")).status_code == 404

    dupes = [{"id": 9000}, {"id": 9000}]
    response = await api.post(f"{BASE}/import", json=dupes)
    assert response.status_code == 422
    assert response.json()["error"]["details"] == [
        {"path": "1.id", "message": "customer 9000 is also at index 0"}
    ]


async def test_import_limit(api):
    response = await api.post(f"{BASE}/import", json=[{"id": i} for i in range(1, 10_002)])
    assert response.status_code == 422
    assert "10000" in response.text
    assert (await api.get(BASE)).json()["meta"]["total"] == 0
    response = await api.post(f"{BASE}/import", json={"id": 1})
    assert response.status_code == 422
