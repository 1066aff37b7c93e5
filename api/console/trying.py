"""The console's pages for trying things before they reach customers — a template's preview
and test send, a journey's simulation — and the place's settings. Each calls the same
service as its API endpoint."""

import json
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.console.auth import PREFIX, CheckedForm, CurrentOperator
from api.console.inputs import json_text, once_key, validated, whole_number
from api.console.pages import render
from api.deps import AppSettings, JourneyId, Session, Sessions, TemporalClient
from journeys.errors import Invalid, Issue
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
    chosen = whole_number("customer_id", customer_id)
    preview = None
    if chosen is not None:
        body = validated(PreviewRequest, {"customer_id": chosen})
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
    body = validated(
        SendTestRequest,
        {
            "to": fields.get("to", ""),
            "customer_id": whole_number("customer_id", fields.get("customer_id")),
            "idempotency_key": once_key(fields.get("once")),
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
    chosen = whole_number("customer_id", customer_id)
    result = None
    if chosen is not None:
        body = validated(
            SimulateRequest, {"customer_id": chosen, "events": json_text("events", events) or []}
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
        given = json_text("settings", text)
        if not isinstance(given, dict):
            raise Invalid([Issue("settings", "must be a JSON object")])
        body = validated(PlaceSettingsUpdate, given)
        await place_settings.update(session, operator.place_id, body)
    except Invalid as error:
        return render(
            request, "settings.html", operator, status=422, text=text, issues=error.issues
        )
    return RedirectResponse(f"{PREFIX}/settings", status_code=303)
