"""What a simulation reads before it walks — the journey, the customer, their segments, the
templates, campaigns and place settings the steps use — in one read-only transaction."""

import asyncio
from datetime import UTC, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from journeys import rendering
from journeys.errors import Invalid, Issue
from journeys.settings import Settings
from orchestration.launcher import event_execution_id, run_execution_id
from services import customers as customers_service
from services import segments as segments_service
from services.simulation.context import Goal, World
from services.simulation.schemas import SimulatedTrigger, SimulateRequest, Simulation
from services.simulation.timeline import Change, Received, Timeline
from services.simulation.walk import simulate as walk
from services.templates import unsubscribe_link
from store import crud, place_settings, segments
from store import journeys as journeys_store
from store.consent import CHANNELS
from store.db import SessionFactory, read_only
from store.tables import Campaign, Customer, Journey, Place, Template
from workflows.contracts import JourneyInfo
from workflows.model import MANUAL, MachineConfig, read_machine_config
from workflows.model.machine import CreateCampaignStep, SendStep, WaitForConditionStep

# The trigger event's (or manual run's) id when the request gives none.
SIMULATED_ID = "simulation"


async def simulate(
    sessions: SessionFactory,
    settings: Settings,
    place_id: int,
    journey_id: int,
    body: SimulateRequest,
) -> Simulation:
    """Walk the journey for the customer (`Invalid` naming each problem of the request)."""
    start = (body.start_at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    async with sessions() as session:
        await read_only(session)
        world = await load(session, settings, place_id, journey_id, body, start)
    # A thousand steps of rendering hold the CPU for a while: not on the event loop.
    return await asyncio.to_thread(walk, world)


async def load(
    session: AsyncSession,
    settings: Settings,
    place_id: int,
    journey_id: int,
    body: SimulateRequest,
    start: datetime,
) -> World:
    journey = await journeys_store.get(session, place_id, journey_id)
    config = _config(journey)
    issues: list[Issue] = []
    customer: Customer | None = None
    try:
        customer = await customers_service.chosen(
            session, place_id, body.customer_id, body.customer
        )
    except Invalid as error:
        issues += error.issues
    trigger = body.event or SimulatedTrigger()
    if trigger.name not in (None, journey.trigger_event):
        issues.append(
            Issue("event.name", f"must be {journey.trigger_event}: the journey starts on it")
        )
    given = [change.segment_id for change in body.segments]
    issues += await segments_service.unknown(session, place_id, given, "segments", "segment_id")
    if issues:
        raise Invalid(issues)
    assert customer is not None and journey.id is not None
    steps = [state.step for state in config.states.values()]
    waits = [step for step in steps if isinstance(step, WaitForConditionStep)]
    used = {s for step in waits for s in (*step.include, *step.exclude)}
    # A described customer is in the segments the request says, and no others.
    members = (
        await segments.memberships(session, place_id, customer.id, {*used, *given})
        if customer.id
        else set()
    )
    place = await session.get(Place, place_id)
    templates = [step.template_id for step in steps if isinstance(step, SendStep)]
    campaigns = [step.campaign_id for step in steps if isinstance(step, CreateCampaignStep)]
    exits = (journey.exit_rules or {}).get("events", [])
    return World(
        journey=JourneyInfo(id=journey.id, name=journey.name, version=journey.version),
        config=config,
        execution_id=_execution_id(journey, trigger, customer),
        place={"id": place_id, "name": place.name if place else ""},
        rules=await place_settings.get(session, place_id),
        customer=customer,
        templates=await crud.by_ids(session, Template, place_id, filter(None, templates)),
        campaigns=await crud.by_ids(session, Campaign, place_id, filter(None, campaigns)),
        timeline=_timeline(body, start, members),
        trigger=rendering.event_scope(
            journey.trigger_event, trigger.id, trigger.data, trigger.occurred_at
        ),
        links={channel: unsubscribe_link(settings, customer, channel) for channel in CHANNELS},
        exit_events=frozenset(exits),
        goal=Goal(journey.goal["event"], journey.goal["within_days"]) if journey.goal else None,
        max_steps=body.max_steps,
        poll_seconds=settings.condition_poll_seconds,
    )


def _execution_id(journey: Journey, trigger: SimulatedTrigger, customer: Customer) -> str:
    """The id the execution would have: of the trigger event's id, or for a manual journey
    of a run with that id (`simulation` when none is given)."""
    assert journey.id is not None
    given = trigger.id or SIMULATED_ID
    if journey.trigger_event == MANUAL:
        return run_execution_id(journey.id, given, customer.id)
    return event_execution_id(journey.id, given)


def _config(journey: Journey) -> MachineConfig:
    if journey.machine_config is None:
        raise Invalid(
            [
                Issue(
                    "machine_config",
                    f"journey {journey.id} has no machine_config: its executions complete "
                    "at once, so there is nothing to simulate",
                )
            ],
            "The journey has no steps to simulate.",
        )
    try:
        # Read as an execution would read it.
        return read_machine_config(journey.machine_config)
    except ValueError as error:
        raise Invalid([Issue("machine_config", f"can't be run: {error}")]) from None


def _timeline(body: SimulateRequest, start: datetime, members: set[int]) -> Timeline:
    return Timeline(
        start,
        members,
        [Change(start + c.offset, c.segment_id, c.member) for c in body.segments],
        [Received(start + e.offset, e.event, e.data) for e in body.events],
    )
