"""Journey definitions: configs checked against the journey model and the place, versions,
activation, and deletion with every execution."""

import asyncio
import copy
from typing import Annotated, Any

from pydantic import ConfigDict, Field, WithJsonSchema, field_validator
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from journeys import rendering
from journeys.errors import Conflict, Invalid, Issue
from journeys.outbound import Outbound
from journeys.outbound import problem as outbound_problem
from journeys.schemas import Request, json_size
from journeys.settings import Settings
from orchestration import handoff
from services.auth import Manager
from services.journey_rules import EntryRules, ExitRules, Goal, stored
from services.local_refs import CAMPAIGN, SEGMENT, TEMPLATE, LocalRefs
from store import crud, runs, templates, waiting
from store import journeys as store

# The reads are the store's own: there is no rule to add to them.
from store.journeys import get as get
from store.journeys import page as page
from store.tables import Campaign, Journey, OwedStart, Segment
from workflows.model import MANUAL, TriggerEvent, parse_machine_config
from workflows.model.machine import (
    CreateCampaignStep,
    SendStep,
    UpdateCustomerStep,
    WaitForConditionStep,
    WebhookStep,
)

# Every execution carries its journey's config (Temporal payloads are limited to 2 MB).
MAX_CONFIG_BYTES = 256 * 1024
Name = Annotated[str, Field(min_length=1, max_length=255)]
Description = Annotated[str, Field(max_length=10_000)]
# Any JSON is taken (and checked by `checked_config`, which names each problem's path).
MachineConfig = Annotated[
    Any,
    WithJsonSchema(
        {
            "anyOf": [{"type": "object"}, {"type": "null"}],
            "description": "The journey's steps: `initial` and `states` (see docs/journeys.md). "
            "null: the journey completes at once.",
        }
    ),
]
WELCOME_CONFIG: dict[str, Any] = {
    "initial": "send_welcome",
    "states": {
        "send_welcome": {
            "meta": {"type": "send_email", "templateId": 5},
            "on": {"DONE": "done"},
        },
        "done": {"type": "final"},
    },
}


def _not_blank(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError("must not be blank")
    return value


class JourneyCreate(Request):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Welcome new members",
                    "trigger_event": "account.created",
                    "description": "Send a welcome email when someone joins the loyalty programme.",
                }
            ]
        }
    )

    name: Name
    trigger_event: TriggerEvent
    description: Description | None = None
    machine_config: MachineConfig = None
    entry_rules: EntryRules | None = None
    exit_rules: ExitRules | None = None
    goal: Goal | None = None

    _name = field_validator("name")(_not_blank)


class JourneyUpdate(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{"machine_config": WELCOME_CONFIG}]})

    name: Name | None = None
    trigger_event: TriggerEvent | None = None
    description: Description | None = None
    machine_config: MachineConfig = None
    # null removes the rule.
    entry_rules: EntryRules | None = None
    exit_rules: ExitRules | None = None
    goal: Goal | None = None

    _name = field_validator("name")(_not_blank)


class StopRequest(Request):
    cancel_running: bool = False


