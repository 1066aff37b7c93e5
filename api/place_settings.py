"""A place's settings: `/places/{placeId}/settings`."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import CurrentManager, Session
from api.wire import envelope, envelope_models
from services import place_settings as service
from services.place_settings import PlaceSettingsOut, PlaceSettingsUpdate

KIND = "place_settings"
SettingsEnvelope, _ = envelope_models(KIND, PlaceSettingsOut)
router = APIRouter(prefix="/places/{place_id}/settings", tags=["places"])


@router.get("", response_model=None, responses={200: {"model": SettingsEnvelope}})
async def get_settings(manager: CurrentManager, session: Session) -> JSONResponse:
    """The place's time zone, quiet hours and frequency caps (defaults until set: UTC, no
    quiet hours, no caps)."""
    row = await service.get(session, manager.place_id)
    return envelope(KIND, [PlaceSettingsOut.of(row)])


@router.put("", response_model=None, responses={200: {"model": SettingsEnvelope}})
async def put_settings(
    manager: CurrentManager, session: Session, body: PlaceSettingsUpdate
) -> JSONResponse:
    """Set the place's time zone, quiet hours and frequency caps (fields given replace the
    stored ones). Marketing sends obey them from their next claim on."""
    row = await service.update(session, manager.place_id, body)
    return envelope(KIND, [PlaceSettingsOut.of(row)])
