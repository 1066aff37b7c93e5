"""The probes: liveness, and readiness naming what it can't reach."""

import asyncio
import time
import uuid

from google.protobuf.duration_pb2 import Duration
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.contrib.pydantic import pydantic_data_converter

from orchestration import temporal_setup
from tests.fixtures.api import app_client
from tests.fixtures.database import one_backend
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


@one_backend
async def test_not_ready_until_temporal_accepts_the_search_attributes(
    temporal, clean_engine, settings, keys
):
    """A namespace without the search attributes (or whose server doesn't know them yet):
    Temporal answers, but every start would be rejected, so the API is not ready until
    `journeys temporal-setup` has added them and Temporal accepts them. Before the namespace
    exists at all, the answer names it (Temporal answers: it is not unreachable)."""
    namespace = f"bare-{uuid.uuid4().hex[:8]}"
    client = await temporal.connect_client(
        namespace=namespace, data_converter=pydantic_data_converter
    )
    async with app_client(client, clean_engine, settings, keys) as app:
        response = await app.get("/readyz")
        assert response.status_code == 503, response.text
        error = response.json()["error"]
        assert error["message"] == f"Not ready: temporal has no namespace {namespace}."
        assert [detail["path"] for detail in error["details"]] == ["temporal"]

        await client.workflow_service.register_namespace(
            RegisterNamespaceRequest(
                namespace=namespace,
                workflow_execution_retention_period=Duration(seconds=86_400),
            )
        )
        deadline = time.monotonic() + 30
        while True:  # a namespace just registered may be unknown for a moment
            response = await app.get("/readyz")
            error = response.json().get("error", {})
            if "search attributes" in error.get("message", "") or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        assert response.status_code == 503, response.text
        assert error["message"] == (
            "Not ready: temporal does not accept the search attributes yet."
        )
        (detail,) = error["details"]
        assert detail["path"] == "temporal"
        assert namespace in detail["message"] and "PlaceId" in detail["message"]

        await temporal_setup.prepare(client)  # returns once Temporal accepts them
        assert await temporal_setup.unusable_search_attributes(client) is None
        response = await app.get("/readyz")
        assert response.status_code == 200, response.text