async def checked_config(
    session: AsyncSession,
    place_id: int,
    raw: Any,
    *,
    root: str = "machine_config",
    refs: LocalRefs | None = None,
    outbound: Outbound,
) -> dict[str, Any] | None:
    """The config to store, once every rule of the journey model holds and every template,
    segment and campaign it names exists in the place (templates on the step's channel).

    With `refs` (a recommendation being accepted) a `templateRef`, `campaignRef` or
    `{"segmentRef": ...}` becomes the id of what the tree created under that localRef,
    in place, so the stored document keeps its order; without, a ref is refused.
    """
    if raw is None:
        return None
    size = json_size(raw)
    if size > MAX_CONFIG_BYTES:
        raise Invalid(
            [Issue(root, f"is {size} bytes as JSON; at most {MAX_CONFIG_BYTES} bytes")],
            "machine_config is invalid.",
        )
    config = parse_machine_config(raw, root=root)
    sends: list[tuple[str, int, SendStep]] = []
    segments: list[tuple[str, int]] = []
    campaigns: list[tuple[str, int]] = []
    swaps: dict[str, tuple[str, str, int]] = {}  # state → (ref key, id key, id)
    items: list[tuple[str, str, int, int]] = []  # (state, include|exclude, index, id)
    calls: list[tuple[str, str]] = []  # (path, url) of webhook steps
    issues = []

    def resolved(path: str, ref: str, category: str, ids: str) -> int | None:
        if refs is None:
            issues.append(Issue(path, _REF_ONLY_ON_ACCEPT.format(ids)))
            return None
        found = refs.resolve(ref, category)
        if found is None:
            issues.append(Issue(path, refs.why_not(ref, category)))
        return found

    for name, state in config.states.items():
        step = state.step
        path = f"{root}.states.{name}.meta"
        if isinstance(step, SendStep):
            if step.template_ref is None:
                assert step.template_id is not None
                sends.append((f"{path}.templateId", step.template_id, step))
                continue
            where = f"{path}.templateRef"
            found = resolved(where, step.template_ref, TEMPLATE, "templateId")
            if found is not None:
                swaps[name] = ("templateRef", "templateId", found)
                sends.append((where, found, step))
        elif isinstance(step, CreateCampaignStep):
            if step.campaign_ref is None:
                assert step.campaign_id is not None
                campaigns.append((f"{path}.campaignId", step.campaign_id))
                continue
            where = f"{path}.campaignRef"
            found = resolved(where, step.campaign_ref, CAMPAIGN, "campaignId")
            if found is not None:
                swaps[name] = ("campaignRef", "campaignId", found)
                campaigns.append((where, found))
        elif isinstance(step, WebhookStep):
            calls.append((f"{path}.url", step.url))
            problem = rendering.check(step.body) if step.body is not None else None
            if problem:
                issues.append(Issue(f"{path}.body", f"is not valid Liquid: {problem}"))
        elif isinstance(step, UpdateCustomerStep):
            for key, value in step.assign.items():
                problem = rendering.check(value) if isinstance(value, str) else None
                if problem:
                    issues.append(Issue(f"{path}.set.{key}", f"is not valid Liquid: {problem}"))
        elif isinstance(step, WaitForConditionStep):
            for key, ids in (("include", step.include), ("exclude", step.exclude)):
                segments += [(f"{path}.{key}.{i}", segment) for i, segment in enumerate(ids)]
            for key, i, ref in step.segment_refs:
                where = f"{path}.{key}.{i}.segmentRef"
                found = resolved(where, ref, SEGMENT, "segment ids")
                if found is not None:
                    items.append((name, key, i, found))
                    segments.append((where, found))

    # Where webhooks may call: the hosts are looked up at once, each within its bound.
    refusals = await asyncio.gather(*(outbound_problem(url, outbound) for _, url in calls))
    issues += [Issue(path, why) for (path, _), why in zip(calls, refusals, strict=True) if why]
    # Shared locks: a concurrent delete of a template, segment or campaign named here waits
    # for this save and then sees the journey that uses it (services.usage), or this save
    # waits for the delete and then finds the id gone.
    channels = await templates.channels(session, place_id, [i for _, i, _ in sends], share=True)
    for path, template_id, send in sends:
        channel = channels.get(template_id)
        if channel is None:
            issues.append(Issue(path, f"template {template_id} does not exist in this place"))
        elif channel != send.channel:
            issues.append(
                Issue(
                    path,
                    f"template {template_id} is an {channel} template; "
                    f"a {send.type} step needs a {send.channel} template",
                )
            )
    for model, named, what in ((Segment, segments, "segment"), (Campaign, campaigns, "campaign")):
        found_ids = await crud.existing_ids(
            session, model, place_id, [i for _, i in named], share=True
        )
        issues += [
            Issue(path, f"{what} {i} does not exist in this place")
            for path, i in named
            if i not in found_ids
        ]
    if issues:
        raise Invalid(issues, "machine_config is invalid.")
    assert isinstance(raw, dict)
    return _swapped(raw, swaps, items) if swaps or items else raw


