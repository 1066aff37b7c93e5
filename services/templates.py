"""Communication templates: channel fields and Liquid checked before anything is stored."""

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, JsonValue
from sqlmodel.ext.asyncio.session import AsyncSession

from journeys import rendering, unsubscribe
from journeys.errors import Invalid, Issue
from journeys.schemas import Request, Resource, at_most_bytes
from journeys.settings import Settings
from services import customers as customers_service
from services import usage
from services.customers import CustomerProfile
from store import crud, customers
from store.tables import Customer, Place, Template
from workflows.model.machine import MAX_ID, ChannelName

Name = Annotated[str, Field(min_length=1, max_length=255)]
Text = Annotated[str, Field(max_length=100_000)]
# Which optional text fields each channel has; `body` is required everywhere.
FIELDS: dict[str, dict[str, bool]] = {
    "email": {"subject": True, "title": False},
    "sms": {"subject": False, "title": False},
    "push": {"subject": False, "title": True},
}
# Marketing messages go only to subscribed customers, outside quiet hours, within caps;
# transactional ones (receipts, password resets) always go.
Category = Literal["marketing", "transactional"]


class TemplateCreate(Request):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Welcome",
                    "channel": "email",
                    "subject": "Welcome, {{ customer.first_name | default: 'friend' }}",
                    "body": "Thanks for joining {{ place.name }}.",
                }
            ]
        }
    )

    name: Name
    channel: ChannelName
    subject: Text | None = None
    title: Text | None = None
    body: Annotated[str, Field(min_length=1, max_length=100_000)]
    category: Category = "marketing"


class TemplateUpdate(Request):
    name: Name | None = None
    channel: ChannelName | None = None
    subject: Text | None = None
    title: Text | None = None
    body: Annotated[str, Field(min_length=1, max_length=100_000)] | None = None
    category: Category | None = None


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
    if values.get("category") is None:
        issues.append(Issue("category", "must be marketing or transactional, not null"))
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


async def page(
    session: AsyncSession,
    place_id: int,
    offset: int,
    limit: int,
    channel: ChannelName | None = None,
) -> tuple[list[Template], int]:
    """The place's templates, ordered by id (filtered by channel), and how many there are."""
    conditions: list[Any] = [Template.place_id == place_id]
    if channel is not None:
        conditions.append(Template.channel == channel)
    return await crud.page(session, Template, conditions, offset=offset, limit=limit)


async def get(
    session: AsyncSession, place_id: int, template_id: int, lock: bool = False
) -> Template:
    return await crud.get(session, Template, place_id, template_id, lock=lock)


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


async def update_by_id(
    session: AsyncSession, place_id: int, template_id: int, body: TemplateUpdate
) -> Template:
    return await update(session, await get(session, place_id, template_id, lock=True), body)


async def delete(session: AsyncSession, place_id: int, template_id: int) -> None:
    """Delete a template no journey's current config sends (`Conflict` names the journeys).
    Executions still running an older version that sends it log those messages as
    skipped."""
    template = await get(session, place_id, template_id, lock=True)
    await usage.refuse_if_used(session, place_id, "template", template_id)
    await crud.delete(session, template)


class PreviewEvent(Request):
    """The event the template sees as `event` (in a journey: its trigger)."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    id: Annotated[str, Field(max_length=200)] | None = None
    data: Annotated[dict[str, JsonValue], at_most_bytes(64 * 1024)] = Field(default_factory=dict)
    occurred_at: Annotated[int, Field(ge=0, le=2**40)] | None = None


class PreviewRequest(Request):
    """A stored customer (`customer_id`) or one described here (`customer`), not both."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"customer_id": 7, "event": {"name": "order.created", "data": {"total": 140}}}
            ]
        }
    )

    customer_id: Annotated[int, Field(ge=1, le=MAX_ID)] | None = None
    customer: CustomerProfile | None = None
    event: PreviewEvent | None = None


class Preview(Resource):
    """A template rendered for one customer; nothing is sent or stored."""

    template_id: int
    channel: str
    category: str
    to: list[str]  # where it would go: the customer's address, phone or push tokens
    subject: str | None = None
    title: str | None = None
    body: str


def unsubscribe_link(settings: Settings, customer: Customer, channel: str) -> str:
    """The unsubscribe link a message on `channel` carries: none for a described customer
    (id 0, `store.customers.described`), nor where links aren't configured."""
    if not customer.id or unsubscribe.configured(settings) is not None:
        return ""
    return unsubscribe.url(settings, customer.place_id, customer.id, channel)


def render_for(
    template: Template,
    customer: Customer,
    event: Mapping[str, Any] | None,
    journey: Mapping[str, Any] | None,
    place: Mapping[str, Any],
    link: str,
) -> dict[str, str]:
    """The template's fields rendered for the customer, with what a send's template sees
    (`rendering.message_scope`); a `rendering.TemplateError` names the field that failed."""
    scope = rendering.message_scope(
        rendering.customer_scope(
            customer.id, customer.email, customer.phone, customer.attributes or {}
        ),
        event,
        journey,
        place,
        link,
    )
    return rendering.render_message(template.subject, template.title, template.body, scope)


async def preview(
    session: AsyncSession,
    settings: Settings,
    place_id: int,
    template_id: int,
    body: PreviewRequest,
) -> Preview:
    """Render the template as a journey would send it to the customer (their unsubscribe
    link included, for a stored customer). A field that fails to render is a 422 naming it."""
    template = await get(session, place_id, template_id)
    customer = await customers_service.chosen(session, place_id, body.customer_id, body.customer)
    place = await session.get(Place, place_id)
    event = body.event
    try:
        content = render_for(
            template,
            customer,
            rendering.event_scope(event.name, event.id, event.data, event.occurred_at)
            if event
            else None,
            None,
            {"id": place_id, "name": place.name if place else ""},
            unsubscribe_link(settings, customer, template.channel),
        )
    except rendering.TemplateError as error:
        raise Invalid([Issue(error.field or "body", f"does not render: {error}")]) from None
    assert template.id is not None
    return Preview(
        template_id=template.id,
        channel=template.channel,
        category=template.category,
        to=list(customers.recipients(template.channel, customer)[0]),
        **content,
    )
