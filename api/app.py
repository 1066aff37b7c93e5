"""The FastAPI application factory."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from api import campaigns, customers, errors, journeys, messages, templates
from api.body_guard import BodyGuard
from settings import Settings, get_settings
from store.db import create_engine, session_factory


def create_app(settings: Settings | None = None, engine: AsyncEngine | None = None) -> FastAPI:
    """Build the app; `engine` is injected by tests, otherwise made from settings."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = engine is None
        db = engine if engine is not None else create_engine(settings.database_url)
        app.state.sessions = session_factory(db)
        try:
            yield
        finally:
            if own:
                await db.dispose()

    app = FastAPI(
        title="Journeys",
        summary="Durable customer journeys for loyalty platforms, run on Temporal.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.add_middleware(BodyGuard, max_bytes=settings.max_body_bytes)
    errors.install(app)
    for module in (journeys, customers, templates, campaigns, messages):
        app.include_router(module.router)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process is up and serving."""
        return {"status": "ok"}

    return app
