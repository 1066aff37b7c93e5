"""Which journeys' current configs name a template, segment or campaign: such an entity
can't be deleted until they name another (`Conflict` names them), as Braze and Customer.io
refuse to archive content a live canvas or campaign uses."""

from typing import Literal

from sqlmodel.ext.asyncio.session import AsyncSession

from journeys.errors import Conflict
from store import journeys as journey_store
from workflows.model import read_machine_config
from workflows.model.machine import CreateCampaignStep, SendStep, Step, WaitForConditionStep

Used = Literal["template", "segment", "campaign"]
_NOUNS = {"template": "Template", "segment": "Segment", "campaign": "Campaign"}


def _names(step: Step | None, what: Used, entity_id: int) -> bool:
    if what == "template":
        return isinstance(step, SendStep) and step.template_id == entity_id
    if what == "campaign":
        return isinstance(step, CreateCampaignStep) and step.campaign_id == entity_id
    return isinstance(step, WaitForConditionStep) and entity_id in (*step.include, *step.exclude)


async def journeys_using(
    session: AsyncSession, place_id: int, what: Used, entity_id: int
) -> list[int]:
    """The place's journeys whose current config names the entity, by id."""
    using = []
    for journey in await journey_store.of_place(session, place_id):
        if journey.machine_config is None:
            continue
        config = read_machine_config(journey.machine_config)
        if any(_names(state.step, what, entity_id) for state in config.states.values()):
            assert journey.id is not None
            using.append(journey.id)
    return sorted(using)


def in_use(what: Used, entity_id: int, journey_ids: list[int]) -> str:
    return (
        f"{_NOUNS[what]} {entity_id} is used by journeys {', '.join(map(str, journey_ids))}; "
        "change their machine_config first."
    )


async def refuse_if_used(session: AsyncSession, place_id: int, what: Used, entity_id: int) -> None:
    users = await journeys_using(session, place_id, what, entity_id)
    if users:
        raise Conflict(in_use(what, entity_id, users))
