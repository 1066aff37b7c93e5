"""Journey statistics: `/places/{placeId}/journeys/{journeyId}/stats`."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import CurrentJourney, KeptStats, Sessions, TemporalClient
from api.wire import envelope, envelope_models
from services import stats as service
from services.stats import JourneyStats

KIND = "journey_stats"


StatsEnvelope, _ = envelope_models(KIND, JourneyStats)
router = APIRouter(prefix="/places/{place_id}/journeys/{journey_id}", tags=["journeys"])


@router.get("/stats", response_model=None, responses={200: {"model": StatsEnvelope}})
async def journey_stats(
    kept: KeptStats, sessions: Sessions, temporal: TemporalClient, journey: CurrentJourney
) -> JSONResponse:
    """Executions by status, and for each state of the current version: how many executions
    entered it, how many are in it now, and for send steps the messages sent, skipped and
    failed. Executions of every version count; states only in older versions are listed
    when they logged messages. Visibility lags a moment behind the executions, and the counts
    are kept a moment: at most a second old, or up to 30 s while the journey's stats are
    asked for without pause (each answer then starts the next count)."""
    stats: JourneyStats = await service.kept_stats(kept, sessions, temporal, journey)
    return envelope(KIND, [stats])
