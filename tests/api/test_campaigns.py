"""Campaigns through the HTTP API, and cloning one for a customer."""

from store import campaigns
from store.db import session_factory
from tests.helpers.api import OTHER_PLACE, PLACE, only

BASE = f"/places/{PLACE}/campaigns"
KIND = "campaign"


async def test_crud(api, keys):
    created = await api.post(
        BASE, json={"name": "Spring", "visibility": "public", "data": {"points": 50}}
    )
    assert created.status_code == 200, created.text
    campaign = only(created.json(), KIND)
    assert campaign["visibility"] == "public"
    assert campaign["customerId"] is None
    url = f"{BASE}/{campaign['id']}"
    updated = only((await api.put(url, json={"data": {"points": 60}})).json(), KIND)
    assert updated["data"] == {"points": 60}
    assert (await api.put(url, json={"name": None})).status_code == 422
    assert (await api.post(BASE, json={"name": "x", "visibility": "secret"})).status_code == 422
    theirs = await api.get(
        f"/places/{OTHER_PLACE}/campaigns/{campaign['id']}", headers=keys.headers(OTHER_PLACE)
    )
    assert theirs.status_code == 404
    assert (await api.delete(url)).status_code == 204
    assert (await api.get(url)).status_code == 404


async def test_clone_for_customer_is_idempotent(api, clean_engine):
    sessions = session_factory(clean_engine)
    async with sessions() as session:
        first = await campaigns.clone_for_customer(
            session, PLACE, 55, 7, journey_id=1, execution_id="exec-1", idempotency_key="k1"
        )
        again = await campaigns.clone_for_customer(
            session, PLACE, 55, 7, journey_id=1, execution_id="exec-1", idempotency_key="k1"
        )
        await session.commit()
    assert first.id == again.id
    listed = (await api.get(f"{BASE}?customer_id=7")).json()["node.campaign"]
    assert len(listed) == 1
    (clone,) = listed.values()
    assert clone["visibility"] == "private"
    assert clone["sourceCampaignId"] == 55
    assert clone["journeyId"] == 1
    assert clone["executionId"] == "exec-1"
    assert clone["data"] == {"reward": "free dessert", "validDays": 30}


async def test_a_campaign_a_journey_clones_cannot_be_deleted(api):
    config = {
        "initial": "clone",
        "states": {
            "clone": {"meta": {"type": "create_campaign", "campaignId": 55}, "on": {"DONE": "d"}},
            "d": {"type": "final"},
        },
    }
    made = await api.post(
        f"/places/{PLACE}/journeys",
        json={"name": "j", "trigger_event": "order.created", "machine_config": config},
    )
    journey_id = only(made.json(), "journey_definition")["id"]
    response = await api.delete(f"{BASE}/55")
    assert response.status_code == 409
    assert response.json()["error"]["message"] == (
        f"Campaign 55 is used by journeys {journey_id}; change their machine_config first."
    )
    await api.delete(f"/places/{PLACE}/journeys/{journey_id}")
    assert (await api.delete(f"{BASE}/55")).status_code == 204
