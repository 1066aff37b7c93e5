"""Campaigns: what `create_campaign` steps clone per customer."""

from typing import Annotated, Any, Literal

from pydantic import Field, JsonValue
from sqlmodel.ext.asyncio.session import AsyncSession

from journeys.errors import Invalid, Issue
from journeys.schemas import Request
from services import usage
from store import crud
from store.tables import Campaign

Name = Annotated[str, Field(min_length=1, max_length=255)]
Visibility = Literal["public", "private"]


class CampaignCreate(Request):
    name: Name
    visibility: Visibility
    data: dict[str, JsonValue] = Field(default_factory=dict)


class CampaignUpdate(Request):
    name: Name | None = None
    visibility: Visibility | None = None
    data: dict[str, JsonValue] | None = None


async def page(
    session: AsyncSession,
    place_id: int,
    offset: int,
    limit: int,
    customer_id: int | None = None,
    visibility: Visibility | None = None,
) -> tuple[list[Campaign], int]:
    """The place's campaigns by id (a customer's clones with `customer_id`), and the total."""
    conditions: list[Any] = [Campaign.place_id == place_id]
    if customer_id is not None:
        conditions.append(Campaign.customer_id == customer_id)
    if visibility is not None:
        conditions.append(Campaign.visibility == visibility)
    return await crud.page(session, Campaign, conditions, offset=offset, limit=limit)


async def get(
    session: AsyncSession, place_id: int, campaign_id: int, lock: bool = False
) -> Campaign:
    return await crud.get(session, Campaign, place_id, campaign_id, lock=lock)


async def create(session: AsyncSession, place_id: int, body: CampaignCreate) -> Campaign:
    return await crud.create(session, Campaign(place_id=place_id, **body.model_dump()))


async def update(session: AsyncSession, campaign: Campaign, body: CampaignUpdate) -> Campaign:
    changes = body.model_dump(include=body.model_fields_set)
    nulls = [field for field, value in changes.items() if value is None]
    if nulls:
        raise Invalid([Issue(field, "must not be null") for field in nulls])
    await crud.update(session, campaign, changes)
    return campaign


async def update_by_id(
    session: AsyncSession, place_id: int, campaign_id: int, body: CampaignUpdate
) -> Campaign:
    return await update(session, await get(session, place_id, campaign_id, lock=True), body)


async def delete(session: AsyncSession, place_id: int, campaign_id: int) -> None:
    """Delete a campaign no journey's current config clones (`Conflict` names the
    journeys); clones already made for customers stay."""
    campaign = await get(session, place_id, campaign_id, lock=True)
    await usage.refuse_if_used(session, place_id, "campaign", campaign_id)
    await crud.delete(session, campaign)
