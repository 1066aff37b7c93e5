"""The interpreter (`JourneyExecution`) on its own, in seconds: a worker runs the workflow
with stub activities, registered under the product's activity names, that record what the
workflow asks for and answer what each test says. No API, database or provider is involved
(the e2e tests cover those); Temporal is the time-skipping dev server, so days pass at once.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import TimeSkipper, TimeSkippingConfig, WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from tests.helpers.journeys import ONE_EMAIL, WAIT_FOR_GOLD
from tests.spec_examples import VIP_BRANCH_CONFIG, WELCOME_CONFIG, WINBACK_CONFIG
from tests.workflows.replay import replay
from workflows.contracts import (
    AttributeInput,
    AttributeValue,
    CloneInput,
    CloneResult,
    EventInfo,
    ExecutionInput,
    ExecutionResult,
    JourneyInfo,
    Progress,
    SegmentCheckInput,
    SegmentCheckResult,
    SendInput,
    SendResult,
)
from workflows.journey import JourneyExecution
from workflows.visibility import (
    CLONE_CAMPAIGN,
    CUSTOMER_CHANGED,
    CUSTOMER_IN_SEGMENTS,
    FORGET_WAITING,
    JOURNEY_PATH,
    JOURNEY_STEP,
    READ_CUSTOMER_ATTRIBUTE,
    SEND_MESSAGE,
    path_after,
)

JOURNEY = JourneyInfo(id=101, name="Unit", version=2)
EVENT = EventInfo(name="order.created", id="o-1", data={"total": 12})


@dataclass
class Stubs:
    """The activities a journey calls, as stubs: each records its input and answers with its
    `*_answer` (a function of the input; raise from it to fail the activity)."""

    sends: list[SendInput] = field(default_factory=list)
    reads: list[AttributeInput] = field(default_factory=list)
    checks: list[SegmentCheckInput] = field(default_factory=list)
    clones: list[CloneInput] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)
    registers: bool = True  # False: the check of a worker from before the registry
    send_answer: Callable[[SendInput], SendResult] = lambda i: SendResult(
        message_id=1, status="sent"
    )
    read_answer: Callable[[AttributeInput], AttributeValue] = lambda i: AttributeValue(found=False)
    check_answer: Callable[[SegmentCheckInput], bool] = lambda i: True
    clone_answer: Callable[[CloneInput], CloneResult] = lambda i: CloneResult(campaign_id=1)

    def activities(self) -> list[Callable[..., Any]]:
        @activity.defn(name=SEND_MESSAGE)
        async def send(request: SendInput) -> SendResult:
            self.sends.append(request)
            return self.send_answer(request)

        @activity.defn(name=READ_CUSTOMER_ATTRIBUTE)
        async def read(request: AttributeInput) -> AttributeValue:
            self.reads.append(request)
            return self.read_answer(request)

        @activity.defn(name=CUSTOMER_IN_SEGMENTS)
        async def check(request: SegmentCheckInput) -> SegmentCheckResult:
            self.checks.append(request)
            matched = self.check_answer(request)
            return SegmentCheckResult(matched=matched, registered=self.registers and not matched)

        @activity.defn(name=CLONE_CAMPAIGN)
        async def clone(request: CloneInput) -> CloneResult:
            self.clones.append(request)
            return self.clone_answer(request)

        @activity.defn(name=FORGET_WAITING)
        async def forget(execution_id: str) -> None:
            self.forgotten.append(execution_id)

        return [send, read, check, clone, forget]


@dataclass
class Interpreter:
    client: Client  # time-skipping: timers fire as soon as nothing else is pending
    wall_clock: Client  # no skipping: timers take their time
    task_queue: str
    stubs: Stubs

    async def start(
        self, config: dict[str, Any] | None, *, skip: bool = True, **fields: Any
    ) -> WorkflowHandle[JourneyExecution, ExecutionResult]:
        request = ExecutionInput(
            place_id=42,
            journey=JOURNEY,
            machine_config=config,
            customer_id=7,
            event=EVENT,
            **fields,
        )
        return await (self.client if skip else self.wall_clock).start_workflow(
            JourneyExecution.run,
            request,
            id=f"unit-{uuid.uuid4().hex[:12]}",
            task_queue=self.task_queue,
        )

    async def run(self, config: dict[str, Any] | None, **fields: Any) -> ExecutionResult:
        return await (await self.start(config, **fields)).result()


@pytest.fixture
async def interpreter(time_skipping: WorkflowEnvironment) -> AsyncIterator[Interpreter]:
    """A worker for `JourneyExecution` and the stubs only, on a task queue of its own."""
    base = await time_skipping.connect_client(
        namespace="sqlite", data_converter=pydantic_data_converter
    )
    client = TimeSkipper(base).client
    wall_clock = TimeSkipper(base, config=TimeSkippingConfig(enabled=False)).client
    stubs = Stubs()
    task_queue = f"unit-{uuid.uuid4().hex[:8]}"
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[JourneyExecution],
        activities=stubs.activities(),
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_all_modules()
        ),
    )
    async with worker:
        yield Interpreter(client, wall_clock, task_queue, stubs)


async def progress(handle: WorkflowHandle[Any, Any]) -> Progress:
    return await handle.query("progress", result_type=Progress)


def walked(steps: Progress) -> list[tuple[str, str | None, str | None]]:
    return [(s.state, s.event, s.detail) for s in steps.steps]


async def runs_of(client: Client, handle: WorkflowHandle[Any, Any]) -> list[int]:
    """The history length of each run of the execution, first to last (following
    continue-as-new from the first run)."""
    lengths = []
    run_id = handle.first_execution_run_id or handle.result_run_id
    while run_id:
        history = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        lengths.append(len(history.events))
        last = history.events[-1]
        if last.HasField("workflow_execution_continued_as_new_event_attributes"):
            attributes = last.workflow_execution_continued_as_new_event_attributes
            run_id = attributes.new_execution_run_id
        else:
            run_id = None
    return lengths


async def test_a_send_asks_once_with_a_key_per_visit_and_the_step_says_what_came_of_it(
    interpreter,
):
    interpreter.stubs.send_answer = lambda i: SendResult(message_id=12, status="sent")
    handle = await interpreter.start(WELCOME_CONFIG)
    assert await handle.result() == ExecutionResult(final_state="done", steps_total=2)
    (sent,) = interpreter.stubs.sends
    assert sent == SendInput(
        place_id=42,
        customer_id=7,
        channel="email",
        template_id=5,
        idempotency_key=f"{handle.id}:send_welcome:1",
        journey=JOURNEY,
        execution_id=handle.id,
        state="send_welcome",
        event=EVENT,
        # The workflow's clock, by which a marketing send may be held for quiet hours.
        quiet_hours_at=sent.quiet_hours_at,
    )
    assert sent.quiet_hours_at is not None
    steps = await progress(handle)
    assert walked(steps) == [("send_welcome", "DONE", "message 12 sent"), ("done", None, None)]
    assert [(s.type, s.visit) for s in steps.steps] == [("send_email", 1), ("final", 1)]
    assert (steps.current_step, steps.steps_total) == ("done", 2)
    await replay(await handle.fetch_history())


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        (SendResult(message_id=3, status="skipped", reason="no email address"), "skipped"),
        (SendResult(message_id=4, status="failed", reason="template: bad tag"), "failed"),
    ],
)
async def test_a_message_skipped_or_failed_still_ends_its_step(interpreter, answer, detail):
    interpreter.stubs.send_answer = lambda i: answer
    handle = await interpreter.start(ONE_EMAIL)
    assert (await handle.result()).final_state == "done"
    (step, _) = (await progress(handle)).steps
    assert (step.event, step.detail) == (
        "DONE",
        f"message {answer.message_id} {detail}: {answer.reason}",
    )


@pytest.mark.parametrize(("outcome", "template"), [(True, 20), (False, 21)])
async def test_a_condition_takes_the_branch_the_activity_decided(interpreter, outcome, template):
    interpreter.stubs.read_answer = lambda i: AttributeValue(found=True, outcome=outcome)
    handle = await interpreter.start(VIP_BRANCH_CONFIG)
    assert (await handle.result()).final_state == "done"
    (read,) = interpreter.stubs.reads
    assert (read.attribute, read.operator, read.value) == ("account.classification", "eq", "vip")
    assert (read.place_id, read.customer_id) == (42, 7)
    assert [s.template_id for s in interpreter.stubs.sends] == [template]
    branch = "send_vip_email" if outcome else "send_standard_email"
    assert walked(await progress(handle)) == [
        (
            "check_vip",
            "TRUE" if outcome else "FALSE",
            f"account.classification eq 'vip': {outcome}",
        ),
        (branch, "DONE", "message 1 sent"),
        ("done", None, None),
    ]


@pytest.mark.parametrize(("value", "event"), [("vip", "TRUE"), ("new", "FALSE")])
async def test_a_condition_answered_with_only_the_value_is_compared_in_the_workflow(
    interpreter, value, event
):
    """Activities from before the comparison moved to them answered with the value only."""
    interpreter.stubs.read_answer = lambda i: AttributeValue(found=True, value=value)
    handle = await interpreter.start(VIP_BRANCH_CONFIG)
    assert (await handle.result()).final_state == "done"
    assert (await progress(handle)).steps[0].event == event


async def test_waits_of_days_pass_and_the_steps_keep_their_times(interpreter):
    handle = await interpreter.start(WINBACK_CONFIG)
    async with asyncio.timeout(30):  # five days of virtual time, seconds of real time
        assert (await handle.result()).final_state == "done"
    assert [(s.channel, s.template_id) for s in interpreter.stubs.sends] == [
        ("email", 30),
        ("sms", 31),
    ]
    steps = {s.state: s for s in (await progress(handle)).steps}
    assert steps["send_email"].entered_at - steps["wait_2_days"].entered_at >= timedelta(days=2)
    assert steps["send_sms"].entered_at - steps["wait_3_days"].entered_at >= timedelta(days=3)
    assert [steps[s].event for s in ("wait_2_days", "wait_3_days")] == ["ELAPSED", "ELAPSED"]
    attributes = (await handle.describe()).typed_search_attributes
    assert attributes.get(JOURNEY_STEP) == "done"
    path: list[str] = []
    for state in ("wait_2_days", "send_email", "wait_3_days", "send_sms", "done"):
        path = path_after(path, state)
    assert attributes.get(JOURNEY_PATH) == path
    await replay(await handle.fetch_history())


async def test_a_check_that_registered_nothing_polls_each_interval(interpreter):
    """A worker from before the registry checked (a rolling deploy): nothing will signal,
    so the execution checks again every poll interval, not once a week."""
    interpreter.stubs.registers = False
    interpreter.stubs.check_answer = lambda i: len(interpreter.stubs.checks) >= 3
    handle = await interpreter.start(WAIT_FOR_GOLD, poll_seconds=60, safety_seconds=10**6)
    assert (await handle.result()).final_state == "done"
    steps = (await progress(handle)).steps
    assert timedelta(seconds=2 * 60) <= steps[1].entered_at - steps[0].entered_at
    assert steps[1].entered_at - steps[0].entered_at < timedelta(seconds=10**6)


async def test_unsignalled_a_wait_for_condition_checks_again_each_safety_interval(
    interpreter,
):
    """Nothing wakes it (no signal): it checks by itself, once per safety interval."""
    interpreter.stubs.check_answer = lambda i: len(interpreter.stubs.checks) >= 3
    handle = await interpreter.start(WAIT_FOR_GOLD, poll_seconds=5, safety_seconds=600)
    assert (await handle.result()).final_state == "done"
    assert [(c.include, c.exclude, c.state) for c in interpreter.stubs.checks] == [
        ([12], [3], "wait_gold")
    ] * 3
    steps = (await progress(handle)).steps
    assert steps[1].entered_at - steps[0].entered_at >= timedelta(seconds=2 * 600)
    assert walked(await progress(handle))[0] == (
        "wait_gold",
        "DONE",
        "customer matched the segments",
    )
    assert len(interpreter.stubs.sends) == 1


async def test_customer_changed_makes_a_waiting_condition_check_again_at_once(interpreter):
    """Wall-clock time and a 300 s safety interval: only the signal can wake the wait."""
    member = asyncio.Event()
    interpreter.stubs.check_answer = lambda i: member.is_set()
    handle = await interpreter.start(WAIT_FOR_GOLD, skip=False, safety_seconds=300)
    async with asyncio.timeout(20):
        while True:  # the first check: not a member yet
            if interpreter.stubs.checks:
                break
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    assert len(interpreter.stubs.checks) == 1
    assert interpreter.stubs.sends == []
    member.set()
    signalled = asyncio.get_running_loop().time()
    await handle.signal(CUSTOMER_CHANGED)
    assert (await handle.result()).final_state == "done"
    assert asyncio.get_running_loop().time() - signalled < 10
    assert len(interpreter.stubs.checks) == 2
    assert [s.template_id for s in interpreter.stubs.sends] == [21]


async def test_a_long_wait_continues_as_new_at_the_same_visit(interpreter):
    """Checking past the history limit goes on in fresh runs; the execution still reads as
    one wait, entered once, with its steps and its send key intact."""
    interpreter.stubs.check_answer = lambda i: len(interpreter.stubs.checks) >= 8
    handle = await interpreter.start(WAIT_FOR_GOLD, safety_seconds=300, history_limit=20)
    assert await handle.result() == ExecutionResult(final_state="done", steps_total=3)
    lengths = await runs_of(interpreter.client, handle)
    assert len(lengths) >= 3, lengths
    assert max(lengths) <= 20 + 15, lengths
    assert len(interpreter.stubs.checks) == 8
    steps = await progress(handle)
    assert [(s.state, s.visit) for s in steps.steps] == [("wait_gold", 1), ("mail", 1), ("done", 1)]
    (sent,) = interpreter.stubs.sends
    assert sent.idempotency_key == f"{handle.id}:mail:1"


# A loop: checked, mailed, a day's pause, checked again, until the customer is gold.
NUDGE_LOOP = {
    "initial": "check",
    "states": {
        "check": {
            "meta": {
                "type": "condition",
                "attribute": "account.tier",
                "operator": "eq",
                "value": "gold",
            },
            "on": {"TRUE": "done", "FALSE": "mail"},
        },
        "mail": {"meta": {"type": "send_email", "templateId": 21}, "on": {"DONE": "pause"}},
        "pause": {"meta": {"type": "wait_for_duration", "days": 1}, "on": {"ELAPSED": "check"}},
        "done": {"type": "final"},
    },
}


async def test_a_loop_continues_as_new_between_steps_and_counts_visits_on(interpreter):
    stubs = interpreter.stubs
    stubs.read_answer = lambda i: AttributeValue(found=True, outcome=len(stubs.reads) > 4)
    handle = await interpreter.start(NUDGE_LOOP, history_limit=20)
    assert await handle.result() == ExecutionResult(final_state="done", steps_total=5 + 4 + 4 + 1)
    assert len(await runs_of(interpreter.client, handle)) >= 3
    # One send per visit, each with a key of its own: none repeated, none skipped.
    assert [s.idempotency_key for s in stubs.sends] == [
        f"{handle.id}:mail:{visit}" for visit in range(1, 5)
    ]
    steps = (await progress(handle)).steps
    assert [s.visit for s in steps if s.state == "check"] == list(range(1, 6))
    assert [s.event for s in steps if s.state == "check"] == ["FALSE"] * 4 + ["TRUE"]


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        (CloneResult(campaign_id=77), "campaign 77 created"),
        (
            CloneResult(campaign_id=None, reason="campaign 55 was deleted"),
            "skipped: campaign 55 was deleted",
        ),
    ],
)
async def test_a_create_campaign_step_clones_once_per_visit(interpreter, answer, detail):
    interpreter.stubs.clone_answer = lambda i: answer
    config = {
        "initial": "camp",
        "states": {
            "camp": {"meta": {"type": "create_campaign", "campaignId": 55}, "on": {"DONE": "done"}},
            "done": {"type": "final"},
        },
    }
    handle = await interpreter.start(config)
    assert (await handle.result()).final_state == "done"
    (clone,) = interpreter.stubs.clones
    assert clone == CloneInput(
        place_id=42,
        campaign_id=55,
        customer_id=7,
        idempotency_key=f"{handle.id}:camp:1",
        journey_id=JOURNEY.id,
        execution_id=handle.id,
    )
    assert walked(await progress(handle))[0] == ("camp", "DONE", detail)


async def test_a_step_that_fails_for_good_fails_the_execution_saying_why(interpreter):
    def refuse(request: SendInput) -> SendResult:
        raise ApplicationError("template 5 is gone", type="TemplateGone", non_retryable=True)

    interpreter.stubs.send_answer = refuse
    handle = await interpreter.start(ONE_EMAIL)
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert (
        str(failed.value.cause) == "step send (send_email) failed: TemplateGone: template 5 is gone"
    )
    (step,) = (await progress(handle)).steps
    assert (step.state, step.event, step.detail) == (
        "send",
        None,
        "failed: TemplateGone: template 5 is gone",
    )
    assert len(interpreter.stubs.sends) == 1  # not retried


async def test_a_cancelled_wait_ends_cancelled_not_failed(interpreter):
    handle = await interpreter.start(WINBACK_CONFIG, skip=False)
    async with asyncio.timeout(20):
        while True:
            if (await progress(handle)).current_step == "wait_2_days":
                break
            await asyncio.sleep(0.05)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert isinstance(failed.value.cause, CancelledError)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    assert interpreter.stubs.sends == []


async def test_a_wait_for_condition_cancelled_leaves_the_registry_and_ends_cancelled(
    interpreter,
):
    interpreter.stubs.check_answer = lambda i: False
    handle = await interpreter.start(WAIT_FOR_GOLD, skip=False)
    async with asyncio.timeout(20):
        while True:
            if interpreter.stubs.checks:
                break
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    assert interpreter.stubs.forgotten == []
    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert isinstance(failed.value.cause, CancelledError)
    assert interpreter.stubs.forgotten == [handle.id]


async def test_no_machine_config_ends_at_once_and_an_unreadable_one_fails(interpreter):
    assert await interpreter.run(None) == ExecutionResult(final_state=None, steps_total=0)
    handle = await interpreter.start({"initial": "pause", "states": {"pause": {"meta": {}}}})
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    assert isinstance(failed.value.cause, ApplicationError)
    assert failed.value.cause.type == "UnreadableMachineConfig"
    assert "machine_config can't be run" in str(failed.value.cause)
    stubs = interpreter.stubs
    assert stubs.sends == stubs.reads == stubs.checks == stubs.clones == []
