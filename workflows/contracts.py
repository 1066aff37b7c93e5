"""What crosses Temporal's wire: the input and result of every workflow and activity.

Workflows call activities by name with these models, so workflow code never imports the
activities (which do I/O) and both sides agree on one definition.
"""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from workflows.model.machine import ChannelName


class EventInfo(BaseModel):
    """The trigger of an execution, as templates see it (`{{ event.data.total }}`)."""

    name: str
    id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    occurred_at: int | None = None


class ReceivedEvent(BaseModel):
    """An event a `wait_for_event` may be waiting for, and when it was received (Unix
    milliseconds, the API's clock)."""

    event: EventInfo
    received: int


class EventWaitInput(BaseModel):
    """A `wait_for_event` starting: register the execution as waiting for `event`."""

    place_id: int
    customer_id: int
    journey_id: int
    state: str
    # The visit (`state:visit`): a retried registration keeps the first one's moment.
    visit: str
    event: str
    # When the step was entered (the workflow's clock): events received from then count.
    entered: datetime
    seconds: int  # how long it may wait
    # Events that never end the wait: the execution's trigger, and those earlier waits took.
    other_than: list[str] = Field(default_factory=list)


class EventWait(BaseModel):
    """From when events count (Unix milliseconds), and one already received, if any."""

    since: int
    received: ReceivedEvent | None = None


class JourneyInfo(BaseModel):
    id: int
    name: str
    version: int


class SendInput(BaseModel):
    place_id: int
    customer_id: int
    channel: ChannelName
    template_id: int
    idempotency_key: str
    journey: JourneyInfo | None = None
    execution_id: str | None = None
    state: str | None = None
    event: EventInfo | None = None
    # The workflow's time of a first attempt, by which a marketing send inside the customer's
    # quiet hours is held (`SendResult.held_until`); None: never held (the attempt after a
    # hold, and workflows from before quiet hours, which could not wait).
    quiet_hours_at: datetime | None = None


class SendResult(BaseModel):
    message_id: int | None
    status: str
    reason: str | None = None
    # Not claimed: quiet hours in the customer's zone last until then; send again after.
    held_until: datetime | None = None


class UpdateInput(BaseModel):
    """An `update_customer` step: what it sets (strings are Liquid, rendered with what a
    message sees) and removes, once per `idempotency_key`."""

    place_id: int
    customer_id: int
    idempotency_key: str
    assign: dict[str, Any] = Field(default_factory=dict)
    unset: list[str] = Field(default_factory=list)
    journey: JourneyInfo
    execution_id: str
    state: str
    event: EventInfo | None = None


class WebhookInput(BaseModel):
    """A `webhook` step's call: `body` is Liquid, rendered with what a message sees."""

    place_id: int
    customer_id: int
    idempotency_key: str
    url: str
    method: str
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    journey: JourneyInfo
    execution_id: str
    state: str
    event: EventInfo | None = None


class WebhookResult(BaseModel):
    delivered: bool  # answered 2xx: DONE; else FAILED
    detail: str  # the status and the start of the answer, or why no call was made


class UpdateResult(BaseModel):
    detail: str  # what changed, or why nothing did


class CloneInput(BaseModel):
    place_id: int
    campaign_id: int
    customer_id: int
    idempotency_key: str
    journey_id: int | None = None
    execution_id: str | None = None


class CloneResult(BaseModel):
    """The clone's id, or why none was made (the source campaign was deleted)."""

    campaign_id: int | None
    reason: str | None = None


class AttributeInput(BaseModel):
    place_id: int
    customer_id: int
    attribute: str
    # The condition to evaluate where the value is: an attribute may be larger than what
    # may cross Temporal's wire, its truth never is.
    operator: str | None = None
    value: Any = None


class AttributeValue(BaseModel):
    found: bool
    value: Any = None
    outcome: bool | None = None  # the condition's truth, when the input named one


class LocalTimeInput(BaseModel):
    """A `wait_until` step: the next local `time` after `after` (the workflow's clock)."""

    place_id: int
    customer_id: int
    time: str
    weekdays: list[str] = Field(default_factory=list)
    timezone: str = "customer"  # "customer", "place" or an IANA zone
    after: datetime


class LocalTime(BaseModel):
    at: datetime  # UTC
    zone: str  # the zone it was computed in


class SegmentCheckInput(BaseModel):
    place_id: int
    customer_id: int
    include: list[int] = Field(default_factory=list)
    exclude: list[int] = Field(default_factory=list)
    # Where the execution waits, for the registry of waiting executions (`store.waiting`).
    journey_id: int | None = None
    state: str | None = None


class SegmentCheckResult(BaseModel):
    matched: bool
    # Not matched, and registered as waiting: a signal will come. A worker from before the
    # registry (during a rolling deploy) leaves it False, and the execution polls instead.
    registered: bool = False


