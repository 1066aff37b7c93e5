"""`JourneyExecution`: one customer's walk through one version of a journey.

Deterministic: every side effect and every read of the database is an activity; time comes
from `workflow.now()`; the machine is the snapshot the execution was started with.
"""

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    RetryState,
    is_cancelled_exception,
)

with workflow.unsafe.imports_passed_through():
    from workflows import history
    from workflows.contracts import (
        AttributeInput,
        AttributeValue,
        Carry,
        CloneInput,
        CloneResult,
        EntryRelease,
        EventInfo,
        EventWait,
        EventWaitInput,
        ExecutionInput,
        ExecutionResult,
        LocalTime,
        LocalTimeInput,
        Progress,
        ReceivedEvent,
        SegmentCheckInput,
        SegmentCheckResult,
        SendInput,
        SendResult,
        StepRecord,
        UpdateInput,
        UpdateResult,
        WebhookInput,
        WebhookResult,
    )
    from workflows.model import MachineConfig, read_machine_config
    from workflows.model.durations import wait_until
    from workflows.model.interpreter import Outcome, event_after, split_branch
    from workflows.model.machine import (
        ConditionStep,
        CreateCampaignStep,
        SendStep,
        SplitStep,
        UpdateCustomerStep,
        WaitForConditionStep,
        WaitForDurationStep,
        WaitForEventStep,
        WaitUntilStep,
        WebhookStep,
    )
    from workflows.model.operators import compare
    from workflows.visibility import (
        AWAIT_EVENT,
        CALL_WEBHOOK,
        CLONE_CAMPAIGN,
        CUSTOMER_CHANGED,
        CUSTOMER_IN_SEGMENTS,
        EVENT_RECEIVED,
        EXIT_JOURNEY,
        FORGET_WAITING,
        JOURNEY_EXECUTION,
        JOURNEY_PATH,
        JOURNEY_STEP,
        NEXT_LOCAL_TIME,
        READ_CUSTOMER_ATTRIBUTE,
        RELEASE_ENTRY,
        SEND_MESSAGE,
        UPDATE_CUSTOMER,
        path_after,
        path_branched,
        path_exited,
    )

T = TypeVar("T")
WAITING_PATCH = "waiting-registry"


# Activities retry errors with backoff for the execution's retry budget (a day by default):
# a provider or database outage shorter than that loses nothing. Past it, or on an error no
# retry can cure, the step fails and so does the execution, saying why.
SEND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=5)
)
READ_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)
)
# Past the send's lease (activities.delivery.MAX_LEASE_SECONDS): Temporal gives up on a live
# attempt only after it can no longer be sending; a dead worker is noticed by its heartbeat.
SEND_TIMEOUT = timedelta(seconds=150)
# Sends heartbeat while a provider is asked: a send lost with its worker is retried soon.
SEND_HEARTBEAT = timedelta(seconds=10)
READ_TIMEOUT = timedelta(seconds=30)
FORGET_TIMEOUT = timedelta(minutes=2)
KEPT_STEPS = 200
# A step's detail is carried over continue-as-new with the last KEPT_STEPS steps: a
# condition's `in` list may be long, and all of them must stay far below a payload's limit.
DETAIL_LIMIT = 300
WEBHOOK_DETAIL_LIMIT = 1200
# Events a wait_for_event keeps while it waits (it takes the first that counts), and the
# ids of received events an execution remembers (a loop's waits take each once).
MAX_ARRIVED = 20
MAX_CONSUMED = 50


