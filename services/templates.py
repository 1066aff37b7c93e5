"""Communication templates: channel fields and Liquid checked before anything is stored."""

from collections.abc import Mapping
from typing import Annotated, Any, Literal
from uuid import uuid4

from pydantic import ConfigDict, Field, JsonValue
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client, WorkflowFailureError

from journeys import rendering, unsubscribe
from journeys.errors import Conflict, Invalid, Issue, Unavailable
from journeys.schemas import Request, Resource, at_most_bytes
from journeys.settings import Settings
from orchestration import launcher
from services import customers as customers_service
from services import usage
from services.customers import CustomerProfile, recipient_problem
from store import crud, customers
from store.db import SessionFactory, read_only
from store.tables import Customer, Message, Place, Template
from workflows.contracts import SendTestInput
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
    content = await _rendered(session, settings, template, customer, body.event, with_link=True)
    assert template.id is not None
    return Preview(
        template_id=template.id,
        channel=template.channel,
        category=template.category,
        to=list(customers.recipients(template.channel, customer)[0]),
        **content,
    )


async def _rendered(
    session: AsyncSession,
    settings: Settings,
    template: Template,
    customer: Customer,
    event: PreviewEvent | None,
    *,
    with_link: bool,
) -> dict[str, str]:
    """The template rendered for the customer as a send renders it; `with_link`: a stored
    customer's unsubscribe link as `unsubscribe_url`. A field that fails to render is an
    `Invalid` naming it."""
    place_id = template.place_id
    place = await session.get(Place, place_id)
    try:
        return render_for(
            template,
            customer,
            rendering.event_scope(event.name, event.id, event.data, event.occurred_at)
            if event
            else None,
            None,
            {"id": place_id, "name": place.name if place else ""},
            unsubscribe_link(settings, customer, template.channel) if with_link else "",
        )
    except rendering.TemplateError as error:
        raise Invalid([Issue(error.field or "body", f"does not render: {error}")]) from None


# Printable ASCII without spaces: it becomes part of a workflow id and a message's key.
IdempotencyKey = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[!-~]+$")]


class SendTestRequest(PreviewRequest):
    """Where the test goes (`to`: an email address, an E.164 phone number or a push token,
    as the template's channel wants) and, as for a preview, the customer (`customer_id` or
    `customer`; neither: an empty one) and `event` it is rendered for. The same
    `idempotency_key` again never sends twice."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"to": "you@example.com", "customer_id": 7, "idempotency_key": "test-welcome-1"}
            ]
        }
    )

    to: Annotated[str, Field(min_length=1, max_length=4096)]
    idempotency_key: IdempotencyKey | None = None


# How long a test send's request waits for the provider's answer before a 503.
TEST_SEND_WAIT = 15.0


async def send_test(
    sessions: SessionFactory,
    settings: Settings,
    temporal: Client,
    place_id: int,
    template_id: int,
    body: SendTestRequest,
) -> Message:
    """Send the template, rendered for the customer and event given, once to `to` through
    the channel's provider (the worker's: this starts `TemplateTestSend` and waits for it),
    and answer the message as logged. No consent, quiet hours or cap applies; its message is
    marked `test` and counted nowhere. The database is read in short sessions of their own,
    none held open while the provider is asked."""
    if body.customer_id is not None and body.customer is not None:
        raise Invalid([Issue("customer_id", "give customer_id or customer, not both")])
    async with sessions() as session:
        await read_only(session)
        template = await get(session, place_id, template_id)
        problem = recipient_problem(template.channel, body.to)
        if problem:
            where = f"template {template_id} sends {template.channel}"
            raise Invalid([Issue("to", f"{problem}: {where}")])
        # Neither customer_id nor customer: rendered for an empty one.
        customer = (
            await customers_service.chosen(session, place_id, body.customer_id, body.customer)
            if body.customer_id is not None or body.customer is not None
            else customers.described(place_id, {})
        )
        content = await _rendered(
            session, settings, template, customer, body.event, with_link=False
        )
    request = SendTestInput(
        place_id=place_id,
        template_id=template_id,
        channel=template.channel,
        category=template.category,
        to=body.to,
        idempotency_key=launcher.test_send_id(place_id, body.idempotency_key or uuid4().hex),
        customer_id=body.customer_id,
        **content,
    )
    try:
        result = await launcher.send_test(temporal, settings, request, TEST_SEND_WAIT)
    except WorkflowFailureError as failure:
        again = " with the same idempotency_key" if body.idempotency_key else ""
        raise Unavailable(
            f"The test message was not sent: {_root_cause(failure)}. It stays pending in the "
            f"message log; repeat the request{again} to try again."
        ) from None
    async with sessions() as session:
        await read_only(session)
        message = await session.get(Message, result.message_id)
    assert message is not None
    if (message.template_id, message.recipient) != (template_id, body.to):
        raise Conflict(
            f"idempotency_key {body.idempotency_key!r} was used for a test of template "
            f"{message.template_id} to {message.recipient}: use a new key for another test."
        )
    return message


def _root_cause(error: BaseException) -> str:
    """The innermost cause's message: the provider's answer behind the activity's failure."""
    while error.__cause__ is not None:
        error = error.__cause__
    return str(getattr(error, "message", None) or error)
