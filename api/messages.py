"""The delivery log: `/places/{placeId}/messages`."""

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from api.deps import CurrentManager, Pagination, Session
from api.wire import envelope, envelope_models
from journeys.schemas import Resource
from services import messages as service
from store.tables import Message
from workflows.model.machine import MAX_ID, ChannelName

KIND = "message"
AnId = Annotated[int | None, Query(ge=1, le=MAX_ID)]


class MessageOut(Resource):
    id: int
    place_id: int
    # A test's: the stored customer it was rendered for, or null.
    customer_id: int | None
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
    # Sent to an operator's own address (`POST /templates/{id}/test`), not to a customer.
    test: bool


MessageEnvelope, MessagePage = envelope_models(KIND, MessageOut)
router = APIRouter(prefix="/places/{place_id}/messages", tags=["messages"])


def message_out(message: Message) -> MessageOut:
    return MessageOut.model_validate({**message.model_dump(), "to": message.recipient})


@router.get("", response_model=None, responses={200: {"model": MessagePage}})
async def list_messages(
    manager: CurrentManager,
    session: Session,
    paging: Pagination,
    customer_id: AnId = None,
    journey_id: AnId = None,
    execution_id: Annotated[str | None, Query(max_length=255)] = None,
    channel: Annotated[ChannelName | None, Query()] = None,
    status: Annotated[service.Status | None, Query()] = None,
    test: Annotated[bool | None, Query(description="true: only test sends; false: none.")] = None,
) -> JSONResponse:
    """Every send attempt, ordered by id: channel, template, recipient, rendered content,
    status (`sent`, `skipped`, `failed`; `pending` while a provider is retried) and reason;
    `test` marks a template sent to an operator's address (`POST /templates/{id}/test`)."""
    rows, total = await service.page(
        session,
        manager.place_id,
        paging.offset,
        paging.per_page,
        customer_id=customer_id,
        journey_id=journey_id,
        execution_id=execution_id,
        channel=channel,
        status=status,
        test=test,
    )
    return envelope(KIND, [message_out(row) for row in rows], paging.meta(total))
