"""Journey definitions: `/places/{placeId}/journeys`."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import Field, field_validator

import launcher
from api.deps import AppSettings, CurrentManager, Pagination, Session, TemporalClient
from api.wire import Request, Resource, envelope, envelope_models
from errors import Conflict, Invalid, Issue
from store import crud, runs, templates
from store import journeys as store
from store.tables import Campaign, Journey, Segment
from workflows.model import MANUAL, TriggerEvent, parse_machine_config
from workflows.model.machine import (
    MAX_ID,
    CreateCampaignStep,
    SendStep,
    WaitForConditionStep,
)

KIND = "journey_definition"
JourneyId = Annotated[int, Path(ge=1, le=MAX_ID, description="The journey's id.")]
Name = Annotated[str, Field(min_length=1, max_length=255)]
Description = Annotated[str, Field(max_length=10_000)]


def _not_blank(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError("must not be blank")
    return value


class JourneyCreate(Request):
    name: Name
    trigger_event: TriggerEvent
    description: Description | None = None
    machine_config: Any = None

    _name = field_validator("name")(_not_blank)


class JourneyUpdate(Request):
    name: Name | None = None
    trigger_event: TriggerEvent | None = None
    description: Description | None = None
    machine_config: Any = None

    _name = field_validator("name")(_not_blank)


class StopRequest(Request):
    cancel_running: bool = False


class JourneyOut(Resource):
    id: int
    place_id: int
    user_id: int
    name: str
    description: str | None
    trigger_event: str
    machine_config: dict[str, Any] | None
    active: bool
    version: int
    created: int
    updated: int


JourneyEnvelope, JourneyPage = envelope_models(KIND, JourneyOut)
router = APIRouter(prefix="/places/{place_id}/journeys", tags=["journeys"])


def _out(journey: Journey) -> JourneyOut:
    return JourneyOut.model_validate(journey, from_attributes=True)


def _one(journey: Journey) -> JSONResponse:
    return envelope(KIND, [_out(journey)])


async def _checked_config(session: Session, place_id: int, raw: Any) -> dict[str, Any] | None:
    """The config to store, once every rule of the journey model holds and every template,
    segment and campaign it names exists in the place (templates on the step's channel)."""
    if raw is None:
        return None
    config = parse_machine_config(raw, root="machine_config")
    sends: list[tuple[str, SendStep]] = []
    segments: list[tuple[str, int]] = []
    campaigns: list[tuple[str, int]] = []
    issues = []
    for name, state in config.states.items():
        step = state.step
        path = f"machine_config.states.{name}.meta"
        if isinstance(step, SendStep):
            if step.template_ref is not None:
                issues.append(
                    Issue(f"{path}.templateRef", _REF_ONLY_ON_ACCEPT.format("templateId"))
                )
            else:
                sends.append((f"{path}.templateId", step))
        elif isinstance(step, CreateCampaignStep):
            if step.campaign_ref is not None:
                issues.append(
                    Issue(f"{path}.campaignRef", _REF_ONLY_ON_ACCEPT.format("campaignId"))
                )
            elif step.campaign_id is not None:
                campaigns.append((f"{path}.campaignId", step.campaign_id))
        elif isinstance(step, WaitForConditionStep):
            for key, ids in (("include", step.include), ("exclude", step.exclude)):
                segments += [(f"{path}.{key}.{i}", segment) for i, segment in enumerate(ids)]

    channels = await templates.channels(session, place_id, [s.template_id or 0 for _, s in sends])
    for path, send in sends:
        channel = channels.get(send.template_id or 0)
        if channel is None:
            issues.append(Issue(path, f"template {send.template_id} does not exist in this place"))
        elif channel != send.channel:
            issues.append(
                Issue(
                    path,
                    f"template {send.template_id} is an {channel} template; "
                    f"a {send.type} step needs a {send.channel} template",
                )
            )
    for model, refs, what in ((Segment, segments, "segment"), (Campaign, campaigns, "campaign")):
        found = await crud.existing_ids(session, model, place_id, [i for _, i in refs])
        issues += [
            Issue(path, f"{what} {i} does not exist in this place")
            for path, i in refs
            if i not in found
        ]
    if issues:
        raise Invalid(issues, "machine_config is invalid.")
    assert isinstance(raw, dict)
    return raw


_REF_ONLY_ON_ACCEPT = (
    "references are resolved only when a recommendation is accepted; a journey's own "
    "machine_config names an existing one with {}"
)


@router.get("", response_model=None, responses={200: {"model": JourneyPage}})
async def list_journeys(
    manager: CurrentManager,
    session: Session,
    paging: Pagination,
    trigger_event: Annotated[TriggerEvent | None, Query()] = None,
    active: Annotated[bool | None, Query()] = None,
) -> JSONResponse:
    """List the place's journeys, ordered by id (paginated; filter by trigger_event, active)."""
    rows, total = await store.page(
        session,
        manager.place_id,
        offset=paging.offset,
        limit=paging.per_page,
        trigger_event=trigger_event,
        active=active,
    )
    return envelope(KIND, [_out(row) for row in rows], paging.meta(total))


@router.post("", response_model=None, responses={200: {"model": JourneyEnvelope}})
async def create_journey(
    manager: CurrentManager, session: Session, body: JourneyCreate
) -> JSONResponse:
    """Create a journey; manual journeys are active from the start."""
    journey = Journey(
        place_id=manager.place_id,
        user_id=manager.user_id,
        name=body.name,
        description=body.description,
        trigger_event=body.trigger_event,
        machine_config=await _checked_config(session, manager.place_id, body.machine_config),
        active=body.trigger_event == MANUAL,
    )
    return _one(await crud.create(session, journey))


@router.get("/{journey_id}", response_model=None, responses={200: {"model": JourneyEnvelope}})
async def get_journey(
    manager: CurrentManager, session: Session, journey_id: JourneyId
) -> JSONResponse:
    """Get one journey."""
    return _one(await store.get(session, manager.place_id, journey_id))


@router.put("/{journey_id}", response_model=None, responses={200: {"model": JourneyEnvelope}})
async def update_journey(
    manager: CurrentManager, session: Session, journey_id: JourneyId, body: JourneyUpdate
) -> JSONResponse:
    """Update name, description or machine_config (only the fields given change)."""
    journey = await store.get(session, manager.place_id, journey_id, lock=True)
    given = body.model_fields_set
    issues = []
    if "name" in given and body.name is None:
        issues.append(Issue("name", "must not be null: a journey needs a name"))
    if "trigger_event" in given and body.trigger_event != journey.trigger_event:
        issues.append(Issue("trigger_event", "cannot be changed after the journey is created"))
    if issues:
        raise Invalid(issues)
    changes: dict[str, Any] = {}
    if "name" in given:
        changes["name"] = body.name
    if "description" in given:
        changes["description"] = body.description
    if "machine_config" in given:
        changes["machine_config"] = await _checked_config(
            session, manager.place_id, body.machine_config
        )
    return _one(await store.update(session, journey, changes))


@router.delete("/{journey_id}", status_code=204, response_class=Response)
async def delete_journey(
    manager: CurrentManager,
    session: Session,
    temporal: TemporalClient,
    settings: AppSettings,
    journey_id: JourneyId,
) -> None:
    """Delete a journey and all its executions (running ones are terminated, and every
    execution's record is removed from Temporal)."""
    journey = await store.get(session, manager.place_id, journey_id, lock=True)
    # The cleanup is durable before the row goes: if this request dies in between, the
    # executions still end, and a retried DELETE finds the cleanup already under way.
    await launcher.end_executions(temporal, settings, manager.place_id, journey_id, "delete")
    await runs.forget(session, journey_id)
    await crud.delete(session, journey)


@router.post(
    "/{journey_id}/start", response_model=None, responses={200: {"model": JourneyEnvelope}}
)
async def start_journey(
    manager: CurrentManager, session: Session, journey_id: JourneyId
) -> JSONResponse:
    """Set active = true: the journey now fires when its trigger event occurs."""
    journey = await store.get(session, manager.place_id, journey_id, lock=True)
    return _one(await store.update(session, journey, {"active": True}))


@router.post("/{journey_id}/stop", response_model=None, responses={200: {"model": JourneyEnvelope}})
async def stop_journey(
    manager: CurrentManager,
    session: Session,
    temporal: TemporalClient,
    settings: AppSettings,
    journey_id: JourneyId,
    body: Annotated[StopRequest | None, Body()] = None,
) -> JSONResponse:
    """Set active = false: no new executions start; running ones finish their path, unless
    the body says `{"cancel_running": true}` (manual journeys are always active → 409)."""
    journey = await store.get(session, manager.place_id, journey_id, lock=True)
    if journey.trigger_event == MANUAL:
        raise Conflict("Manual journeys are always active; they run only when /run is called.")
    await store.update(session, journey, {"active": False})
    if body is not None and body.cancel_running:
        await launcher.end_executions(temporal, settings, manager.place_id, journey_id, "cancel")
    return _one(journey)
