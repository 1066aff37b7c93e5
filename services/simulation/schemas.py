"""What `POST /places/{placeId}/journeys/{id}/simulate` takes and answers."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, ConfigDict, Field, JsonValue

from journeys.schemas import Request, Resource, at_most_bytes
from services.events import MAX_DATA_BYTES
from services.journey_rules import EventName
from services.templates import PreviewEvent, PreviewRequest
from workflows.model.machine import MAX_ID

DEFAULT_STEPS = 100
MAX_STEPS = 1000
# As long as the longest wait a step may have (100 years).
MAX_AFTER_DAYS = 36_600
# Items of `segments` and of `events`.
MAX_TIMELINE = 100
# Unix seconds in the answer are never negative, and the latest start leaves room for the
# latest `after_days` plus `after_hours` (200 years) before the last date Python can hold.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


class After(Request):
    """When something happens, counted from the simulation's start."""

    after_days: Annotated[int, Field(ge=0, le=MAX_AFTER_DAYS)] = 0
    after_hours: Annotated[int, Field(ge=0, le=MAX_AFTER_DAYS * 24)] = 0

    @property
    def offset(self) -> timedelta:
        return timedelta(days=self.after_days, hours=self.after_hours)


class SegmentChange(After):
    """From then on the customer is in the segment (`member`: false, out of it)."""

    segment_id: Annotated[int, Field(ge=1, le=MAX_ID)]
    member: bool = True


class ReceivedEvent(After):
    """An event that arrives for the customer then (`POST /events` would bring it)."""

    event: EventName
    data: Annotated[dict[str, JsonValue], at_most_bytes(MAX_DATA_BYTES)] = Field(
        default_factory=dict
    )


class SimulatedTrigger(PreviewEvent):
    """The event that starts the execution, as templates see it (`event`); its name is the
    journey's trigger event."""

    name: Annotated[str, Field(min_length=1, max_length=64)] | None = None  # type: ignore[assignment]


def _iso_text(value: Any) -> Any:
    # Lax parsing would also take Unix seconds; the document promises an ISO time only.
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 time with its zone, such as 2026-05-01T09:00:00Z")
    return value


def _in_range(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise ValueError("must be from 1970-01-01T00:00:00Z and before the year 9000")
    return value


StartAt = Annotated[
    AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_in_range), Field(strict=False)
]


class SimulateRequest(PreviewRequest):
    """A stored customer (`customer_id`) or one described here (`customer`), not both; what
    happens to them by time; where to start and how far to go."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": 1,
                    "start_at": "2026-05-01T09:00:00Z",
                    "segments": [{"segment_id": 3, "after_days": 2}],
                    "events": [{"after_days": 4, "event": "order.created", "data": {"total": 40}}],
                }
            ]
        }
    )

    event: SimulatedTrigger | None = None
    segments: Annotated[list[SegmentChange], Field(max_length=MAX_TIMELINE)] = Field(
        default_factory=list
    )
    events: Annotated[list[ReceivedEvent], Field(max_length=MAX_TIMELINE)] = Field(
        default_factory=list
    )
    start_at: StartAt | None = None
    max_steps: Annotated[int, Field(ge=1, le=MAX_STEPS)] = DEFAULT_STEPS


class SimulatedMessage(Resource):
    """A message as the send would make it; nothing is sent or logged. `status` is what the
    message log would say: `sent`, or `skipped`/`failed` with the `reason`."""

    channel: str
    template_id: int
    category: str | None
    status: Literal["sent", "skipped", "failed"]
    reason: str | None
    to: list[str]
    subject: str | None
    title: str | None
    body: str | None


class SimulatedCampaign(Resource):
    """The campaign a `create_campaign` step would clone for the customer (nothing is
    created); `name` is null when it no longer exists."""

    campaign_id: int
    name: str | None


class SimulatedStep(Resource):
    """One step, as the executions API shows a real one, with its simulated times."""

    state: str
    type: str
    visit: int
    entered_at: int
    left_at: int | None
    offset: str  # when it was entered, from the start: "day 2", "day 0 +3h"
    event: str | None  # the transition it left by
    next: str | None  # the state that transition leads to
    detail: str | None  # what happened and why
    message: SimulatedMessage | None = None
    campaign: SimulatedCampaign | None = None


class SimulatedGoal(Resource):
    event: str
    within_days: int
    converted: bool
    at: int | None
    detail: str


Ending = Literal["completed", "exited", "waiting", "step_limit", "failed"]


class Simulation(Resource):
    """Where the journey takes the customer: every step with its simulated time, how the walk
    ended (`outcome`, in state `endedIn` at `endedAt`, with a `note` saying why) and the
    goal. Nothing was sent, stored or started."""

    journey_id: int
    version: int
    customer_id: int | None
    # The id an execution for the trigger event would have (a split step's branch hangs on it).
    execution_id: str
    start_at: int
    outcome: Ending
    ended_in: str
    ended_at: int
    note: str
    steps: list[SimulatedStep]
    goal: SimulatedGoal | None
