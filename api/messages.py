"""The delivery log: `/places/{placeId}/messages`."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from api.deps import CurrentManager, Pagination, Session
from api.wire import Resource, envelope, envelope_models
from store import crud
from store.tables import Message
from workflows.model.machine import MAX_ID

KIND = "message"
AnId = Annotated[int | None, Query(ge=1, le=MAX_ID)]


class MessageOut(Resource):
    id: int
    place_id: int
    customer_id: int
    journey_id: int | None
    execution_id: str | None
    state: str | None
    channel: str
    template_id: int | None
    to: str | None
    subject: str | None
    title: str | None
    body: str | None
    status: str
    reason: str | None
    provider: str | None
    provider_message_id: str | None
    attempts: int
    created: int
    updated: int


MessageEnvelope, MessagePage = envelope_models(KIND, MessageOut)
router = APIRouter(prefix="/places/{place_id}/messages", tags=["messages"])


def _out(message: Message) -> MessageOut:
    return MessageOut.model_validate({**message.model_dump(), "to": message.recipient})


@router.get("", response_model=None, responses={200: {"model": MessagePage}})
async def list_messages(
    manager: CurrentManager,
    session: Session,
    paging: Pagination,
    customer_id: AnId = None,
    journey_id: AnId = None,
    execution_id: Annotated[str | None, Query(max_length=255)] = None,
    channel: Annotated[Literal["email", "sms", "push"] | None, Query()] = None,
    status: Annotated[Literal["pending", "sent", "skipped", "failed"] | None, Query()] = None,
) -> JSONResponse:
    """Every send attempt, ordered by id: channel, template, recipient, rendered content,
    status (`sent`, `skipped`, `failed`; `pending` while a provider is retried) and reason."""
    filters: list[tuple[Any, Any]] = [
        (Message.customer_id, customer_id),
        (Message.journey_id, journey_id),
        (Message.execution_id, execution_id),
        (Message.channel, channel),
        (Message.status, status),
    ]
    conditions: list[Any] = [Message.place_id == manager.place_id]
    conditions += [column == value for column, value in filters if value is not None]
    rows, total = await crud.page(
        session, Message, conditions, offset=paging.offset, limit=paging.per_page
    )
    return envelope(KIND, [_out(row) for row in rows], paging.meta(total))
