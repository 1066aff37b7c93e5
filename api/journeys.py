"""Journey definitions: `/places/{placeId}/journeys`."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse, Response
from pydantic import Field

from api.contract import CONFLICT
from api.deps import (
    AppSettings,
    CurrentJourney,
    CurrentManager,
    JourneyId,
    LockedJourney,
    Pagination,
    Session,
    Sessions,
    TemporalClient,
)
from api.wire import envelope, envelope_models
from journeys.outbound import Outbound
from journeys.schemas import Resource
from services import journeys as service
from services import simulation
from services.journey_rules import EntryRulesOut, ExitRulesOut, GoalOut
from services.journeys import JourneyCreate, JourneyUpdate, StopRequest
from store.tables import Journey
from workflows.model import TriggerEvent

KIND = "journey_definition"


class JourneyOut(Resource):
    id: int
    place_id: int
    user_id: int
    name: str
    description: str | None
    trigger_event: str
    machine_config: dict[str, Any] | None
    # Shown when set: a journey without them answers as the specification's do.
    entry_rules: EntryRulesOut | None = Field(default=None, exclude_if=lambda v: v is None)
    exit_rules: ExitRulesOut | None = Field(default=None, exclude_if=lambda v: v is None)
    goal: GoalOut | None = Field(default=None, exclude_if=lambda v: v is None)
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


@router.get("", response_model=None, responses={200: {"model": JourneyPage}})
async def list_journeys(
    manager: CurrentManager,
    session: Session,
    paging: Pagination,
    trigger_event: Annotated[TriggerEvent | None, Query()] = None,
    active: Annotated[bool | None, Query()] = None,
) -> JSONResponse:
    """List the place's journeys, ordered by id (paginated; filter by trigger_event, active)."""
    rows, total = await service.page(
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
    manager: CurrentManager, session: Session, settings: AppSettings, body: JourneyCreate
) -> JSONResponse:
    """Create a journey; manual journeys are active from the start."""
    return _one(await service.create(session, manager, body, outbound=Outbound.of(settings)))


@router.get("/{journey_id}", response_model=None, responses={200: {"model": JourneyEnvelope}})
async def get_journey(journey: CurrentJourney) -> JSONResponse:
    """Get one journey."""
    return _one(journey)


@router.put("/{journey_id}", response_model=None, responses={200: {"model": JourneyEnvelope}})
async def update_journey(
    manager: CurrentManager,
    session: Session,
    journey: LockedJourney,
    settings: AppSettings,
    body: JourneyUpdate,
) -> JSONResponse:
    """Update name, description or machine_config (only the fields given change)."""
    outbound = Outbound.of(settings)
    return _one(
        await service.update(session, journey, body, outbound=outbound, user_id=manager.user_id)
    )


@router.delete("/{journey_id}", status_code=204, response_class=Response)
async def delete_journey(
    session: Session, temporal: TemporalClient, settings: AppSettings, journey: LockedJourney
) -> None:
    """Delete a journey and all its executions (running ones are terminated, and every
    execution's record is removed from Temporal)."""
    await service.delete(session, temporal, settings, journey)


@router.post(
    "/{journey_id}/start", response_model=None, responses={200: {"model": JourneyEnvelope}}
)
async def start_journey(session: Session, journey: LockedJourney) -> JSONResponse:
    """Set active = true: the journey now fires when its trigger event occurs."""
    return _one(await service.start(session, journey))


@router.post(
    "/{journey_id}/stop",
    response_model=None,
    responses={200: {"model": JourneyEnvelope}, **CONFLICT},
)
async def stop_journey(
    session: Session,
    temporal: TemporalClient,
    settings: AppSettings,
    journey: LockedJourney,
    body: Annotated[StopRequest | None, Body()] = None,
) -> JSONResponse:
    """Set active = false: no new executions start; running ones finish their path, unless
    the body says `{"cancel_running": true}` (manual journeys are always active → 409)."""
    cancel = body is not None and body.cancel_running
    return _one(await service.stop(session, temporal, settings, journey, cancel))


@router.post("/{journey_id}/simulate", response_model=simulation.Simulation)
async def simulate_journey(
    manager: CurrentManager,
    sessions: Sessions,
    settings: AppSettings,
    journey_id: JourneyId,
    body: simulation.SimulateRequest,
) -> simulation.Simulation:
    """A dry run of the journey's current `machine_config` for one customer (`customer_id`,
    or one described as `customer`): each state with its simulated time, the transition taken
    and why, every message rendered as it would be sent. Waits are fast-forwarded; `segments`
    and `events` say what happens to the customer meanwhile (days from `start_at`). Reads
    only: nothing is sent, stored or started."""
    return await simulation.simulate(sessions, settings, manager.place_id, journey_id, body)
