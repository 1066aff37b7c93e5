"""Request dependencies, as `Annotated` aliases used by every route.

Each is `async def` even where it doesn't await: FastAPI runs a plain `def` dependency in its
thread pool, a thread hop per dependency per request (a measured cost on `POST /events`)."""

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request, Security
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader
from pydantic.alias_generators import to_snake
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from journeys.errors import Invalid, Issue
from journeys.settings import Settings
from services import journeys as journey_service
from services.auth import Manager, authenticate
from services.kept import Kept
from services.stats import JourneyStats
from store.db import SessionFactory, read_only
from store.tables import Journey
from workflows.model.machine import MAX_ID


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    # Commit before the response is sent (scope="function"), so a 2xx means it is stored.
    async with request.app.state.sessions() as session:
        if request.method in ("GET", "HEAD"):
            await read_only(session)
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


Session = Annotated[AsyncSession, Depends(_session, scope="function")]

PlaceId = Annotated[int, Path(ge=1, le=MAX_ID, description="The place's id.")]
# Where the body guard leaves the caller it authenticated before reading the body.
MANAGER_STATE = "journeys.manager"
# Where it leaves the JSON document it parsed, for a route that reads its body itself.
BODY_STATE = "journeys.body"


# Not `auto_error`: a missing key is answered with the error body like every other refusal.
API_KEY = APIKeyHeader(
    name="Api-Key",
    scheme_name="ApiKey",
    description="A manager API key of the place (`journeys keys create --place ID`).",
    auto_error=False,
)


async def _manager(
    request: Request,
    place_id: PlaceId,
    api_key: Annotated[str | None, Security(API_KEY)] = None,
) -> Manager:
    known = request.scope.get("state", {}).get(MANAGER_STATE)
    if isinstance(known, Manager) and known.place_id == place_id:
        return known
    state = request.app.state
    return await authenticate(state.sessions, state.keys, place_id, api_key)


CurrentManager = Annotated[Manager, Depends(_manager)]


@dataclass(frozen=True)
class Paging:
    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def meta(self, total: int) -> dict[str, int]:
        return {"page": self.page, "perPage": self.per_page, "total": total}


async def _paging(
    page: Annotated[int, Query(ge=1, le=1_000_000, description="1-based page number.")] = 1,
    per_page: Annotated[int, Query(ge=1, le=100, description="Items per page (max 100).")] = 25,
) -> Paging:
    return Paging(page=page, per_page=per_page)


Pagination = Annotated[Paging, Depends(_paging)]


async def _temporal(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


async def _sessions(request: Request) -> SessionFactory:
    sessions: SessionFactory = request.app.state.sessions
    return sessions


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


TemporalClient = Annotated[Client, Depends(_temporal)]
AppSettings = Annotated[Settings, Depends(_settings)]
# For a route that needs a session besides its request's (a read before a short write).
Sessions = Annotated[SessionFactory, Depends(_sessions)]


async def _kept_stats(request: Request) -> Kept[JourneyStats]:
    kept: Kept[JourneyStats] = request.app.state.stats
    return kept


# The journeys' stats this process keeps a moment (`services.stats.kept_stats`).
KeptStats = Annotated[Kept[JourneyStats], Depends(_kept_stats)]


async def _kept_totals(request: Request) -> Kept[int]:
    kept: Kept[int] = request.app.state.totals
    return kept


# The executions lists' totals this process keeps a moment (`services.executions.page`).
KeptTotals = Annotated[Kept[int], Depends(_kept_totals)]


async def _write_gate(request: Request) -> AbstractAsyncContextManager[Any]:
    gate: AbstractAsyncContextManager[Any] = request.app.state.write_gate
    return gate


# Held around a hot route's write transaction (the events): see `store.db.write_gate`.
WriteGate = Annotated[AbstractAsyncContextManager[Any], Depends(_write_gate)]

JourneyId = Annotated[int, Path(ge=1, le=MAX_ID, description="The journey's id.")]


async def _journey(manager: CurrentManager, session: Session, journey_id: JourneyId) -> Journey:
    return await journey_service.get(session, manager.place_id, journey_id)


async def _locked_journey(
    manager: CurrentManager, session: Session, journey_id: JourneyId
) -> Journey:
    return await journey_service.get(session, manager.place_id, journey_id, lock=True)


# The journey of the path's `journey_id` in the caller's place (404 if there is none); the
# locked one is held until the request's transaction ends (a route that changes it).
CurrentJourney = Annotated[Journey, Depends(_journey)]
LockedJourney = Annotated[Journey, Depends(_locked_journey)]


# Kept on the route itself (routes aren't hashable, and live as long as their app).
_QUERY_NAMES = "_journeys_query_names"


def _query_names(route: APIRoute) -> frozenset[str]:
    names: frozenset[str] | None = getattr(route, _QUERY_NAMES, None)
    if names is None:
        names = frozenset(_queries(route.dependant))
        setattr(route, _QUERY_NAMES, names)
    return names


def _queries(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= _queries(dependency)
    return names


async def known_query(request: Request) -> None:
    """Refuse query parameters the endpoint doesn't take (`?perPage=` is not `?per_page=`),
    as unknown body keys are: silently ignoring one answers a question nobody asked."""
    route = request.scope.get("route")
    if not request.query_params or not isinstance(route, APIRoute):
        return
    known = _query_names(route)
    unknown = [name for name in dict.fromkeys(request.query_params) if name not in known]
    if unknown:
        raise Invalid([Issue(name, _unknown_query(name, known)) for name in unknown])


def _unknown_query(name: str, known: frozenset[str]) -> str:
    snake = to_snake(name)
    if snake != name and snake in known:
        return f"is not a query parameter of this endpoint: did you mean {snake}?"
    if not known:
        return "is not a query parameter of this endpoint, which takes none"
    return f"is not a query parameter of this endpoint; it takes {', '.join(sorted(known))}"
