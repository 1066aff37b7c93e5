"""Fixtures: a migrated database per backend (SQLite and PostgreSQL) and an API client."""

import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from activities.channels import Channel, build_channels, close_channels
from api.app import create_app
from settings import Settings
from store import demo, places
from store.db import create_engine, session_factory
from store.migrate import upgrade_async
from tests.servers import LOOPBACK, HttpServer, Mailbox, smtp_server

POSTGRES_URL = os.environ.get(
    "JOURNEYS_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
# CI sets this so that an unreachable PostgreSQL fails the run instead of skipping half of it.
REQUIRE_POSTGRES = os.environ.get("JOURNEYS_TEST_REQUIRE_POSTGRES") == "1"
TABLES = (
    "messages",
    "campaigns",
    "templates",
    "segment_members",
    "segments",
    "customers",
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
    clean_engine: AsyncEngine, settings: Settings, keys: Keys
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the app, authenticated as a manager of place 42."""
    app = create_app(settings, engine=clean_engine)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://journeys.test", headers=keys.headers()
        ) as client:
            yield client


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
