"""Business events: `/places/{placeId}/events` starts executions of the matching journeys."""

from typing import Annotated

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse
from pydantic import JsonValue

from api.deps import AppSettings, CurrentManager, Session, Sessions, TemporalClient, WriteGate
from services import events as service

router = APIRouter(prefix="/places/{place_id}/events", tags=["events"])


@router.post("", status_code=202)
async def receive_events(
    manager: CurrentManager,
    sessions: Sessions,
    session: Session,
    gate: WriteGate,
    temporal: TemporalClient,
    settings: AppSettings,
    body: Annotated[dict[str, JsonValue], Body()],
) -> JSONResponse:
    """Start an execution of every active journey of the place whose trigger is the event
    (one event, or `{"events": [...]}` of up to 1000). A repeated `event_id` starts nothing
    new and answers with the same executions; unknown customers are created, and a
    `customer` profile in the event is upserted first. Answers once the starts are durable
    (503 if Temporal can't be reached: send the event again)."""
    answer = await service.receive(
        sessions, session, gate, temporal, settings, manager.place_id, body
    )
    return JSONResponse(answer, status_code=202)
