"""The delivery log, as the API lists it."""

from typing import Any, Literal

from sqlmodel.ext.asyncio.session import AsyncSession

from store import crud
from store.tables import Message
from workflows.model.machine import ChannelName

Status = Literal["pending", "sent", "skipped", "failed"]


async def page(
    session: AsyncSession,
    place_id: int,
    offset: int,
    limit: int,
    *,
    customer_id: int | None = None,
    journey_id: int | None = None,
    execution_id: str | None = None,
    channel: ChannelName | None = None,
    status: Status | None = None,
    test: bool | None = None,
) -> tuple[list[Message], int]:
    """The place's messages by id, filtered by every criterion given, and the total."""
    filters: list[tuple[Any, Any]] = [
        (Message.customer_id, customer_id),
        (Message.journey_id, journey_id),
        (Message.execution_id, execution_id),
        (Message.channel, channel),
        (Message.status, status),
        (Message.test, test),
    ]
    conditions: list[Any] = [Message.place_id == place_id]
    conditions += [column == value for column, value in filters if value is not None]
    return await crud.page(session, Message, conditions, offset=offset, limit=limit)
