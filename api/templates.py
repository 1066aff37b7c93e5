"""Communication templates: `/places/{placeId}/templates`."""

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, Response

from api import messages
from api.contract import CONFLICT
from api.deps import AppSettings, CurrentManager, Pagination, Session, Sessions, TemporalClient
from api.wire import envelope, envelope_models
from journeys.schemas import Resource
from services import templates as service
from services.templates import TemplateCreate, TemplateUpdate
from store.tables import Template
from workflows.model.machine import MAX_ID, ChannelName

KIND = "communication_template"
TemplateId = Annotated[int, Path(ge=1, le=MAX_ID, description="The template's id.")]


class TemplateOut(Resource):
    id: int
    place_id: int
    name: str
    channel: str
    subject: str | None
    title: str | None
    body: str
    category: str
    created: int
    updated: int


TemplateEnvelope, TemplatePage = envelope_models(KIND, TemplateOut)
router = APIRouter(prefix="/places/{place_id}/templates", tags=["templates"])


def _out(template: Template) -> TemplateOut:
    return TemplateOut.model_validate(template, from_attributes=True)


@router.get("", response_model=None, responses={200: {"model": TemplatePage}})
async def list_templates(
    manager: CurrentManager,
    session: Session,
    paging: Pagination,
    channel: Annotated[ChannelName | None, Query()] = None,
) -> JSONResponse:
    """List the place's templates, ordered by id (paginated; filter by channel)."""
    rows, total = await service.page(
        session, manager.place_id, paging.offset, paging.per_page, channel
    )
    return envelope(KIND, [_out(row) for row in rows], paging.meta(total))


@router.post("", response_model=None, responses={200: {"model": TemplateEnvelope}})
async def create_template(
    manager: CurrentManager, session: Session, body: TemplateCreate
) -> JSONResponse:
    """Create a template; subject, title and body are Liquid, checked here."""
    return envelope(KIND, [_out(await service.create(session, manager.place_id, body))])


@router.get("/{template_id}", response_model=None, responses={200: {"model": TemplateEnvelope}})
async def get_template(
    manager: CurrentManager, session: Session, template_id: TemplateId
) -> JSONResponse:
    """Get one template."""
    return envelope(KIND, [_out(await service.get(session, manager.place_id, template_id))])


@router.put("/{template_id}", response_model=None, responses={200: {"model": TemplateEnvelope}})
async def update_template(
    manager: CurrentManager, session: Session, template_id: TemplateId, body: TemplateUpdate
) -> JSONResponse:
    """Update a template (only the fields given change; the channel can't change)."""
    template = await service.update_by_id(session, manager.place_id, template_id, body)
    return envelope(KIND, [_out(template)])


@router.delete("/{template_id}", status_code=204, response_class=Response, responses=CONFLICT)
async def delete_template(
    manager: CurrentManager, session: Session, template_id: TemplateId
) -> None:
    """Delete a template that no journey's current config sends (409 names the journeys)."""
    await service.delete(session, manager.place_id, template_id)


@router.post("/{template_id}/preview", response_model=service.Preview)
async def preview_template(
    manager: CurrentManager,
    session: Session,
    settings: AppSettings,
    template_id: TemplateId,
    body: service.PreviewRequest,
) -> service.Preview:
    """Render the template for a stored customer (`customer_id`) or one described in the
    body (`customer`), with an optional `event`: what a journey would send them. Nothing is
    sent or stored; a field that fails to render is a 422 naming it."""
    return await service.preview(session, settings, manager.place_id, template_id, body)


@router.post(
    "/{template_id}/test",
    response_model=None,
    responses={200: {"model": messages.MessageEnvelope}, **CONFLICT},
)
async def send_test_message(
    manager: CurrentManager,
    sessions: Sessions,
    settings: AppSettings,
    temporal: TemporalClient,
    template_id: TemplateId,
    body: service.SendTestRequest,
) -> JSONResponse:
    """Send the template once to `to` (an operator's address, phone or push token, as the
    channel wants) through the channel's provider, rendered for `customer_id`, `customer`
    or an empty customer, with an optional `event`. Answers the message as the log keeps it,
    marked `test`: `sent`, or `failed` with the provider's answer. No consent, quiet hours
    or frequency cap applies, and it counts in no statistics or cap. The same
    `idempotency_key` again never sends twice; a provider still down after a few seconds of
    retries is a 503."""
    message = await service.send_test(
        sessions, settings, temporal, manager.place_id, template_id, body
    )
    return envelope(messages.KIND, [messages.message_out(message)])
