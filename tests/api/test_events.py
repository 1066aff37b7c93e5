"""Events when Temporal can't be reached, and bad events."""

import asyncio

from tests.helpers.api import PLACE, only


async def test_events_answer_503_while_temporal_is_unreachable(api, temporal_down):
    created = await api.post(
        f"/places/{PLACE}/journeys",
        json={"name": "w", "trigger_event": "order.created", "machine_config": None},
    )
    journey_id = only(created.json(), "journey_definition")["id"]
    await api.post(f"/places/{PLACE}/journeys/{journey_id}/start")
    event = {"event": "order.created", "customer_id": 3, "event_id": "e-3"}
    response = await temporal_down.post(f"/places/{PLACE}/events", json=event)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["error"]["code"] == "unavailable"
    listed = await temporal_down.get(f"/places/{PLACE}/journeys/{journey_id}/executions")
    assert listed.status_code == 503
    # Sent again once Temporal is back, the event starts its execution.
    again = await api.post(f"/places/{PLACE}/events", json=event)
    assert again.status_code == 202
    assert again.json()["executions"] == [f"journey-{journey_id}-event-e-3"]


async def test_bad_events_name_the_field(api):
    cases = [
        ({"event": "manual", "customer_id": 1}, "event"),
        ({"event": "order.deleted", "customer_id": 1}, "event"),
        ({"event": "order.created"}, "customer_id"),
        ({"event": "order.created", "customer_id": 1, "event_id": "has space"}, "event_id"),
        (
            {"event": "order.created", "customer_id": 1, "customer": {"email": "x"}},
            "customer.email",
        ),
        ({"events": []}, "events"),
        ({"events": [{"event": "order.created", "customer_id": "1"}]}, "events.0.customer_id"),
    ]
    for body, path in cases:
        response = await api.post(f"/places/{PLACE}/events", json=body)
        assert response.status_code == 422, body
        paths = [d["path"] for d in response.json()["error"]["details"]]
        assert path in paths, (body, paths)
    assert (await api.get(f"/places/{PLACE}/customers")).json()["meta"]["total"] == 0


async def test_events_creating_one_customer_at_once_all_succeed(api):
    # Found by the soak: two requests creating the same new customer at once made one of
    # them fail on the customers' key (a 500 on PostgreSQL).
    created = await api.post(
        f"/places/{PLACE}/journeys",
        json={"name": "w", "trigger_event": "order.created", "machine_config": None},
    )
    journey_id = only(created.json(), "journey_definition")["id"]
    await api.post(f"/places/{PLACE}/journeys/{journey_id}/start")
    for round_ in range(3):
        customer_id = 700 + round_
        bodies = [
            {
                "event": "order.created",
                "customer_id": customer_id,
                "event_id": f"race-{customer_id}-{n}",
                "customer": {"attributes": {f"n{n}": n}},
            }
            for n in range(12)
        ]
        responses = await asyncio.gather(
            *(api.post(f"/places/{PLACE}/events", json=body) for body in bodies)
        )
        assert [r.status_code for r in responses] == [202] * 12, [r.text for r in responses]
        customer = only(
            (await api.get(f"/places/{PLACE}/customers/{customer_id}")).json(), "customer"
        )
        assert customer["attributes"] == {f"n{n}": n for n in range(12)}
