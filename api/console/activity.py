"""The console's pages of what happened: a journey's executions and one execution's
timeline, a customer (profile, consent, executions across journeys, messages), the delivery
log and one message. Filters come from GET forms, so an empty field means "any"."""

import re
from typing import Annotated, Any, cast, get_args
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.console.auth import PREFIX, CurrentOperator
from api.console.inputs import whole_number
from api.console.pages import render
from api.deps import AppSettings, JourneyId, Session, TemporalClient
from journeys.errors import Invalid, Issue, NotFound
from services import customers, executions, messages
from services import journeys as journey_service
from store import consent
from store import journeys as journey_store
from store.tables import Message
from workflows.model.machine import MAX_ID, ChannelName

router = APIRouter(prefix=PREFIX, include_in_schema=False)
CHANNEL_NAMES: tuple[str, ...] = get_args(ChannelName)
MESSAGE_STATUSES: tuple[str, ...] = get_args(messages.Status)
PAGE = 50
SHOWN_PER_CUSTOMER = 50
# A send step's detail names its message: "message 12 sent".
_MESSAGE = re.compile(r"^message (\d+) ")
Filter = Annotated[str | None, Query(max_length=200)]
# Visibility lists from the newest: a deep page reads every row before it.
PageNumber = Annotated[int, Query(ge=1, le=100)]
CustomerId = Annotated[int, Path(ge=1, le=MAX_ID)]
MessageId = Annotated[int, Path(ge=1, le=MAX_ID)]
ExecutionId = Annotated[str, Path(min_length=1, max_length=255)]


def _chosen(name: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
    """A filter's value: None for "any" (empty), else one of `allowed`."""
    if not value:
        return None
    if value not in allowed:
        raise Invalid([Issue(name, f"must be one of {', '.join(allowed)}")])
    return value


@router.get("/journeys/{journey_id}/executions")
async def executions_page(
    request: Request,
    operator: CurrentOperator,
    session: Session,
    temporal: TemporalClient,
    journey_id: JourneyId,
    status: Filter = None,
    state: Filter = None,
    customer_id: Filter = None,
    page: PageNumber = 1,
) -> HTMLResponse:
    journey = await journey_service.get(session, operator.place_id, journey_id)
    states = tuple((journey.machine_config or {}).get("states") or {})
    chosen = {
        "status": _chosen("status", status, executions.STATUS_NAMES),
        "state": _chosen("state", state, states),
        "customer_id": whole_number("customer_id", customer_id),
    }
    # Not counted: on a large journey the count costs as much as the page (a full page has
    # a next one, as far as the pager knows).
    rows, _ = await executions.page(
        temporal,
        journey,
        (page - 1) * PAGE,
        PAGE,
        status=cast(executions.Status | None, chosen["status"]),
        state=cast(str | None, chosen["state"]),
        customer_id=cast(int | None, chosen["customer_id"]),
    )
    return render(
        request,
        "executions.html",
        operator,
        journey=journey,
        rows=rows,
        page=page,
        pages=page + 1 if len(rows) == PAGE else page,
        chosen=chosen,
        statuses=executions.STATUS_NAMES,
        states=states,
    )


@router.get("/journeys/{journey_id}/executions/{execution_id}")
async def execution_page(
    request: Request,
    operator: CurrentOperator,
    session: Session,
    temporal: TemporalClient,
    settings: AppSettings,
    journey_id: JourneyId,
    execution_id: ExecutionId,
) -> HTMLResponse:
    journey = await journey_service.get(session, operator.place_id, journey_id)
    execution, progress = await executions.get(temporal, journey, execution_id)
    steps = [{"record": step, "message": _message_of(step.detail)} for step in progress.steps]
    temporal_ui = None
    if settings.temporal_ui_url:
        temporal_ui = (
            f"{settings.temporal_ui_url.rstrip('/')}/namespaces/"
            f"{quote(settings.temporal_namespace)}/workflows/{quote(execution_id, safe='')}"
        )
    return render(
        request,
        "execution.html",
        operator,
        journey=journey,
        execution=execution,
        steps=steps,
        skipped=progress.steps_total - len(progress.steps),
        exit_reason=progress.exit_reason,
        temporal_ui=temporal_ui,
    )


def _message_of(detail: str | None) -> int | None:
    found = _MESSAGE.match(detail or "")
    return int(found.group(1)) if found else None


@router.get("/customers")
async def find_customer(operator: CurrentOperator, id: Filter = None) -> RedirectResponse:
    """The customer search form: straight to the customer's page."""
    customer_id = whole_number("id", id)
    if customer_id is None:
        raise Invalid([Issue("id", "give a customer id")])
    return RedirectResponse(f"{PREFIX}/customers/{customer_id}", status_code=303)


@router.get("/customers/{customer_id}")
async def customer_page(
    request: Request,
    operator: CurrentOperator,
    session: Session,
    temporal: TemporalClient,
    customer_id: CustomerId,
) -> HTMLResponse:
    customer = await customers.get(session, operator.place_id, customer_id)
    journeys = {
        journey.id: journey
        for journey in await journey_store.of_place(session, operator.place_id)
        if journey.id is not None
    }
    ran = await executions.of_customer(
        temporal, journeys, operator.place_id, customer_id, SHOWN_PER_CUSTOMER
    )
    sent, total = await messages.page(
        session, operator.place_id, 0, SHOWN_PER_CUSTOMER, customer_id=customer_id
    )
    return render(
        request,
        "customer.html",
        operator,
        customer=customer,
        subscriptions={c: consent.status(customer, c) for c in CHANNEL_NAMES},
        executions=ran,
        journeys=journeys,
        messages=sent,
        messages_total=total,
    )


@router.get("/messages")
async def messages_page(
    request: Request,
    operator: CurrentOperator,
    session: Session,
    channel: Filter = None,
    status: Filter = None,
    journey_id: Filter = None,
    page: PageNumber = 1,
) -> HTMLResponse:
    chosen: dict[str, Any] = {
        "channel": _chosen("channel", channel, CHANNEL_NAMES),
        "status": _chosen("status", status, MESSAGE_STATUSES),
        "journey_id": whole_number("journey_id", journey_id),
    }
    journeys = await journey_store.of_place(session, operator.place_id)
    if chosen["journey_id"] is not None and chosen["journey_id"] not in {j.id for j in journeys}:
        raise NotFound(f"Journey {chosen['journey_id']} was not found.")
    rows, total = await messages.page(session, operator.place_id, (page - 1) * PAGE, PAGE, **chosen)
    return render(
        request,
        "messages.html",
        operator,
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE)),
        chosen=chosen,
        journeys=journeys,
        channels=CHANNEL_NAMES,
        statuses=MESSAGE_STATUSES,
    )


@router.get("/messages/{message_id}")
async def message_page(
    request: Request, operator: CurrentOperator, session: Session, message_id: MessageId
) -> HTMLResponse:
    message = await session.get(Message, message_id)
    if message is None or message.place_id != operator.place_id:
        raise NotFound(f"Message {message_id} was not found.")
    return render(request, "message.html", operator, message=message)
