"""Request dependencies, as `Annotated` aliases used by every route."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from errors import Forbidden, Unauthorized
from settings import Settings
from store import places
from workflows.model.machine import MAX_ID


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    # Commit before the response is sent (scope="function"), so a 2xx means it is stored.
    async with request.app.state.sessions() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


Session = Annotated[AsyncSession, Depends(_session, scope="function")]

PlaceId = Annotated[int, Path(ge=1, le=MAX_ID, description="The place's id.")]


@dataclass(frozen=True)
class Manager:
    """Who is calling: the place their key is for and the user it was issued to."""

    place_id: int
    user_id: int


async def _manager(
    session: Session,
    place_id: PlaceId,
    api_key: Annotated[str | None, Header(alias="Api-Key")] = None,
) -> Manager:
    if not api_key:
        raise Unauthorized("An Api-Key header with a manager API key is required.")
    key = await places.find_key(session, api_key)
    if key is None:
        raise Unauthorized("The API key is not valid.")
    if key.place_id != place_id:
        raise Forbidden(f"The API key is not a manager key for place {place_id}.")
    return Manager(place_id=place_id, user_id=key.user_id)


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


def _paging(
    page: Annotated[int, Query(ge=1, le=1_000_000, description="1-based page number.")] = 1,
    per_page: Annotated[int, Query(ge=1, le=100, description="Items per page (max 100).")] = 25,
) -> Paging:
    return Paging(page=page, per_page=per_page)


Pagination = Annotated[Paging, Depends(_paging)]


def _temporal(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


TemporalClient = Annotated[Client, Depends(_temporal)]
AppSettings = Annotated[Settings, Depends(_settings)]
