"""Events when Temporal can't be reached, and bad events."""

import socket

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from api.app import create_app
from tests.conftest import PLACE, only


async def test_events_answer_503_while_temporal_is_unreachable(clean_engine, settings, keys, api):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{closed.getsockname()[1]}"
        unreachable = await Client.connect(
            address, lazy=True, data_converter=pydantic_data_converter
        )
        app = create_app(settings, engine=clean_engine, temporal=unreachable)
        created = await api.post(
            f"/places/{PLACE}/journeys",
            json={"name": "w", "trigger_event": "order.created", "machine_config": None},
        )
        journey_id = only(created.json(), "journey_definition")["id"]
        await api.post(f"/places/{PLACE}/journeys/{journey_id}/start")
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t", headers=keys.headers()
            ) as down,
        ):
            event = {"event": "order.created", "customer_id": 3, "event_id": "e-3"}
            response = await down.post(f"/places/{PLACE}/events", json=event)
            assert response.status_code == 503
            assert response.headers["retry-after"] == "5"
            assert response.json()["error"]["code"] == "unavailable"
            listed = await down.get(f"/places/{PLACE}/journeys/{journey_id}/executions")
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
