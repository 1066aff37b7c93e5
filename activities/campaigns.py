"""The create_campaign activity: a private clone of a campaign for one customer."""

from temporalio import activity

from journeys.errors import NotFound
from store import campaigns
from store.db import SessionFactory
from workflows.contracts import CloneInput, CloneResult
from workflows.visibility import CLONE_CAMPAIGN


class Campaigns:
    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions

    @activity.defn(name=CLONE_CAMPAIGN)
    async def clone_campaign(self, request: CloneInput) -> CloneResult:
        async with self.sessions() as session:
            try:
                clone = await campaigns.clone_for_customer(
                    session,
                    request.place_id,
                    request.campaign_id,
                    request.customer_id,
                    journey_id=request.journey_id,
                    execution_id=request.execution_id,
                    idempotency_key=request.idempotency_key,
                )
            except NotFound:
                # Deleted since the journey was saved: a data problem, not worth a retry.
                return CloneResult(
                    campaign_id=None, reason=f"campaign {request.campaign_id} no longer exists"
                )
            await session.commit()
            return CloneResult(campaign_id=clone.id)
