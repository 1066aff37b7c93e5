"""The console's pages that change a journey's content or run it: the config editor (checked
before anything is saved, every problem shown at its path) and manual runs with their
progress."""

import json
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.console.auth import PREFIX, CheckedForm, CurrentOperator, fields_of
from api.console.inputs import json_text, once_key, validated, whole_number
from api.console.pages import render
from api.deps import AppSettings, JourneyId, Session, TemporalClient
from journeys.errors import Conflict, Invalid, Issue
from journeys.outbound import Outbound
from services import journeys as journey_service
from services import runs
from services import segments as segment_service
from services.journeys import JourneyUpdate
from services.runs import RunRequest
from store import journeys as journey_store
from store.tables import Journey
from workflows.model import MANUAL

router = APIRouter(prefix=f"{PREFIX}/journeys", include_in_schema=False)
RunId = Annotated[str, Path(min_length=1, max_length=32)]
# The newest versions the history page shows, each with its config.
VERSIONS_SHOWN = 20
# The segments a run form offers (a place with more picks them through the API).
MAX_SEGMENTS_SHOWN = 200


def _text(config: Any) -> str:
    return json.dumps(config, indent=2, ensure_ascii=False) if config is not None else ""


@router.get("/{journey_id}/edit")
async def edit_form(
    request: Request, operator: CurrentOperator, session: Session, journey_id: JourneyId
) -> HTMLResponse:
    journey = await journey_service.get(session, operator.place_id, journey_id)
    return _editor(request, operator, journey, _text(journey.machine_config))


def _editor(
    request: Request,
    operator: Any,
    journey: Journey,
    text: str,
    issues: list[Issue] | None = None,
    checked: bool = False,
) -> HTMLResponse:
    return render(
        request,
        "edit.html",
        operator,
        status=422 if issues else 200,
        journey=journey,
        text=text,
        issues=issues or [],
        checked=checked,
    )


@router.post("/{journey_id}/edit", response_model=None)
async def save_config(
    request: Request,
    operator: CurrentOperator,
    session: Session,
    settings: AppSettings,
    journey_id: JourneyId,
    fields: CheckedForm,
) -> HTMLResponse | RedirectResponse:
    """Check the config (`action=check`: nothing is saved) or save it as the next version.
    Problems come back on the editor, each at its path; nothing is saved then."""
    journey = await journey_service.get(session, operator.place_id, journey_id, lock=True)
    text = fields.get("machine_config", "")
    outbound = Outbound.of(settings)
    try:
        if fields.get("version") != str(journey.version):
            raise Conflict(
                f"The journey was saved as version {journey.version} meanwhile (this editor "
                "opened an older one): copy your changes, reload the editor and apply them."
            )
        config = json_text("machine_config", text)
        if fields.get("action") == "check":
            await journey_service.checked_config(
                session, journey.place_id, config, outbound=outbound
            )
            return _editor(request, operator, journey, text, checked=True)
        body = JourneyUpdate.model_validate({"machine_config": config})
        await journey_service.update(
            session, journey, body, outbound=outbound, user_id=operator.user_id
        )
    except Invalid as error:
        # Refused before anything was changed: there is nothing to undo.
        return _editor(request, operator, journey, text, error.issues)
    except Conflict as error:
        return _editor(request, operator, journey, text, [Issue("version", error.message)])
    return RedirectResponse(f"{PREFIX}/journeys/{journey_id}", status_code=303)


@router.get("/{journey_id}/versions")
async def versions_page(
    request: Request, operator: CurrentOperator, session: Session, journey_id: JourneyId
) -> HTMLResponse:
    """The journey's saved versions, newest first, each with its config."""
    journey = await journey_service.get(session, operator.place_id, journey_id)
    kept = await journey_store.versions(session, journey_id, VERSIONS_SHOWN)
    shown = [(row, _text(row.machine_config)) for row in kept]
    return render(request, "versions.html", operator, journey=journey, versions=shown)


@router.get("/{journey_id}/run")
async def run_form(
    request: Request, operator: CurrentOperator, session: Session, journey_id: JourneyId
) -> HTMLResponse:
    journey = await journey_service.get(session, operator.place_id, journey_id)
    if journey.trigger_event != MANUAL:
        raise Invalid([Issue("journey", "only manual journeys are run by hand")])
    segments, _ = await segment_service.page(session, operator.place_id, 0, MAX_SEGMENTS_SHOWN)
    recent, _ = await runs.page(session, journey, 0, 10)
    return render(
        request,
        "run.html",
        operator,
        journey=journey,
        segments=segments,
        recent=recent,
        once=secrets.token_urlsafe(12),
    )


@router.post("/{journey_id}/run")
async def start_run(
    operator: CurrentOperator,
    session: Session,
    temporal: TemporalClient,
    settings: AppSettings,
    journey_id: JourneyId,
    fields: CheckedForm,
    request: Request,
) -> RedirectResponse:
    journey = await journey_service.get(session, operator.place_id, journey_id)
    body = validated(RunRequest, await _segments_chosen(request))
    # The form's own key: the same form sent twice starts one run.
    run = await runs.run(session, temporal, settings, journey, body, once_key(fields.get("once")))
    return RedirectResponse(f"{PREFIX}/journeys/{journey_id}/runs/{run.id}", status_code=303)


async def _segments_chosen(request: Request) -> dict[str, list[int | None]]:
    """The segments ticked in the run form (checkboxes repeat their name)."""
    given = await fields_of(request)
    return {
        field: [whole_number(field, value) for value in given.get(field, [])]
        for field in ("include_segment_ids", "exclude_segment_ids")
    }


@router.get("/{journey_id}/runs/{run_id}")
async def run_page(
    request: Request,
    operator: CurrentOperator,
    session: Session,
    journey_id: JourneyId,
    run_id: RunId,
) -> HTMLResponse:
    """The run's page; with htmx (`HX-Request`), only its progress bar, which the page
    fetches every two seconds until the run is done."""
    journey = await journey_service.get(session, operator.place_id, journey_id)
    run = await runs.get(session, journey, run_id)
    part = "_run_progress.html" if request.headers.get("hx-request") else "run_progress.html"
    return render(request, part, operator, journey=journey, run=run)
