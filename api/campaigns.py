"""Campaigns: `/places/{placeId}/campaigns`."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, Response

from api.contract import CONFLICT
from api.deps import CurrentManager, Pagination, Session
from api.wire import envelope, envelope_models
from journeys.schemas import Resource
from services import campaigns as service
from services.campaigns import CampaignCreate, CampaignUpdate, Visibility
from store.tables import Campaign
from workflows.model.machine import MAX_ID

KIND = "campaign"
CampaignId = Annotated[int, Path(ge=1, le=MAX_ID, description="The campaign's id.")]


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


@router.get("", response_model=None, responses={200: {"model": CampaignPage}})
async def list_campaigns(
    manager: CurrentManager,
    session: Session,
    paging: Pagination,
    customer_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    visibility: Annotated[Visibility | None, Query()] = None,
) -> JSONResponse:
    """List campaigns, ordered by id (paginated; `customer_id=` lists a customer's clones)."""
    rows, total = await service.page(
        session, manager.place_id, paging.offset, paging.per_page, customer_id, visibility
    )
    return envelope(KIND, [_out(row) for row in rows], paging.meta(total))


@router.post("", response_model=None, responses={200: {"model": CampaignEnvelope}})
async def create_campaign(
    manager: CurrentManager, session: Session, body: CampaignCreate
) -> JSONResponse:
    """Create a campaign (a template that `create_campaign` steps clone per customer)."""
    return envelope(KIND, [_out(await service.create(session, manager.place_id, body))])


@router.get("/{campaign_id}", response_model=None, responses={200: {"model": CampaignEnvelope}})
async def get_campaign(
    manager: CurrentManager, session: Session, campaign_id: CampaignId
) -> JSONResponse:
    """Get one campaign."""
    return envelope(KIND, [_out(await service.get(session, manager.place_id, campaign_id))])


@router.put("/{campaign_id}", response_model=None, responses={200: {"model": CampaignEnvelope}})
async def update_campaign(
    manager: CurrentManager, session: Session, campaign_id: CampaignId, body: CampaignUpdate
) -> JSONResponse:
    """Update name, visibility or data (only the fields given change)."""
    campaign = await service.update_by_id(session, manager.place_id, campaign_id, body)
    return envelope(KIND, [_out(campaign)])


@router.delete("/{campaign_id}", status_code=204, response_class=Response, responses=CONFLICT)
async def delete_campaign(
    manager: CurrentManager, session: Session, campaign_id: CampaignId
) -> None:
    """Delete a campaign that no journey's current config clones (409 names the journeys);
    clones already made for customers stay."""
    await service.delete(session, manager.place_id, campaign_id)
