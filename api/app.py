"""The FastAPI application factory."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from api import (
    campaigns,
    console,
    contract,
    customers,
    docs,
    errors,
    events,
    executions,
    health,
    inbound,
    journeys,
    messages,
    place_settings,
    recommendations,
    runs,
    segments,
    stats,
    templates,
    unsubscribe,
)
from api.body_guard import BodyGuard
from api.deps import known_query
from journeys.settings import Settings, get_settings
from orchestration import temporal_client
from services.auth import KeyCache
from services.kept import Kept
from services.stats import JourneyStats
from store.db import create_engine, session_factory, write_gate


def create_app(
    settings: Settings | None = None,
    engine: AsyncEngine | None = None,
    temporal: Client | None = None,
) -> FastAPI:
    """Build the app; tests inject `engine` and `temporal`, otherwise both come from settings."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = engine is None
        db = engine
        if db is None:
            db = create_engine(
                settings.database_url,
                pool_size=settings.api_database_connections,
                timeout=settings.database_timeout_seconds,
                statement_timeout=settings.database_statement_timeout_seconds,
            )
        app.state.sessions = session_factory(db)
        app.state.write_gate = write_gate(db, settings.database_timeout_seconds)
        # Connected once for the app's life; lazily, so definitions are served while
        # Temporal is still starting (starts answer 503 until it is reachable).
        app.state.temporal = temporal or await temporal_client.connect(settings, lazy=True)
        # A journey's stats and an executions list's total, each kept a moment per process.
        app.state.stats = Kept[JourneyStats]()
        app.state.totals = Kept[int]()
        try:
            yield
        finally:
            await app.state.stats.close()
            await app.state.totals.close()
            if own:
                await db.dispose()

    app = FastAPI(
        title="Journeys",
        summary="Durable customer journeys for loyalty platforms, run on Temporal.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(known_query)],
    )
    app.state.settings = settings
    app.state.keys = KeyCache()
    app.add_middleware(BodyGuard, max_bytes=settings.max_body_bytes)
    errors.install(app)
    routers = (
        health,
        journeys,
        runs,
        stats,
        executions,
        events,
        customers,
        segments,
        templates,
        campaigns,
        messages,
        recommendations,
        place_settings,
        unsubscribe,
        inbound,
    )
    for module in routers:
        app.include_router(module.router)
    docs.install(app)
    console.install(app)
    contract.install(app)

    return app
