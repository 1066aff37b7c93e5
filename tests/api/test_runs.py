"""`/run` and `/runs` through the API: validation, the audience count, the run record.

No worker runs here, so a run stays `starting`; the fan-out itself is covered in
tests/workflows/test_runs.py.
"""

import pytest
from sqlalchemy import text

from tests.helpers.api import OTHER_PLACE, PLACE, classified, import_customers, only
from tests.spec_examples import PROMO_CONFIG, PROMO_CREATE

BASE = f"/places/{PLACE}/journeys"


async def promo(api):
    response = await api.post(BASE, json={**PROMO_CREATE, "machine_config": PROMO_CONFIG})
    assert response.status_code == 200, response.text
    return only(response.json(), "journey_definition")["id"]


async def run(api, journey_id, body=None, **kwargs):
    return await api.post(f"{BASE}/{journey_id}/run", json=body, **kwargs)


async def test_run_counts_the_audience_and_records_the_run(api):
    # 1-10 VIP, 11-14 churned, 15-20 new; a static segment lists VIPs 1-3 and new 15.
    await import_customers(
        api,
        [classified(i, "vip") for i in range(1, 11)]
        + [classified(i, "churned") for i in range(11, 15)]
        + [classified(i, "new") for i in range(15, 21)],
    )
    static = await api.post(
        f"/places/{PLACE}/segments", json={"name": "Opted out", "customer_ids": [1, 2, 3, 15]}
    )
    opted_out = only(static.json(), "targeting_segment")["id"]
    journey_id = await promo(api)

    response = await run(api, journey_id, {"include_segment_ids": [4], "exclude_segment_ids": [6]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["triggered"] == 10
    assert set(body) == {"triggered", "runId"}

    cases = [
        ({}, 20),
        ({"include_segment_ids": [4, 6]}, 14),
        ({"exclude_segment_ids": [opted_out]}, 16),
        ({"include_segment_ids": [4], "exclude_segment_ids": [6, opted_out]}, 7),
        ({"includeSegmentIds": [3]}, 0),  # camelCase too; nobody is inactive
    ]
    for request, expected in cases:
        answered = await run(api, journey_id, request)
        assert answered.status_code == 200, answered.text
        assert answered.json()["triggered"] == expected, request
    assert (await api.post(f"{BASE}/{journey_id}/run")).json()["triggered"] == 20

    recorded = await api.get(f"{BASE}/{journey_id}/runs/{body['runId']}")
    assert recorded.status_code == 200
    item = only(recorded.json(), "journey_run")
    assert item["id"] == body["runId"]
    assert item["journeyId"] == journey_id
    assert item["journeyVersion"] == 1
    assert (item["includeSegmentIds"], item["excludeSegmentIds"]) == ([4], [6])
    assert (item["targeted"], item["status"], item["finished"]) == (10, "starting", None)
    assert 0 <= item["started"] <= 10

    listed = await api.get(f"{BASE}/{journey_id}/runs", params={"per_page": 3})
    assert listed.json()["meta"] == {"page": 1, "perPage": 3, "total": 7}
    assert len(listed.json()["node.journey_run"]) == 3


async def test_the_count_is_taken_at_the_call(api):
    await import_customers(api, [classified(i, "vip") for i in range(1, 6)])
    journey_id = await promo(api)
    body = (await run(api, journey_id, {"include_segment_ids": [4]})).json()
    await import_customers(api, [classified(i, "vip") for i in range(6, 9)])
    recorded = await api.get(f"{BASE}/{journey_id}/runs/{body['runId']}")
    assert only(recorded.json(), "journey_run")["targeted"] == body["triggered"] == 5


async def test_an_idempotency_key_answers_with_the_same_run(api):
    await import_customers(api, [classified(i, "vip") for i in range(1, 4)])
    journey_id = await promo(api)
    headers = {"Idempotency-Key": "promo-2026-11-28"}
    first = await run(api, journey_id, {"include_segment_ids": [4]}, headers=headers)
    await import_customers(api, [classified(4, "vip")])
    again = await run(api, journey_id, {"include_segment_ids": [4]}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert first.json()["triggered"] == 3
    listed = await api.get(f"{BASE}/{journey_id}/runs")
    assert listed.json()["meta"]["total"] == 1

    other = await run(api, journey_id, {"include_segment_ids": [6]}, headers=headers)
    assert other.status_code == 409
    assert "other segments" in other.json()["error"]["message"]
    fresh = await run(api, journey_id, {"include_segment_ids": [4]})
    assert fresh.json()["runId"] != first.json()["runId"]
    assert fresh.json()["triggered"] == 4


async def test_only_manual_journeys_run(api):
    response = await api.post(BASE, json={"name": "On orders", "trigger_event": "order.created"})
    journey_id = only(response.json(), "journey_definition")["id"]
    answered = await run(api, journey_id, {})
    assert answered.status_code == 409
    assert answered.json()["error"]["code"] == "conflict"
    assert "only manual journeys" in answered.json()["error"]["message"]
    assert (await api.get(f"{BASE}/{journey_id}/runs")).json()["meta"]["total"] == 0


async def test_segments_must_exist_in_the_place(api, keys):
    theirs = await api.post(
        f"/places/{OTHER_PLACE}/segments",
        json={"name": "Theirs", "customer_ids": [1]},
        headers=keys.headers(OTHER_PLACE),
    )
    assert theirs.status_code == 200, theirs.text
    their_segment = only(theirs.json(), "targeting_segment")["id"]
    journey_id = await promo(api)
    answered = await run(
        api,
        journey_id,
        {"include_segment_ids": [4, 999_999], "exclude_segment_ids": [6, their_segment]},
    )
    assert answered.status_code == 422
    details = answered.json()["error"]["details"]
    assert details == [
        {
            "path": "include_segment_ids.1",
            "message": "segment 999999 does not exist in this place",
        },
        {
            "path": "exclude_segment_ids.1",
            "message": f"segment {their_segment} does not exist in this place",
        },
    ]
    assert (await api.get(f"{BASE}/{journey_id}/runs")).json()["meta"]["total"] == 0


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"include_segment_ids": "4"}, "include_segment_ids"),
        ({"include_segment_ids": ["4"]}, "include_segment_ids.0"),
        ({"exclude_segment_ids": [0]}, "exclude_segment_ids.0"),
        ({"exclude_segment_ids": [True]}, "exclude_segment_ids.0"),
        ({"include_segment_ids": list(range(1, 102))}, "include_segment_ids"),
        ({"segments": [4]}, "segments"),
        ([4], "body"),
    ],
)
async def test_malformed_bodies_name_the_field(api, body, path):
    journey_id = await promo(api)
    answered = await run(api, journey_id, body)
    assert answered.status_code == 422, answered.text
    assert [d["path"] for d in answered.json()["error"]["details"]] == [path]