def _swapped(
    raw: dict[str, Any],
    swaps: dict[str, tuple[str, str, int]],
    items: list[tuple[str, str, int, int]],
) -> dict[str, Any]:
    """`raw` with refs replaced by ids, every key where it was."""
    config = copy.deepcopy(raw)
    states = config["states"]
    for name, (ref_key, id_key, found) in swaps.items():
        meta = states[name]["meta"]
        states[name]["meta"] = {
            (id_key if key == ref_key else key): (found if key == ref_key else value)
            for key, value in meta.items()
        }
    for name, key, i, found in items:
        states[name]["meta"][key][i] = found
    return config


_REF_ONLY_ON_ACCEPT = (
    "references are resolved only when a recommendation is accepted; a journey's own "
    "machine_config names an existing one with {}"
)


async def create(
    session: AsyncSession,
    manager: Manager,
    body: JourneyCreate,
    *,
    active: bool = False,
    root: str = "machine_config",
    refs: LocalRefs | None = None,
    outbound: Outbound,
) -> Journey:
    """A new journey of the manager's place (manual journeys are always active)."""
    journey = Journey(
        place_id=manager.place_id,
        user_id=manager.user_id,
        name=body.name,
        description=body.description,
        trigger_event=body.trigger_event,
        machine_config=await checked_config(
            session,
            manager.place_id,
            body.machine_config,
            root=root,
            refs=refs,
            outbound=outbound,
        ),
        active=active or body.trigger_event == MANUAL,
        entry_rules=stored(body.entry_rules),
        exit_rules=stored(body.exit_rules),
        goal=stored(body.goal),
    )
    created = await crud.create(session, journey)
    await store.record_version(session, created, manager.user_id)
    return created


async def update(
    session: AsyncSession,
    journey: Journey,
    body: JourneyUpdate,
    *,
    root: str = "machine_config",
    refs: LocalRefs | None = None,
    outbound: Outbound,
    user_id: int | None = None,
) -> Journey:
    """Apply the fields `body` gives; the trigger event can't change."""
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
    for field in ("entry_rules", "exit_rules", "goal"):
        if field in given:
            changes[field] = stored(getattr(body, field))
    if "machine_config" in given:
        changes["machine_config"] = await checked_config(
            session,
            journey.place_id,
            body.machine_config,
            root=root,
            refs=refs,
            outbound=outbound,
        )
    return await store.update(session, journey, changes, user_id)


async def remove(session: AsyncSession, journey: Journey) -> OwedStart:
    """Delete the journey's row and owe the cleanup that ends its executions and removes
    their records from Temporal (the caller commits, then delivers it)."""
    assert journey.id is not None
    await runs.forget(session, journey.id)
    await waiting.forget_journey(session, journey.place_id, journey.id)
    await crud.delete(session, journey)
    return await handoff.owe_cleanup(session, journey.place_id, journey.id, "delete")


async def delete(
    session: AsyncSession, temporal: Client, settings: Settings, journey: Journey
) -> None:
    """Remove the journey and end its executions. Commits before Temporal is asked
    (`orchestration.handoff`)."""
    await handoff.ready(temporal)
    cleanup = await remove(session, journey)
    await handoff.deliver(temporal, settings, session, [cleanup])


async def start(session: AsyncSession, journey: Journey) -> Journey:
    """Set active: the journey now fires when its trigger event occurs."""
    return await store.update(session, journey, {"active": True})


async def stop(
    session: AsyncSession,
    temporal: Client,
    settings: Settings,
    journey: Journey,
    cancel_running: bool,
) -> Journey:
    """Set inactive: no new executions start; running ones finish their path, unless
    `cancel_running` (manual journeys are always active: `Conflict`). With
    `cancel_running` it commits before Temporal is asked (`orchestration.handoff`)."""
    if journey.trigger_event == MANUAL:
        raise Conflict("Manual journeys are always active; they run only when /run is called.")
    if not cancel_running:
        return await store.update(session, journey, {"active": False})
    assert journey.id is not None
    await handoff.ready(temporal)
    await store.update(session, journey, {"active": False})
    cleanup = await handoff.owe_cleanup(session, journey.place_id, journey.id, "cancel")
    await handoff.deliver(temporal, settings, session, [cleanup])
    return journey
