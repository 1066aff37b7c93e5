"""The console's journey pages: the list, one journey drawn with its live counts, the
customers in one of its states; creating, starting, stopping and deleting."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from api.console.auth import PREFIX, CheckedForm, CurrentOperator
from api.console.pages import render
from api.deps import AppSettings, JourneyId, KeptStats, Session, Sessions, TemporalClient
from journeys.errors import Invalid, Issue
from journeys.outbound import Outbound
from journeys.schemas import issues_from
from services import console, executions, stats
from services import journeys as journey_service
from services.auth import Manager
from services.journeys import JourneyCreate
from store import journeys as journey_store
from workflows.model import TRIGGER_EVENTS

router = APIRouter(prefix=f"{PREFIX}/journeys", include_in_schema=False)
# State names are free text (slashes too): a query parameter, not a path segment.
StateName = Annotated[str, Query(min_length=1, max_length=200)]
# The customers shown in one state (the executions page, filtered by it, pages further).
IN_STATE_SHOWN = 50


@router.get("")
async def journeys_page(
    request: Request, operator: CurrentOperator, session: Session
) -> HTMLResponse:
    """The list at once; its counts come after (`/console/journeys/counts`)."""
    rows = await journey_store.of_place(session, operator.place_id)
    return render(
        request,
        "journeys.html",
        operator,
        journeys=[(journey, None) for journey in rows],
        triggers=TRIGGER_EVENTS,
    )


@router.get("/counts")
async def journeys_counts(
    request: Request, operator: CurrentOperator, session: Session, temporal: TemporalClient
) -> HTMLResponse:
    """The list's rows with their executions and conversions (each kept a few seconds)."""
    rows = await journey_store.of_place(session, operator.place_id)
    counts = await console.summaries(session, temporal, rows)
    return render(
        request, "_journey_rows.html", operator, journeys=list(zip(rows, counts, strict=True))
    )


@router.post("")
async def create_journey(
    request: Request,
    operator: CurrentOperator,
    session: Session,
    settings: AppSettings,
    fields: CheckedForm,
) -> RedirectResponse:
    try:
        body = JourneyCreate.model_validate(
            {
                "name": fields.get("name", ""),
                "trigger_event": fields.get("trigger_event", ""),
                "description": fields.get("description") or None,
            }
        )
    except ValidationError as error:
        raise Invalid(issues_from(error.errors())) from None
    journey = await journey_service.create(
        session,
        Manager(place_id=operator.place_id, user_id=operator.user_id),
        body,
        outbound=Outbound.of(settings),
    )
    return RedirectResponse(f"{PREFIX}/journeys/{journey.id}", status_code=303)


@router.get("/{journey_id}")
async def journey_page(
    request: Request, operator: CurrentOperator, session: Session, journey_id: JourneyId
) -> HTMLResponse:
    journey = await journey_service.get(session, operator.place_id, journey_id)
    drawn = await console.diagram(session, journey)
    return render(request, "journey.html", operator, journey=journey, diagram=drawn, stats=None)


@router.get("/{journey_id}/live")
async def journey_live(
    request: Request,
    operator: CurrentOperator,
    session: Session,
    sessions: Sessions,
    kept: KeptStats,
    temporal: TemporalClient,
    journey_id: JourneyId,
) -> HTMLResponse:
    """The diagram with its counts, which the journey's page fetches every few seconds."""
    journey = await journey_service.get(session, operator.place_id, journey_id)
    drawn = await console.diagram(session, journey)
    if drawn is None:  # its config was removed meanwhile: the page says so when reloaded
        return HTMLResponse("<p>This journey has no <code>machineConfig</code> now.</p>")
    counted = await stats.kept_stats(kept, sessions, temporal, journey)
    return render(request, "_diagram.html", operator, journey=journey, diagram=drawn, stats=counted)


@router.get("/{journey_id}/state")
async def state_page(
    request: Request,
    operator: CurrentOperator,
    session: Session,
    temporal: TemporalClient,
    journey_id: JourneyId,
    name: StateName,
) -> HTMLResponse:
    """The customers in this state now."""
    journey = await journey_service.get(session, operator.place_id, journey_id)
    state = name
    if state not in ((journey.machine_config or {}).get("states") or {}):
        raise Invalid([Issue("name", f"{state!r} is not a state of this journey")])
    rows, _ = await executions.page(
        temporal, journey, 0, IN_STATE_SHOWN, status="running", state=state
    )
    return render(
        request,
        "state.html",
        operator,
        journey=journey,
        state=state,
        rows=rows,
        more=len(rows) == IN_STATE_SHOWN,
    )


@router.post("/{journey_id}/start")
async def start_journey(
    operator: CurrentOperator, session: Session, journey_id: JourneyId, fields: CheckedForm
) -> RedirectResponse:
    journey = await journey_service.get(session, operator.place_id, journey_id, lock=True)
    await journey_service.start(session, journey)
    return RedirectResponse(f"{PREFIX}/journeys/{journey_id}", status_code=303)


@router.post("/{journey_id}/stop")
async def stop_journey(
    operator: CurrentOperator,
    session: Session,
    temporal: TemporalClient,
    settings: AppSettings,
    journey_id: JourneyId,
    fields: CheckedForm,
) -> RedirectResponse:
    journey = await journey_service.get(session, operator.place_id, journey_id, lock=True)
    cancel = fields.get("cancel_running") == "yes"
    await journey_service.stop(session, temporal, settings, journey, cancel)
    return RedirectResponse(f"{PREFIX}/journeys/{journey_id}", status_code=303)


@router.get("/{journey_id}/delete")
async def delete_form(
    request: Request, operator: CurrentOperator, session: Session, journey_id: JourneyId
) -> HTMLResponse:
    journey = await journey_service.get(session, operator.place_id, journey_id)
    return render(request, "delete.html", operator, journey=journey)


@router.post("/{journey_id}/delete")
async def delete_journey(
    operator: CurrentOperator,
    session: Session,
    temporal: TemporalClient,
    settings: AppSettings,
    journey_id: JourneyId,
    fields: CheckedForm,
) -> RedirectResponse:
    journey = await journey_service.get(session, operator.place_id, journey_id, lock=True)
    if fields.get("confirm") != journey.name:
        raise Invalid([Issue("confirm", "type the journey's name to delete it")])
    await journey_service.delete(session, temporal, settings, journey)
    return RedirectResponse(f"{PREFIX}/journeys", status_code=303)
