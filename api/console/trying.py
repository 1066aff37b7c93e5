"""The console's pages for trying things before they reach customers — a template's preview
and test send, a journey's simulation — and the place's settings. Each calls the same
service as its API endpoint."""

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from api.console.auth import PREFIX, CheckedForm, CurrentOperator
from api.console.pages import render
from api.deps import AppSettings, JourneyId, Session, Sessions, TemporalClient
from journeys.errors import Invalid, Issue
from journeys.schemas import issues_from
from services import journeys as journey_service
from services import place_settings, simulation, templates
from services.place_settings import PlaceSettingsUpdate
from services.simulation.schemas import SimulateRequest
from services.templates import PreviewRequest, SendTestRequest
from workflows.model.machine import MAX_ID

router = APIRouter(prefix=PREFIX, include_in_schema=False)
TemplateId = Annotated[int, Path(ge=1, le=MAX_ID)]
Text = Annotated[str | None, Query(max_length=20_000)]
TEMPLATES_SHOWN = 500


def _model(model: Any, data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise Invalid(issues_from(error.errors())) from None


def _json(name: str, text: str | None) -> Any:
    if not text or not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise Invalid([Issue(name, f"is not JSON (line {error.lineno}): {error.msg}")]) from None


def _customer_id(text: str | None) -> int | None:
    if not text:
        return None
    if not text.isdigit():
        raise Invalid([Issue("customer_id", "must be a customer id")])
    return int(text)


@router.get("/templates")
async def templates_page(
    request: Request, operator: CurrentOperator, session: Session
) -> HTMLResponse:
    rows, _ = await templates.page(session, operator.place_id, 0, TEMPLATES_SHOWN, None)
    return render(request, "templates.html", operator, templates=rows)


@router.get("/templates/{template_id}")
async def template_page(
    request: Request,
    operator: CurrentOperator,
    session: Session,
    settings: AppSettings,
    template_id: TemplateId,
    customer_id: Text = None,
) -> HTMLResponse:
    """The template, and, for a customer id, what it would send them (nothing is sent)."""
    template = await templates.get(session, operator.place_id, template_id)
    chosen = _customer_id(customer_id)
    preview = None
    if chosen is not None:
        body = PreviewRequest(customer_id=chosen)
        preview = await templates.preview(session, settings, operator.place_id, template_id, body)
    return render(
        request, "template.html", operator, template=template, preview=preview, customer=chosen
    )


@router.post("/templates/{template_id}/test")
async def test_send(
    operator: CurrentOperator,
    sessions: Sessions,
    settings: AppSettings,
    temporal: TemporalClient,
    template_id: TemplateId,
    fields: CheckedForm,
) -> RedirectResponse:
    """One real send to the operator's own address; then its message."""
    body = _model(
        SendTestRequest,
        {
            "to": fields.get("to", ""),
            "customer_id": _customer_id(fields.get("customer_id")),
            "idempotency_key": fields.get("once") or None,
        },
    )
    message = await templates.send_test(
        sessions, settings, temporal, operator.place_id, template_id, body
    )
    return RedirectResponse(f"{PREFIX}/messages/{message.id}", status_code=303)


@router.get("/journeys/{journey_id}/simulate")
async def simulate_page(
    request: Request,
    operator: CurrentOperator,
    session: Session,
    sessions: Sessions,
    settings: AppSettings,
    journey_id: JourneyId,
    customer_id: Text = None,
    events: Text = None,
) -> HTMLResponse:
    """The simulation form, and for a customer its walk through the journey."""
    journey = await journey_service.get(session, operator.place_id, journey_id)
    chosen = _customer_id(customer_id)
    result = None
    if chosen is not None:
        body = _model(
            SimulateRequest, {"customer_id": chosen, "events": _json("events", events) or []}
        )
        result = await simulation.simulate(sessions, settings, operator.place_id, journey_id, body)
    return render(
        request,
        "simulate.html",
        operator,
        journey=journey,
        customer=chosen,
        events=events or "",
        result=result,
    )


@router.get("/settings")
async def settings_page(
    request: Request, operator: CurrentOperator, session: Session
) -> HTMLResponse:
    row = await place_settings.get(session, operator.place_id)
    editable = {
        "timezone": row.timezone,
        "quiet_hours": row.quiet_hours,
        "frequency_caps": row.frequency_caps,
    }
    text = json.dumps(editable, indent=2)
    return render(request, "settings.html", operator, text=text, issues=[])


@router.post("/settings", response_model=None)
async def save_settings(
    request: Request, operator: CurrentOperator, session: Session, fields: CheckedForm
) -> HTMLResponse | RedirectResponse:
    text = fields.get("settings", "")
    try:
        given = _json("settings", text)
        if not isinstance(given, dict):
            raise Invalid([Issue("settings", "must be a JSON object")])
        body = _model(PlaceSettingsUpdate, given)
        await place_settings.update(session, operator.place_id, body)
    except Invalid as error:
        return render(
            request, "settings.html", operator, status=422, text=text, issues=error.issues
        )
    return RedirectResponse(f"{PREFIX}/settings", status_code=303)
