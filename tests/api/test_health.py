"""The probes: liveness, and readiness naming what it can't reach."""

from sqlalchemy.ext.asyncio import create_async_engine

from tests.fixtures.api import app_client
from tests.fixtures.temporal import namespace_client


async def test_ready_when_database_and_temporal_answer(api):
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    response = await api.get("/readyz", headers={"Api-Key": ""})
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "temporal": "ok"}}


async def test_not_ready_without_temporal(temporal_down):
    response = await temporal_down.get("/readyz")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    error = response.json()["error"]
    assert (error["code"], error["message"]) == ("unavailable", "Not ready: temporal unreachable.")
    assert [d["path"] for d in error["details"]] == ["temporal"]
    assert (await temporal_down.get("/healthz")).status_code == 200


async def test_not_ready_without_the_database(temporal, settings, keys, closed_port):
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port}/test"
    down = create_async_engine(url)
    client = await namespace_client(temporal, settings.database_url)
    try:
        async with app_client(client, down, settings, keys) as app:
            response = await app.get("/readyz")
    finally:
        await down.dispose()
    assert response.status_code == 503
    (detail,) = response.json()["error"]["details"]
    assert detail["path"] == "database"
    assert response.json()["error"]["message"] == "Not ready: database unreachable."