class StepRecord(BaseModel):
    """One step an execution took, as the executions API and the Temporal query show it."""

    state: str
    type: str
    visit: int
    entered_at: datetime
    left_at: datetime | None = None
    event: str | None = None  # the transition it left by: DONE, ELAPSED, TRUE, FALSE
    detail: str | None = None  # e.g. "message 12 sent", "skipped: customer has no phone number"


class Carry(BaseModel):
    """What a continued-as-new run takes over from the run before it."""

    state: str
    visits: dict[str, int]
    steps: list[StepRecord]
    steps_total: int
    resume_step: bool = False  # re-enter `state` without counting a new visit (a long wait)
    # The event templates see, once a wait_for_event has received one (else the trigger),
    # and the ids of those the waits received.
    event: EventInfo | None = None
    consumed: list[str] = Field(default_factory=list)


class ExecutionInput(BaseModel):
    place_id: int
    journey: JourneyInfo
    machine_config: dict[str, Any] | None
    customer_id: int
    event: EventInfo
    poll_seconds: int = 300
    # A `wait_for_condition` is woken by a signal when its condition may hold; it checks by
    # itself only this often, in case a wake-up was lost.
    safety_seconds: int = 604_800
    # Continue as new past this many history events: far below Temporal's 50k limit, and
    # a step costs only a handful of events.
    history_limit: int = 2_000
    # How long a step's activity may keep retrying an error before the step fails.
    retry_budget_seconds: int = 86_400
    # The journey lets a customer in only `after_exit`: the execution says when it has ended.
    release_entry: bool = False
    carry: Carry | None = None


class EntryRelease(BaseModel):
    journey_id: int
    customer_id: int
    execution_id: str


class Progress(BaseModel):
    current_step: str | None
    steps: list[StepRecord]
    steps_total: int
    exit_reason: str | None = None  # set once an exit event has ended the execution


class ExecutionResult(BaseModel):
    final_state: str | None
    steps_total: int
    # Ended early by one of the journey's exit events, in this state.
    exited_at: str | None = None
    exit_reason: str | None = None


class CleanupInput(BaseModel):
    """End a journey's executions: cancel the running ones (`/stop` with cancel_running), or
    terminate them and delete every execution's record (`DELETE` of the journey)."""

    place_id: int
    journey_id: int
    mode: Literal["cancel", "delete"]
    # A cancel ends only what started before the stop (Unix seconds): a start that follows
    # while the cleanup is owed must not be cancelled by it.
    started_before: float | None = None
    # Read only by cleanups that began before deletes committed first (see
    # `workflows.cleanup`): they end nothing until the journey's row is gone, and give up
    # if it is still there after this long.
    commit_grace_seconds: int = 600


class ExecutionsPage(BaseModel):
    ids: list[str]


class EndExecutionsInput(BaseModel):
    ids: list[str]
    mode: Literal["cancel", "delete"]
    reason: str


class RunInput(BaseModel):
    """A manual run's fan-out (`ManualRun`): the journey as it was when `/run` was called,
    and how far the fan-out has got (carried over `continue_as_new`)."""

    run_id: str
    place_id: int
    journey: JourneyInfo
    machine_config: dict[str, Any] | None
    poll_seconds: int = 300
    safety_seconds: int = 604_800
    history_limit: int = 2_000
    retry_budget_seconds: int = 86_400
    # The journey's re-entry rule at the `/run` call (`services.journey_rules.reentry`).
    reentry: str | int = "always"
    # Every targeted customer with an id up to `after` has an execution; `started` of them.
    after: int = 0
    started: int = 0


class FanOutPage(BaseModel):
    """Where a page of the fan-out left off; `done` once every execution is started, or
    when the run is no longer recorded (its journey was deleted)."""

    after: int
    started: int
    done: bool


class RecheckReport(BaseModel):
    """One round of the central re-check of waiting executions (`WaitingRecheck`)."""

    conditions: int  # distinct conditions waited for
    woken: int  # executions signalled: their condition now holds
    forgotten: int  # entries of executions that had ended
    failed: int = 0  # conditions that could not be checked this round (logged by the worker)
    next_seconds: int  # the poll interval: when the next round is due


class RecheckInput(BaseModel):
    # Until the first round reports the workers' setting.
    interval_seconds: int = 300


class SendTestInput(BaseModel):
    """A template rendered by the API for one send to an operator's own address
    (`TemplateTestSend`): its message is marked `test`, and no consent, quiet hours or
    frequency cap applies (they protect customers; this goes to whoever asked for it)."""

    place_id: int
    template_id: int
    channel: ChannelName
    category: str
    to: str
    # Also the workflow's id: one send per key, however often the request is repeated.
    idempotency_key: str
    # The stored customer it was rendered for; None for a described or empty one.
    customer_id: int | None = None
    subject: str | None = None
    title: str | None = None
    body: str