@workflow.defn(name=JOURNEY_EXECUTION)
class JourneyExecution:
    def __init__(self) -> None:
        self._changed = False
        self._state: str | None = None
        self._steps: list[StepRecord] = []
        self._steps_total = 0
        self._exit: str | None = None
        self._exited_in: str | None = None
        # The event templates see: the trigger, then the last event a wait_for_event received.
        self._event: EventInfo | None = None
        # The event a wait_for_event waits for, and those signalled while it waits.
        self._awaiting: str | None = None
        self._arrived: list[ReceivedEvent] = []
        # The ids of the events earlier waits received (a loop's next wait takes others),
        # and those the current wait never takes.
        self._consumed: list[str] = []
        self._skipped: set[str | None] = set()

    @workflow.signal(name=CUSTOMER_CHANGED)
    def customer_changed(self) -> None:
        """The customer's profile changed: a waiting condition is checked again at once."""
        self._changed = True

    @workflow.signal(name=EXIT_JOURNEY)
    def exit_journey(self, reason: str) -> None:
        """One of the journey's exit events happened: the step in flight completes, a wait
        is cut short, and the execution ends (completed, with this reason)."""
        if self._exit is None:
            self._exit = _clipped(reason)

    @workflow.signal(name=EVENT_RECEIVED)
    def event_received(self, received: ReceivedEvent) -> None:
        """The customer's event a wait_for_event may be waiting for (the wait decides whether
        it counts: received since it began). Never the trigger or an event an earlier wait
        took, and each event once: repeats sent again can't crowd out a new one."""
        if received.event.name != self._awaiting or len(self._arrived) >= MAX_ARRIVED:
            return
        seen = {r.event.id for r in self._arrived}
        if received.event.id not in seen and received.event.id not in self._skipped:
            self._arrived.append(received)

    @workflow.query(name="progress")
    def progress(self) -> Progress:
        return Progress(
            current_step=self._state,
            steps=self._steps,
            steps_total=self._steps_total,
            exit_reason=self._exit if self._exited_in else None,
        )

    @workflow.run
    async def run(self, request: ExecutionInput) -> ExecutionResult:
        if not request.release_entry:
            return await self._walk(request)
        # An `after_exit` journey lets the customer in again once this execution has ended,
        # however it ends (but not when it continues as new).
        try:
            result = await self._walk(request)
        except (ApplicationError, ActivityError, asyncio.CancelledError):
            await self._release_entry(request)
            raise
        await self._release_entry(request)
        return result

    async def _walk(self, request: ExecutionInput) -> ExecutionResult:
        if request.machine_config is None:
            return ExecutionResult(final_state=None, steps_total=0)
        try:
            # Read, not re-validated: a snapshot that passed older rules runs to its end.
            config = read_machine_config(request.machine_config)
        except ValueError as error:
            # Non-retryable: a task failure would be retried for as long as the execution lives.
            raise ApplicationError(
                _clipped(f"the journey's machine_config can't be run: {error}"),
                type="UnreadableMachineConfig",
                non_retryable=True,
            ) from None
        carry = request.carry
        self._event = (carry.event if carry else None) or request.event
        self._consumed = list(carry.consumed) if carry else []
        state = carry.state if carry else config.initial
        visits = dict(carry.visits) if carry else {}
        if carry:
            self._steps, self._steps_total = list(carry.steps), carry.steps_total
        resume = carry.resume_step if carry else False
        if carry is None:
            _count("journeys_executions_started", "Journey executions started.")

        while not config.states[state].final:
            if self._exit is not None:
                # Signalled before the first step, or as a continue-as-new began.
                return self._exited(state)
            if not resume:
                visits[state] = visits.get(state, 0) + 1
            self._enter(config, state, visits[state], resumed=resume)
            try:
                outcome, detail = await self._run_step(request, config, state, visits, resume)
            except ActivityError as error:
                if is_cancelled_exception(error):
                    raise  # the execution was cancelled: it ends cancelled, not failed
                raise self._failed(state, error) from error
            resume = False
            if self._exit is not None:
                self._leave(None, detail)
                return self._exited(state)
            event = event_after(config, state, outcome)
            self._leave(event, detail)
            state = config.states[state].on[event]
            if history.is_long(request.history_limit):
                self._continue(request, state, visits, resume_step=False)

        self._enter(config, state, visits.get(state, 0) + 1, resumed=False)
        self._leave(None, None)
        _count("journeys_executions_completed", "Journey executions that reached a final state.")
        return ExecutionResult(final_state=state, steps_total=self._steps_total)

    async def _run_step(
        self,
        request: ExecutionInput,
        config: MachineConfig,
        state: str,
        visits: dict[str, int],
        resumed: bool,
    ) -> tuple[Outcome, str | None]:
        """Run one step; (outcome, detail): the outcome is a condition's truth or a split's
        branch, else None."""
        step = config.states[state].step
        key = f"{workflow.info().workflow_id}:{state}:{visits[state]}"
        if isinstance(step, SendStep):
            assert step.template_id is not None
            message = SendInput(
                place_id=request.place_id,
                customer_id=request.customer_id,
                channel=step.channel,
                template_id=step.template_id,
                idempotency_key=key,
                journey=request.journey,
                execution_id=workflow.info().workflow_id,
                state=state,
                event=self._event,
                quiet_hours_at=workflow.now(),
            )
            sent = await self._send(request, state, step, message)
            held = ""
            if sent.held_until is not None:
                until = sent.held_until
                ends = _stamp(until)
                self._steps[-1].detail = f"held for quiet hours until {ends}"
                workflow.set_current_details(
                    f"**Step:** {state} ({step.type}): held for quiet hours until {ends}"
                )
                held = f" after quiet hours until {ends}"
                if not await self._pause(
                    until - workflow.now(), f"{state}: quiet hours until {ends}"
                ):
                    return None, f"not sent: held for quiet hours until {ends}"
                # Once only: the window is over, whatever its settings have become.
                message = message.model_copy(update={"quiet_hours_at": None})
                sent = await self._send(request, state, step, message)
            reason = f": {sent.reason}" if sent.reason else ""
            return None, f"message {sent.message_id} {sent.status}{reason}{held}"
        if isinstance(step, CreateCampaignStep):
            assert step.campaign_id is not None
            clone = await _read(
                request,
                CLONE_CAMPAIGN,
                CloneInput(
                    place_id=request.place_id,
                    campaign_id=step.campaign_id,
                    customer_id=request.customer_id,
                    idempotency_key=key,
                    journey_id=request.journey.id,
                    execution_id=workflow.info().workflow_id,
                ),
                CloneResult,
                f"{state}: clone campaign {step.campaign_id}",
            )
            if clone.campaign_id is None:
                return None, f"skipped: {clone.reason}"
            return None, f"campaign {clone.campaign_id} created"
        if isinstance(step, WaitForDurationStep):
            now = workflow.now()
            until = wait_until(now, step)
            # Only the step's record (what queries answer) changes, not the commands.
            ends = _stamp(until)
            self._steps[-1].detail = f"waiting until {ends}"
            if until > now and not await self._pause(
                until - now, f"{state}: until {until.isoformat()}"
            ):
                return None, f"cut short at {_stamp(workflow.now())}, waiting until {ends}"
            return None, f"waited until {ends}"
        if isinstance(step, WaitUntilStep):
            now = workflow.now()
            local = await _read(
                request,
                NEXT_LOCAL_TIME,
                LocalTimeInput(
                    place_id=request.place_id,
                    customer_id=request.customer_id,
                    time=step.time,
                    weekdays=list(step.weekdays),
                    timezone=step.timezone,
                    after=now,
                ),
                LocalTime,
                f"{state}: next {step.time} local",
            )
            ends = _stamp(local.at)
            what = f"{step.time} {local.zone}"
            self._steps[-1].detail = f"waiting until {ends} ({what})"
            if not await self._pause(local.at - now, f"{state}: until {ends} ({what})"):
                return None, f"cut short at {_stamp(workflow.now())}, waiting until {ends}"
            return None, f"waited until {ends} ({what})"
        if isinstance(step, ConditionStep):
            read = await _read(
                request,
                READ_CUSTOMER_ATTRIBUTE,
                AttributeInput(
                    place_id=request.place_id,
                    customer_id=request.customer_id,
                    attribute=step.attribute,
                    operator=step.operator,
                    value=step.value,
                ),
                AttributeValue,
                f"{state}: read {step.attribute}",
            )
            # Histories from before the activity compared have only the value.
            outcome = (
                read.outcome
                if read.outcome is not None
                else compare(read.found, read.value, step.operator, step.value)
            )
            value = _clipped(repr(step.value))
            return outcome, f"{step.attribute} {step.operator} {value}: {outcome}"
        if isinstance(step, WaitForConditionStep):
            return None, await self._wait_for_segments(request, state, step, visits, resumed)
        if isinstance(step, WaitForEventStep):
            return await self._wait_for_event(request, state, step, key)
        if isinstance(step, WebhookStep):
            called = await workflow.execute_activity(
                CALL_WEBHOOK,
                WebhookInput(
                    place_id=request.place_id,
                    customer_id=request.customer_id,
                    idempotency_key=key,
                    url=step.url,
                    method=step.method,
                    headers=step.headers,
                    body=step.body,
                    journey=request.journey,
                    execution_id=workflow.info().workflow_id,
                    state=state,
                    event=self._event,
                ),
                result_type=WebhookResult,
                # Past the call's own bound (JOURNEYS_HTTP_TIMEOUT_SECONDS, at most 120 s).
                start_to_close_timeout=SEND_TIMEOUT,
                schedule_to_close_timeout=_budget(request),
                retry_policy=SEND_RETRY,
                summary=f"{state}: {step.method} {step.url}",
            )
            # The answer's first KB is kept (a detail is otherwise clipped shorter).
            return called.delivered, _clipped(called.detail, WEBHOOK_DETAIL_LIMIT)
        if isinstance(step, UpdateCustomerStep):
            updated = await _read(
                request,
                UPDATE_CUSTOMER,
                UpdateInput(
                    place_id=request.place_id,
                    customer_id=request.customer_id,
                    idempotency_key=key,
                    assign=step.assign,
                    unset=list(step.unset),
                    journey=request.journey,
                    execution_id=workflow.info().workflow_id,
                    state=state,
                    event=self._event,
                ),
                UpdateResult,
                f"{state}: update the customer",
            )
            return None, _clipped(updated.detail)
        if isinstance(step, SplitStep):
            branch, point = split_branch(step, workflow.info().workflow_id, state)
            # The stats count each branch's executions by this token (no command otherwise:
            # a split reads nothing).
            workflow.upsert_search_attributes(
                [JOURNEY_PATH.value_set(path_branched(_path(), state, branch))]
            )
            total = sum(weight for _, weight in step.branches)
            return branch, f"branch {branch} (point {point} of {total})"
        raise AssertionError(f"unknown step {step!r}")

    async def _wait_for_event(
        self, request: ExecutionInput, state: str, step: WaitForEventStep, key: str
    ) -> tuple[bool, str]:
        """Until the customer's next `step.event` (RECEIVED: later templates see it as
        `event`) or the duration's end (TIMEOUT). Registered as waiting, so the event's
        request signals the execution: no polling."""
        now = workflow.now()
        until = wait_until(now, step)
        ends = _stamp(until)
        self._steps[-1].detail = f"waiting for {step.event} until {ends}"
        self._awaiting, self._arrived = step.event, []
        self._skipped = set(self._not_awaited(request))
        try:
            wait: EventWait = await _read(
                request,
                AWAIT_EVENT,
                EventWaitInput(
                    place_id=request.place_id,
                    customer_id=request.customer_id,
                    journey_id=request.journey.id,
                    state=state,
                    visit=key,
                    event=step.event,
                    entered=now,
                    seconds=max(0, int((until - now).total_seconds())),
                    other_than=self._not_awaited(request),
                ),
                EventWait,
                f"{state}: wait for {step.event}",
            )

            def counted() -> ReceivedEvent | None:
                if wait.received is not None:
                    return wait.received
                return next((r for r in self._arrived if r.received >= wait.since), None)

            # The timer runs to the step's end, however long the registration took.
            left = until - workflow.now()
            if counted() is None and self._exit is None and left > timedelta(0):
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        lambda: counted() is not None or self._exit is not None,
                        timeout=left,
                        timeout_summary=f"{state}: {step.event} until {ends}",
                    )
        finally:
            self._awaiting = None
            # Whichever way the wait ends (cancelled too), it leaves the registry.
            await self._forget_waiting()
        received = counted()
        if received is not None:
            self._event = received.event
            if received.event.id is not None:
                # A loop back to a wait for the same event takes the next one, not this.
                self._consumed = [*self._consumed, received.event.id][-MAX_CONSUMED:]
            return True, f"received {step.event} (event {received.event.id})"
        if self._exit is not None:
            return False, f"cut short at {_stamp(workflow.now())}, waiting for {step.event}"
        return False, f"no {step.event} by {ends}"

    def _not_awaited(self, request: ExecutionInput) -> list[str]:
        """The events a wait never takes: the trigger, and those earlier waits received."""
        return [i for i in (request.event.id, *self._consumed) if i is not None]

    async def _wait_for_segments(
        self,
        request: ExecutionInput,
        state: str,
        step: WaitForConditionStep,
        visits: dict[str, int],
        resumed: bool,
    ) -> str:
        # Waits used to check every poll interval by themselves (an activity and a timer
        # each time). The check now registers the execution as waiting, and it is signalled
        # when its condition may hold (`orchestration.waking`): between signals it only
        # keeps a long safety timer. Which one a check result says: one recorded before the
        # registry (or by a worker from before it) has `registered` False, and polls.
        # A loop may pass through this wait again while the customer still matches;
        # pausing one interval first keeps such a loop from repeating without pause.
        pause = timedelta(seconds=request.poll_seconds)
        if (
            visits[state] > 1
            and not resumed
            and not await self._pause(pause, f"{state}: pause before checking again")
        ):
            return "cut short before checking again"
        try:
            while True:
                self._changed = False
                check = await _read(
                    request,
                    CUSTOMER_IN_SEGMENTS,
                    SegmentCheckInput(
                        place_id=request.place_id,
                        customer_id=request.customer_id,
                        include=list(step.include),
                        exclude=list(step.exclude),
                        journey_id=request.journey.id,
                        state=state,
                    ),
                    SegmentCheckResult,
                    f"{state}: check segments",
                )
                if check.matched:
                    return "customer matched the segments"
                every = request.safety_seconds if check.registered else request.poll_seconds
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        lambda: self._changed or self._exit is not None,
                        timeout=timedelta(seconds=every),
                        timeout_summary=f"{state}: check again in {every} s",
                    )
                if self._exit is not None:
                    await self._forget_waiting()
                    return "cut short while waiting for the segments"
                if history.is_long(request.history_limit):
                    # Weeks of polling: go on waiting in a fresh run, at the same visit.
                    self._continue(request, state, visits, resume_step=True)
        except (asyncio.CancelledError, ActivityError):
            # A new command: a history that ended so before the registry replays without it.
            if workflow.patched(WAITING_PATCH):
                await self._forget_waiting()
            raise

    async def _send(
        self, request: ExecutionInput, state: str, step: SendStep, message: SendInput
    ) -> SendResult:
        sent: SendResult = await workflow.execute_activity(
            SEND_MESSAGE,
            message,
            result_type=SendResult,
            start_to_close_timeout=SEND_TIMEOUT,
            schedule_to_close_timeout=_budget(request),
            heartbeat_timeout=SEND_HEARTBEAT,
            retry_policy=SEND_RETRY,
            summary=f"{state}: {step.type} template {step.template_id}",
        )
        return sent

    async def _pause(self, duration: timedelta, summary: str) -> bool:
        """A durable timer an exit event cuts short: whether it ran its course. (The same
        timer command `workflow.sleep` issues, so histories from before replay alike.)"""
        try:
            await workflow.wait_condition(
                lambda: self._exit is not None, timeout=duration, timeout_summary=summary
            )
        except TimeoutError:
            return True
        return False

    def _exited(self, state: str) -> ExecutionResult:
        """End at an exit event: completed, at `state`, counted in the stats as exited there."""
        reason = self._exit
        self._exited_in = state
        workflow.upsert_search_attributes([JOURNEY_PATH.value_set(path_exited(_path(), state))])
        workflow.set_current_details(f"**Exited** at {state}: {reason}")
        _count("journeys_executions_exited", "Journey executions ended by an exit event.")
        return ExecutionResult(
            final_state=None, steps_total=self._steps_total, exited_at=state, exit_reason=reason
        )

    async def _release_entry(self, request: ExecutionInput) -> None:
        """Let the customer into the journey again (`after_exit`). Retried for the step
        budget: until it is done the customer is kept out."""
        with contextlib.suppress(ActivityError):
            await workflow.execute_activity(
                RELEASE_ENTRY,
                EntryRelease(
                    journey_id=request.journey.id,
                    customer_id=request.customer_id,
                    execution_id=workflow.info().workflow_id,
                ),
                start_to_close_timeout=READ_TIMEOUT,
                schedule_to_close_timeout=_budget(request),
                retry_policy=READ_RETRY,
                summary="let the customer into the journey again",
            )

    async def _forget_waiting(self) -> None:
        """Take the execution out of the registry of waiting executions as it ends (cancelled,
        or its check failed for good). Best effort: the re-check forgets what this misses."""
        with contextlib.suppress(ActivityError):
            await workflow.execute_activity(
                FORGET_WAITING,
                workflow.info().workflow_id,
                start_to_close_timeout=READ_TIMEOUT,
                # Never holds up the end: past this the re-check forgets the entry instead.
                schedule_to_close_timeout=FORGET_TIMEOUT,
                summary="leave the registry of waiting executions",
            )

    def _enter(self, config: MachineConfig, state: str, visit: int, *, resumed: bool) -> None:
        self._state = state
        step = config.states[state].step
        kind = step.type if step else "final"
        if not resumed:
            self._steps_total += 1
            self._steps.append(
                StepRecord(state=state, type=kind, visit=visit, entered_at=workflow.now())
            )
            del self._steps[:-KEPT_STEPS]
        # Only what changed: an execution starts with the attributes of its first state
        # (see `launcher.start`), so entering it, or resuming after continue-as-new, costs
        # no upsert (each one is a history event and a visibility write).
        known = workflow.info().typed_search_attributes
        path = path_after(_path(), state)
        if known.get(JOURNEY_STEP) != state or known.get(JOURNEY_PATH) != path:
            workflow.upsert_search_attributes(
                [JOURNEY_STEP.value_set(state), JOURNEY_PATH.value_set(path)]
            )
        workflow.set_current_details(f"**Step:** {state} ({kind}), visit {visit}")

    def _leave(self, event: str | None, detail: str | None) -> None:
        record = self._steps[-1]
        record.left_at = workflow.now()
        record.event = event
        record.detail = detail

    def _failed(self, state: str, error: ActivityError) -> ApplicationError:
        """The step failed for good: say why on the step and in the execution's failure."""
        cause = error.cause
        reason = getattr(cause, "message", None) or str(cause or error)
        if isinstance(cause, ApplicationError) and cause.type:
            reason = f"{cause.type}: {reason}"
        elif cause is not None and not isinstance(cause, ApplicationError):
            reason = f"{type(cause).__name__}: {reason}"
        if error.retry_state in (RetryState.TIMEOUT, RetryState.MAXIMUM_ATTEMPTS_REACHED):
            reason = f"still failing when its retry budget ran out: {reason}"
        reason = _clipped(reason, 2 * DETAIL_LIMIT)
        self._leave(None, f"failed: {reason}")
        kind = self._steps[-1].type
        workflow.metric_meter().create_counter(
            "journeys_steps_failed", "Journey steps that failed for good, by step type."
        ).add(1, {"type": kind})
        return ApplicationError(f"step {state} ({kind}) failed: {reason}", non_retryable=True)

    def _continue(
        self, request: ExecutionInput, state: str, visits: dict[str, int], *, resume_step: bool
    ) -> None:
        carry = Carry(
            state=state,
            visits=visits,
            steps=self._steps,
            steps_total=self._steps_total,
            resume_step=resume_step,
            event=self._event if self._event != request.event else None,
            consumed=self._consumed,
        )
        workflow.continue_as_new(request.model_copy(update={"carry": carry}), memo=workflow.memo())


def _path() -> list[str]:
    return list(workflow.info().typed_search_attributes.get(JOURNEY_PATH) or [])


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _clipped(text: str, limit: int = DETAIL_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


async def _read(
    request: ExecutionInput, activity: str, argument: BaseModel, result_type: type[T], summary: str
) -> T:
    """An activity of the database's (a read, or a write done once per key): retried with
    backoff for the step's retry budget."""
    result: T = await workflow.execute_activity(
        activity,
        argument,
        result_type=result_type,
        start_to_close_timeout=READ_TIMEOUT,
        schedule_to_close_timeout=_budget(request),
        retry_policy=READ_RETRY,
        summary=summary,
    )
    return result


def _budget(request: ExecutionInput) -> timedelta:
    return timedelta(seconds=request.retry_budget_seconds)


def _count(name: str, description: str) -> None:
    # The worker's metrics endpoint shows these; a replay records nothing, so a count is
    # made once however often the history is replayed (and it is no command: no patch).
    workflow.metric_meter().create_counter(name, description).add(1)
