"""Reads of journey definitions that workflows need (for `JourneyCleanup`)."""

from temporalio import activity

from store.db import SessionFactory
from store.tables import Journey
from workflows.contracts import CleanupInput
from workflows.visibility import JOURNEY_EXISTS


class Definitions:
    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions

    @activity.defn(name=JOURNEY_EXISTS)
    async def journey_exists(self, request: CleanupInput) -> bool:
        """Whether the journey's row is (still) there, as committed."""
        async with self.sessions() as session:
            journey = await session.get(Journey, request.journey_id)
            return journey is not None and journey.place_id == request.place_id
