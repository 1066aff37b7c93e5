"""Campaigns: `/places/{placeId}/campaigns`."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import Field, JsonValue
from sqlmodel.ext.asyncio.session import AsyncSession

from api.deps import CurrentManager, Pagination, Session
from api.wire import Resource, envelope, envelope_models
from journeys.errors import Invalid, Issue
from journeys.schemas import Request
from store import crud
from store.tables import Campaign
from workflows.model.machine import MAX_ID

KIND = "campaign"
CampaignId = Annotated[int, Path(ge=1, le=MAX_ID, description="The campaign's id.")]
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


class CampaignOut(Resource):
    id: int
    place_id: int
    name: str
    visibility: str
    data: dict[str, Any]
    customer_id: int | None
    source_campaign_id: int | None
    journey_id: int | None
    execution_id: str | None
    created: int
    updated: int


CampaignEnvelope, CampaignPage = envelope_models(KIND, CampaignOut)
router = APIRouter(prefix="/places/{place_id}/campaigns", tags=["campaigns"])


def _out(campaign: Campaign) -> CampaignOut:
    return CampaignOut.model_validate(campaign, from_attributes=True)


async def create(session: AsyncSession, place_id: int, body: CampaignCreate) -> Campaign:
    return await crud.create(session, Campaign(place_id=place_id, **body.model_dump()))


async def update(session: AsyncSession, campaign: Campaign, body: CampaignUpdate) -> Campaign:
    changes = body.model_dump(include=body.model_fields_set)
    nulls = [field for field, value in changes.items() if value is None]
    if nulls:
        raise Invalid([Issue(field, "must not be null") for field in nulls])
    await crud.update(session, campaign, changes)
    return campaign


@router.get("", response_model=None, responses={200: {"model": CampaignPage}})
async def list_campaigns(
    manager: CurrentManager,
    session: Session,
    paging: Pagination,
    customer_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    visibility: Annotated[Visibility | None, Query()] = None,
) -> JSONResponse:
    """List campaigns, ordered by id (paginated; `customer_id=` lists a customer's clones)."""
    conditions: list[Any] = [Campaign.place_id == manager.place_id]
    if customer_id is not None:
        conditions.append(Campaign.customer_id == customer_id)
    if visibility is not None:
        conditions.append(Campaign.visibility == visibility)
    rows, total = await crud.page(
        session, Campaign, conditions, offset=paging.offset, limit=paging.per_page
    )
    return envelope(KIND, [_out(row) for row in rows], paging.meta(total))


@router.post("", response_model=None, responses={200: {"model": CampaignEnvelope}})
async def create_campaign(
    manager: CurrentManager, session: Session, body: CampaignCreate
) -> JSONResponse:
    """Create a campaign (a template that `create_campaign` steps clone per customer)."""
    return envelope(KIND, [_out(await create(session, manager.place_id, body))])


@router.get("/{campaign_id}", response_model=None, responses={200: {"model": CampaignEnvelope}})
async def get_campaign(
    manager: CurrentManager, session: Session, campaign_id: CampaignId
) -> JSONResponse:
    """Get one campaign."""
    return envelope(KIND, [_out(await crud.get(session, Campaign, manager.place_id, campaign_id))])


@router.put("/{campaign_id}", response_model=None, responses={200: {"model": CampaignEnvelope}})
async def update_campaign(
    manager: CurrentManager, session: Session, campaign_id: CampaignId, body: CampaignUpdate
) -> JSONResponse:
    """Update name, visibility or data (only the fields given change)."""
    campaign = await crud.get(session, Campaign, manager.place_id, campaign_id, lock=True)
    return envelope(KIND, [_out(await update(session, campaign, body))])


@router.delete("/{campaign_id}", status_code=204, response_class=Response)
async def delete_campaign(
    manager: CurrentManager, session: Session, campaign_id: CampaignId
) -> None:
    """Delete a campaign (clones already made for customers stay)."""
    await crud.delete(session, await crud.get(session, Campaign, manager.place_id, campaign_id))
