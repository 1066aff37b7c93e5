"""Communication templates: `/places/{placeId}/templates`."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import Field
from sqlmodel.ext.asyncio.session import AsyncSession

from api.deps import CurrentManager, Pagination, Session
from api.wire import Resource, envelope, envelope_models
from journeys import rendering
from journeys.errors import Invalid, Issue
from journeys.schemas import Request
from store import crud
from store.tables import Template
from workflows.model.machine import MAX_ID

KIND = "communication_template"
Channel = Literal["email", "sms", "push"]
TemplateId = Annotated[int, Path(ge=1, le=MAX_ID, description="The template's id.")]
Name = Annotated[str, Field(min_length=1, max_length=255)]
Text = Annotated[str, Field(max_length=100_000)]
# Which optional text fields each channel has; `body` is required everywhere.
FIELDS: dict[str, dict[str, bool]] = {
    "email": {"subject": True, "title": False},
    "sms": {"subject": False, "title": False},
    "push": {"subject": False, "title": True},
}


class TemplateCreate(Request):
    name: Name
    channel: Channel
    subject: Text | None = None
    title: Text | None = None
    body: Annotated[str, Field(min_length=1, max_length=100_000)]


class TemplateUpdate(Request):
    name: Name | None = None
    channel: Channel | None = None
    subject: Text | None = None
    title: Text | None = None
    body: Annotated[str, Field(min_length=1, max_length=100_000)] | None = None


class TemplateOut(Resource):
    id: int
    place_id: int
    name: str
    channel: str
    subject: str | None
    title: str | None
    body: str
    created: int
    updated: int


TemplateEnvelope, TemplatePage = envelope_models(KIND, TemplateOut)
router = APIRouter(prefix="/places/{place_id}/templates", tags=["templates"])


def _one(template: Template) -> JSONResponse:
    return envelope(KIND, [TemplateOut.model_validate(template, from_attributes=True)])


def _check(values: dict[str, Any]) -> None:
    """Channel fields and Liquid syntax of a template's final state."""
    channel = values["channel"]
    issues = []
    for field, wanted in FIELDS[channel].items():
        if values.get(field) is not None and not wanted:
            issues.append(Issue(field, f"{channel} templates have no {field}"))
        elif values.get(field) is None and wanted and field == "subject":
            issues.append(Issue(field, "is required for email templates"))
    if values.get("body") is None:
        issues.append(Issue("body", "must not be null"))
    if values.get("name") is None:
        issues.append(Issue("name", "must not be null"))
    issues += _liquid(values)
    if issues:
        raise Invalid(issues)


def _liquid(values: dict[str, Any]) -> list[Issue]:
    issues = []
    for field in ("subject", "title", "body"):
        source = values.get(field)
        problem = rendering.check(source) if source else None
        if problem:
            issues.append(Issue(field, f"is not valid Liquid: {problem}"))
    return issues


def check_body(body: TemplateCreate | TemplateUpdate) -> None:
    """What a body shows on its own, before it meets a stored template: all of a create,
    the Liquid of an update's fields."""
    if isinstance(body, TemplateCreate):
        _check(body.model_dump())
        return
    issues = _liquid(body.model_dump(include=body.model_fields_set))
    if issues:
        raise Invalid(issues)


async def create(session: AsyncSession, place_id: int, body: TemplateCreate) -> Template:
    values = body.model_dump()
    _check(values)
    return await crud.create(session, Template(place_id=place_id, **values))


async def update(session: AsyncSession, template: Template, body: TemplateUpdate) -> Template:
    changes = body.model_dump(include=body.model_fields_set)
    if changes.get("channel", template.channel) != template.channel:
        raise Invalid([Issue("channel", "cannot be changed: journeys use the template by channel")])
    _check({**template.model_dump(), **changes})
    await crud.update(session, template, changes)
    return template


@router.get("", response_model=None, responses={200: {"model": TemplatePage}})
async def list_templates(
    manager: CurrentManager,
    session: Session,
    paging: Pagination,
    channel: Annotated[Channel | None, Query()] = None,
) -> JSONResponse:
    """List the place's templates, ordered by id (paginated; filter by channel)."""
    conditions: list[Any] = [Template.place_id == manager.place_id]
    if channel is not None:
        conditions.append(Template.channel == channel)
    rows, total = await crud.page(
        session, Template, conditions, offset=paging.offset, limit=paging.per_page
    )
    items = [TemplateOut.model_validate(row, from_attributes=True) for row in rows]
    return envelope(KIND, items, paging.meta(total))


@router.post("", response_model=None, responses={200: {"model": TemplateEnvelope}})
async def create_template(
    manager: CurrentManager, session: Session, body: TemplateCreate
) -> JSONResponse:
    """Create a template; subject, title and body are Liquid, checked here."""
    return _one(await create(session, manager.place_id, body))


@router.get("/{template_id}", response_model=None, responses={200: {"model": TemplateEnvelope}})
async def get_template(
    manager: CurrentManager, session: Session, template_id: TemplateId
) -> JSONResponse:
    """Get one template."""
    return _one(await crud.get(session, Template, manager.place_id, template_id))


@router.put("/{template_id}", response_model=None, responses={200: {"model": TemplateEnvelope}})
async def update_template(
    manager: CurrentManager, session: Session, template_id: TemplateId, body: TemplateUpdate
) -> JSONResponse:
    """Update a template (only the fields given change; the channel can't change)."""
    template = await crud.get(session, Template, manager.place_id, template_id, lock=True)
    return _one(await update(session, template, body))


@router.delete("/{template_id}", status_code=204, response_class=Response)
async def delete_template(
    manager: CurrentManager, session: Session, template_id: TemplateId
) -> None:
    """Delete a template; journey steps that use it then log their messages as skipped."""
    await crud.delete(session, await crud.get(session, Template, manager.place_id, template_id))