async def test_runs_belong_to_their_journey_and_place(api, keys):
    journey_id = await promo(api)
    other_journey = await promo(api)
    run_id = (await run(api, journey_id)).json()["runId"]
    assert (await api.get(f"{BASE}/{other_journey}/runs/{run_id}")).status_code == 404
    assert (await api.get(f"{BASE}/{journey_id}/runs/nope")).status_code == 404
    assert (await run(api, 999_999)).status_code == 404
    theirs = await api.get(
        f"/places/{OTHER_PLACE}/journeys/{journey_id}/runs/{run_id}",
        headers=keys.headers(OTHER_PLACE),
    )
    assert theirs.status_code == 404
    foreign_key = await api.get(
        f"{BASE}/{journey_id}/runs/{run_id}", headers=keys.headers(OTHER_PLACE)
    )
    assert foreign_key.status_code == 403


async def test_run_answers_503_and_records_nothing_while_temporal_is_unreachable(
    api, temporal_down
):
    await import_customers(api, [classified(i, "vip") for i in range(1, 4)])
    journey_id = await promo(api)
    response = await run(temporal_down, journey_id, {"include_segment_ids": [4]})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert (await api.get(f"{BASE}/{journey_id}/runs")).json()["meta"]["total"] == 0
    stats = await temporal_down.get(f"{BASE}/{journey_id}/stats")
    assert stats.status_code == 503
    # Once Temporal is back the same call works.
    assert (await run(api, journey_id, {"include_segment_ids": [4]})).json()["triggered"] == 3


async def test_deleting_the_journey_drops_its_runs_and_their_snapshots(api, clean_engine):
    await import_customers(api, [classified(i, "vip") for i in range(1, 6)])
    journey_id, other = await promo(api), await promo(api)
    run_id = (await run(api, journey_id)).json()["runId"]
    await run(api, other)

    async def members() -> dict[str, int]:
        async with clean_engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT run_id, COUNT(*) FROM journey_run_members GROUP BY run_id")
            )
            return dict(rows.all())

    assert len(await members()) == 2 and (await members())[run_id] == 5
    assert (await api.delete(f"{BASE}/{journey_id}")).status_code == 204
    assert (await api.get(f"{BASE}/{journey_id}/runs/{run_id}")).status_code == 404
    assert list((await members()).values()) == [5]  # only the other journey's run is left
    assert run_id not in await members()
