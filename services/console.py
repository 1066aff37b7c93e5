"""What the console shows of a journey: its diagram in words a person reads (template,
segment and campaign names, not ids; durations; conditions); and for the journeys list,
each journey's executions by status, kept a few seconds so a list with many viewers, or
journeys with 100 000 executions, answers fast (a journey's own counts are its stats,
which `services.stats.kept_stats` keeps)."""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from services.diagram import Diagram, layout
from services.kept import Kept
from services.stats import ExecutionCounts, execution_counts
from store import conversions, crud
from store.tables import Campaign, Journey, Segment, Template
from workflows.model import read_machine_config
from workflows.model.durations import in_words
from workflows.model.machine import (
    ConditionStep,
    CreateCampaignStep,
    SendStep,
    SplitStep,
    State,
    UpdateCustomerStep,
    WaitForConditionStep,
    WaitForDurationStep,
    WaitForEventStep,
    WaitUntilStep,
    WebhookStep,
)

# How long the list's counts are reused: longer than the page's refresh (10 s), so an open
# list costs one computation per period however many people watch it.
LIST_SECONDS = 15.0
LIST_CONCURRENCY = 8
# What fits on one line of a box.
LINE = 34


@dataclass(frozen=True)
class Names:
    templates: dict[int, str]
    segments: dict[int, str]
    campaigns: dict[int, str]


async def diagram(session: AsyncSession, journey: Journey) -> Diagram | None:
    """The journey's current config drawn, or None if it has none."""
    if journey.machine_config is None:
        return None
    config = read_machine_config(journey.machine_config)
    names = await _names(session, journey.place_id, [s for s in config.states.values()])
    return layout(config, lambda name, state: describe(state, names))


async def _names(session: AsyncSession, place_id: int, states: list[State]) -> Names:
    templates: set[int] = set()
    segments: set[int] = set()
    campaigns: set[int] = set()
    for state in states:
        step = state.step
        if isinstance(step, SendStep) and step.template_id is not None:
            templates.add(step.template_id)
        elif isinstance(step, CreateCampaignStep) and step.campaign_id is not None:
            campaigns.add(step.campaign_id)
        elif isinstance(step, WaitForConditionStep):
            segments.update(step.include, step.exclude)
    found_templates = await crud.by_ids(session, Template, place_id, templates)
    found_segments = await crud.by_ids(session, Segment, place_id, segments)
    found_campaigns = await crud.by_ids(session, Campaign, place_id, campaigns)
    return Names(
        templates={i: row.name for i, row in found_templates.items()},
        segments={i: row.name for i, row in found_segments.items()},
        campaigns={i: row.name for i, row in found_campaigns.items()},
    )


def describe(state: State, names: Names) -> list[str]:
    """What a state's step does, in a few short lines."""
    step = state.step
    if step is None:
        return []
    if isinstance(step, SendStep):
        assert step.template_id is not None
        return [_named("template", names.templates, step.template_id)]
    if isinstance(step, CreateCampaignStep):
        assert step.campaign_id is not None
        return [_named("clone", names.campaigns, step.campaign_id)]
    if isinstance(step, WaitForDurationStep):
        return [f"wait {in_words(step)}"]
    if isinstance(step, WaitForConditionStep):
        lines = [_named("in", names.segments, i) for i in step.include]
        lines += [_named("not in", names.segments, i) for i in step.exclude]
        return lines
    if isinstance(step, ConditionStep):
        test = step.operator if step.operator == "exists" else f"{step.operator} {step.value!r}"
        return [_clip(step.attribute), _clip(test)]
    if isinstance(step, WaitUntilStep):
        days = f" {', '.join(step.weekdays)}" if step.weekdays else ""
        return [_clip(f"until {step.time}{days}"), _clip(f"zone: {step.timezone}")]
    if isinstance(step, WaitForEventStep):
        return [_clip(f"until {step.event}"), _clip(f"at most {in_words(step)}")]
    if isinstance(step, SplitStep):
        return [_clip(" · ".join(f"{name} {weight}" for name, weight in step.branches))]
    if isinstance(step, UpdateCustomerStep):
        changed = [*step.assign, *(f"unset {path}" for path in step.unset)]
        return [_clip(", ".join(changed))]
    if isinstance(step, WebhookStep):
        return [_clip(f"{step.method} {step.url.split('://', 1)[-1]}")]
    raise AssertionError(f"unknown step {step!r}")


def _named(what: str, names: dict[int, str], item: int) -> str:
    name = names.get(item)
    return _clip(f"{what} {name} (#{item})" if name else f"{what} #{item} (deleted)")


def _clip(text: str) -> str:
    return text if len(text) <= LINE else text[: LINE - 1] + "\u2026"


@dataclass(frozen=True)
class Summary:
    """A journey's line in the list: its executions by status, and how many converted."""

    executions: ExecutionCounts
    converted: int


_summed: Kept[ExecutionCounts] = Kept(LIST_SECONDS, stale=None)


async def summaries(
    session: AsyncSession, temporal: Client, journeys: Sequence[Journey]
) -> list[Summary]:
    """Each journey's summary: conversions in one query, executions by status (kept
    `LIST_SECONDS`), `LIST_CONCURRENCY` journeys at a time."""
    ids = [journey.id for journey in journeys if journey.id is not None]
    converted = await conversions.totals(session, ids)
    gate = asyncio.Semaphore(LIST_CONCURRENCY)

    async def one(journey: Journey) -> Summary:
        assert journey.id is not None
        async with gate:
            executions = await _summed.get(journey.id, lambda: execution_counts(temporal, journey))
        return Summary(executions, converted.get(journey.id, 0))

    return list(await asyncio.gather(*(one(journey) for journey in journeys)))
