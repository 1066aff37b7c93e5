"""Business events: `/places/{placeId}/events` starts executions of the matching journeys."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from api.contract import body_of
from api.deps import (
    BODY_STATE,
    AppSettings,
    CurrentManager,
    Session,
    Sessions,
    TemporalClient,
    WriteGate,
)
from journeys.errors import Invalid, Issue
from journeys.schemas import Resource
from services import events as service


class KeptOut(Resource):
    journey_id: int
    reason: str


class EventAccepted(Resource):
    event_id: str
    triggered: int  # executions started (or, for a repeated event id, found)
    executions: list[str]
    # Present when a triggered journey's entry rules kept the customer out.
    skipped: list[KeptOut] | None = Field(default=None, json_schema_extra={"nullable": False})


class EventsAccepted(Resource):
    events: list[EventAccepted]
    triggered: int


router = APIRouter(prefix="/places/{place_id}/events", tags=["events"])


async def _body(request: Request) -> dict[str, Any]:
    """The JSON object sent, as the body guard parsed and vetted it: one event or a batch,
    told apart by the service, so the hot path parses the body once."""
    if BODY_STATE not in request.scope.get("state", {}):
        raise Invalid([Issue("body", "a JSON body is required")])
    body = request.scope["state"][BODY_STATE]
    if not isinstance(body, dict):
        raise Invalid([Issue("body", 'must be an object: one event, or {"events": [...]}')])
    return body


@router.post(
    "",
    status_code=202,
    response_model=None,
    responses={202: {"model": EventAccepted | EventsAccepted}},
    openapi_extra=body_of(service.EventIn, service.EventBatch),
)
async def receive_events(
    request: Request,
    manager: CurrentManager,
    sessions: Sessions,
    session: Session,
    gate: WriteGate,
    temporal: TemporalClient,
    settings: AppSettings,
) -> JSONResponse:
    """Start an execution of every active journey of the place whose trigger is the event
    (one event, or `{"events": [...]}` of up to 1000). A repeated `event_id` starts nothing
    new and answers with the same executions; unknown customers are created, and a
    `customer` profile in the event is upserted first. Answers once the starts are durable
    (503 if Temporal can't be reached: send the event again)."""
    answer = await service.receive(
        sessions, session, gate, temporal, settings, manager.place_id, await _body(request)
    )
    return JSONResponse(answer, status_code=202)
