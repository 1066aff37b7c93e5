"""Outages and limits: 503 with Retry-After for every dependency that is away or slow (within
seconds, never a 500), 4xx naming the field for what can never be carried, nothing stored
of a refused request, and no body read before its sender is known."""

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from api.app import create_app
from api.errors import dependency_response
from store.db import create_engine
from tests.fixtures.api import app_client
from tests.fixtures.temporal import namespace_client
from tests.helpers.api import PLACE, only
from tests.servers import LOOPBACK

EVENTS = f"/places/{PLACE}/events"


@asynccontextmanager
async def silent_server() -> AsyncIterator[str]:
    """A TCP server that accepts connections and never says a word: a frozen dependency."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, LOOPBACK, 0)
    try:
        yield f"{LOOPBACK}:{server.sockets[0].getsockname()[1]}"
    finally:
        for writer in held:
            writer.close()
        server.close()


async def started_journey(api) -> int:
    created = await api.post(
        f"/places/{PLACE}/journeys",
        json={"name": "w", "trigger_event": "order.created", "machine_config": None},
    )
    journey_id = only(created.json(), "journey_definition")["id"]
    assert (await api.post(f"/places/{PLACE}/journeys/{journey_id}/start")).status_code == 200
    return int(journey_id)


def assert_unavailable(response) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) >= 1
    error = response.json()["error"]
    assert error["code"] == "unavailable"
    assert "Traceback" not in error["message"]


async def test_event_data_over_the_limit_is_refused_and_its_id_is_not_poisoned(api):
    await started_journey(api)
    big = {"blob": "x" * 70_000}
    event = {"event": "order.created", "customer_id": 3, "event_id": "big-1", "data": big}
    response = await api.post(EVENTS, json=event)
    assert response.status_code == 422, response.text
    (detail,) = response.json()["error"]["details"]
    assert detail["path"] == "data"
    assert "at most 65536 bytes" in detail["message"]
    assert (await api.get(f"/places/{PLACE}/customers/3")).status_code == 404  # nothing stored

    batch = {"events": [{**event, "event_id": "small-0", "data": {}}, event]}
    response = await api.post(EVENTS, json=batch)
    assert response.status_code == 422
    assert [d["path"] for d in response.json()["error"]["details"]] == ["events.1.data"]

    response = await api.post(EVENTS, json={**event, "data": {"small": True}})
    assert response.status_code == 202, response.text
    assert response.json()["triggered"] == 1


async def test_customer_attributes_are_bounded_as_given_and_as_merged(api):
    url = f"/places/{PLACE}/customers/5"
    response = await api.put(url, json={"attributes": {"bio": "x" * 70_000}})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["path"] == "attributes"
    for key in ("a", "b"):
        half = {"attributes": {key: "y" * 40_000}}
        response = await api.put(url, json=half)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["path"] == "attributes"
    stored = only((await api.get(url)).json(), "customer")
    assert list(stored["attributes"]) == ["a"]  # the refused merge changed nothing

    event = {
        "events": [
            {"event": "order.created", "customer_id": 6, "customer": {"attributes": {"a": 1}}},
            {"event": "order.created", "customer_id": 5, "customer": half},
        ]
    }
    response = await api.post(EVENTS, json=event)
    assert response.status_code == 422, response.text
    (detail,) = response.json()["error"]["details"]
    assert detail["path"] == "events.1.customer.attributes"
    assert (await api.get(f"/places/{PLACE}/customers/6")).status_code == 404


async def test_a_database_that_refuses_connections_answers_503(
    temporal, settings, keys, closed_port, database_url, tmp_path
):
    client = await namespace_client(temporal, database_url)
    if settings.database_url.startswith("sqlite"):
        down = create_engine(f"sqlite+aiosqlite:///{tmp_path}", timeout=1.0)  # a directory
    else:
        down = create_engine(
            f"postgresql+asyncpg://postgres@{LOOPBACK}:{closed_port}/test", timeout=1.0
        )
    event = {"event": "order.created", "customer_id": 3, "event_id": "e-down"}
    try:
        async with app_client(client, down, settings, keys) as app:
            for response in (
                await app.get(f"/places/{PLACE}/journeys"),
                await app.post(EVENTS, json=event),
                await app.put(f"/places/{PLACE}/customers/3", json={"email": "a@example.com"}),
            ):
                assert_unavailable(response)
    finally:
        await down.dispose()


async def test_a_frozen_database_answers_503_within_seconds(temporal, settings, keys, database_url):
    if settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite has no server to freeze: a held lock is the test below")
    client = await namespace_client(temporal, database_url)
    async with silent_server() as address:
        frozen = create_engine(f"postgresql+asyncpg://postgres@{address}/test", timeout=1.0)
        try:
            async with app_client(client, frozen, settings, keys) as app:
                started = time.monotonic()
                response = await app.get(f"/places/{PLACE}/journeys")
                elapsed = time.monotonic() - started
        finally:
            await frozen.dispose()
    assert_unavailable(response)
    assert elapsed < 10, elapsed


async def test_a_locked_sqlite_file_answers_503_within_seconds(
    temporal, settings, keys, database_url, engine
):
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("the SQLite write lock")
    client = await namespace_client(temporal, database_url)
    impatient = create_engine(settings.database_url, timeout=0.5)
    blocker = create_engine(settings.database_url)
    quick = settings.model_copy(update={"database_timeout_seconds": 0.5})
    try:
        async with (
            blocker.connect() as holder,
            app_client(client, impatient, quick, keys) as app,
        ):
            await holder.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: the write lock
            started = time.monotonic()
            response = await app.put(f"/places/{PLACE}/customers/9", json={"email": "b@e.com"})
            elapsed = time.monotonic() - started
            assert_unavailable(response)
            assert elapsed < 5, elapsed
            # Many writers at once: each waits its turn for a bounded time, not in a queue
            # as long as the lock is held.
            started = time.monotonic()
            responses = await asyncio.gather(
                *(
                    app.post(EVENTS, json={"event": "order.created", "customer_id": n})
                    for n in range(1, 21)
                )
            )
            elapsed = time.monotonic() - started
            for response in responses:
                assert_unavailable(response)
            assert elapsed < 5, elapsed
            # Reads take no lock: they go on while a writer holds it.
            assert (await app.get(f"/places/{PLACE}/journeys")).status_code == 200
            await holder.rollback()
    finally:
        await impatient.dispose()
        await blocker.dispose()


async def test_a_statement_past_its_time_is_ended_and_answered_503(database_url):
    slow = create_engine(database_url, statement_timeout=0.3)
    query = (
        "SELECT pg_sleep(5)"
        if not database_url.startswith("sqlite")
        else "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000000)"
        " SELECT count(*) FROM n"
    )
    started = time.monotonic()
    try:
        with pytest.raises(DBAPIError) as ended:
            async with slow.connect() as connection:
                await connection.execute(text(query))
    finally:
        await slow.dispose()
    assert time.monotonic() - started < 3
    response = dependency_response(ended.value)
    assert response is not None and response.status_code == 503


async def test_a_frozen_temporal_answers_503_within_seconds(api, clean_engine, settings, keys):
    await started_journey(api)
    async with silent_server() as address:
        frozen = await Client.connect(address, lazy=True, data_converter=pydantic_data_converter)
        async with app_client(frozen, clean_engine, settings, keys) as app:
            started = time.monotonic()
            event = {"event": "order.created", "customer_id": 3, "event_id": "frozen-1"}
            response = await app.post(EVENTS, json=event)
            elapsed = time.monotonic() - started
    assert_unavailable(response)
    assert elapsed < 10, elapsed
    # The source sends it again once Temporal is back: it starts, it was not poisoned.
    again = await api.post(EVENTS, json=event)
    assert again.status_code == 202, again.text
    assert again.json()["triggered"] == 1


async def test_no_body_is_read_before_its_sender_is_known(clean_engine, settings, keys):
    """An unknown caller's 15 MB body is refused without being read, let alone parsed."""
    app = create_app(settings, engine=clean_engine, temporal=None)
    chunk = b" " * 65_536
    chunks = 15 * 16
    read = 0

    async def receive():
        nonlocal read
        read += 1
        return {"type": "http.request", "body": chunk, "more_body": read < chunks}

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async with app.router.lifespan_context(app):
        for headers in ([], [(b"api-key", b"jrn_not-a-key")], [(b"api-key", keys[43].encode())]):
            read = 0
            sent.clear()
            scope = {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "POST",
                "scheme": "http",
                "path": f"/places/{PLACE}/events",
                "raw_path": f"/places/{PLACE}/events".encode(),
                "query_string": b"",
                "root_path": "",
                "headers": [(b"content-type", b"application/json"), *headers],
                "client": ("127.0.0.1", 1),
                "server": ("journeys.test", 80),
                "app": app,
            }
            await app(scope, receive, send)
            assert sent[0]["status"] in (401, 403)
            assert read == 0


async def test_a_key_is_still_checked_for_its_place_with_a_body(api, keys):
    other = {"Api-Key": keys[43]}
    response = await api.post(f"/places/{PLACE}/events", json={}, headers=other)
    assert response.status_code == 403
    response = await api.post(f"/places/{PLACE}/events", json={}, headers={"Api-Key": "nope"})
    assert response.status_code == 401


async def test_a_machine_config_too_large_to_carry_is_refused(api):
    config = {
        "initial": "check",
        "states": {
            "check": {
                "meta": {
                    "type": "condition",
                    "attribute": "tier",
                    "operator": "in",
                    "value": ["x" * 300 for _ in range(1000)],
                },
                "on": {"TRUE": "done", "FALSE": "done"},
            },
            "done": {"type": "final"},
        },
    }
    response = await api.post(
        f"/places/{PLACE}/journeys",
        json={"name": "big", "trigger_event": "order.created", "machine_config": config},
    )
    assert response.status_code == 422, response.text
    (detail,) = response.json()["error"]["details"]
    assert detail["path"] == "machine_config"
    assert "at most 262144 bytes" in detail["message"]
