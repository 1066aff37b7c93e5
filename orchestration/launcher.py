"""Starting journey executions on Temporal: ids, snapshot, search attributes, dedup.

Shared by the events API and the `/run` fan-out, so every execution starts the same way;
the other workflows (cleanups, the central re-check, test sends) start here too.
"""

import asyncio
import contextlib
import logging
import time
import uuid
from datetime import timedelta
from typing import Any, Literal

from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from journeys.settings import Settings
from orchestration.temporal_client import reachable
from store.entries import reentry
from store.tables import Journey, ManualRun
from workflows.cleanup import JourneyCleanup
from workflows.contracts import (
    CleanupInput,
    EventInfo,
    ExecutionInput,
    JourneyInfo,
    RecheckInput,
    RunInput,
    SendResult,
    SendTestInput,
)
from workflows.journey import JourneyExecution
from workflows.model import MANUAL
from workflows.recheck import WaitingRecheck
from workflows.run import RunFanOut
from workflows.template_test_send import TemplateTestSend
from workflows.visibility import (
    CUSTOMER_ID,
    JOURNEY_ID,
    JOURNEY_PATH,
    JOURNEY_STEP,
    PLACE_ID,
    TRIGGER_EVENT,
    path_after,
)

log = logging.getLogger(__name__)


def event_execution_id(journey_id: int, event_id: str) -> str:
    return f"journey-{journey_id}-event-{event_id}"


def run_execution_id(journey_id: int, run_id: str, customer_id: int) -> str:
    return f"journey-{journey_id}-run-{run_id}-{customer_id}"


def run_fan_out_id(journey_id: int, run_id: str) -> str:
    return f"journey-{journey_id}-run-{run_id}"


def execution_input(
    journey: Journey, customer_id: int, event: EventInfo, settings: Settings
) -> ExecutionInput:
    """The execution's snapshot of the journey: it runs this version to the end."""
    assert journey.id is not None
    return ExecutionInput(
        place_id=journey.place_id,
        journey=JourneyInfo(id=journey.id, name=journey.name, version=journey.version),
        machine_config=journey.machine_config,
        customer_id=customer_id,
        event=event,
        poll_seconds=settings.condition_poll_seconds,
        safety_seconds=settings.wait_safety_seconds,
        history_limit=settings.history_limit,
        retry_budget_seconds=settings.step_retry_budget_seconds,
        release_entry=reentry(journey.entry_rules) == "after_exit",
    )


def run_execution_input(run: RunInput, customer_id: int) -> ExecutionInput:
    """One customer's execution of a manual run: the journey as it was at the `/run` call."""
    return ExecutionInput(
        place_id=run.place_id,
        journey=run.journey,
        machine_config=run.machine_config,
        customer_id=customer_id,
        event=EventInfo(name=MANUAL),
        poll_seconds=run.poll_seconds,
        safety_seconds=run.safety_seconds,
        history_limit=run.history_limit,
        retry_budget_seconds=run.retry_budget_seconds,
        release_entry=run.reentry == "after_exit",
    )


async def start(
    client: Client,
    settings: Settings,
    execution_id: str,
    request: ExecutionInput,
    *,
    run_id: str | None = None,
) -> str:
    """Start the execution unless one with this id exists (running or finished): starting
    twice is a no-op, which is what makes at-least-once event sources exactly-once here."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(PLACE_ID, request.place_id),
        SearchAttributePair(JOURNEY_ID, request.journey.id),
        SearchAttributePair(CUSTOMER_ID, request.customer_id),
        SearchAttributePair(TRIGGER_EVENT, request.event.name),
    ]
    initial = (request.machine_config or {}).get("initial")
    if isinstance(initial, str):
        # The first state's attributes come with the start, so the workflow's first step
        # needs no upsert of its own.
        pairs.append(SearchAttributePair(JOURNEY_STEP, initial))
        pairs.append(SearchAttributePair(JOURNEY_PATH, path_after([], initial)))
    await _start_once(
        client,
        settings,
        JourneyExecution.run,
        request,
        execution_id,
        WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=TypedSearchAttributes(pairs),
        memo={
            "version": request.journey.version,
            "eventId": request.event.id,
            "runId": run_id,
            "startedAt": int(time.time()),
        },
        static_summary=(
            f"Journey {request.journey.id} \u201c{request.journey.name}\u201d "
            f"v{request.journey.version} for customer {request.customer_id}"
        ),
        static_details=(
            f"**Trigger:** {request.event.name} (event {request.event.id or '-'})\n\n"
            f"**Place:** {request.place_id}"
        ),
    )
    return execution_id


def run_input(settings: Settings, journey: Journey, run: ManualRun) -> RunInput:
    """A run's fan-out: the journey as it is now, at the `/run` call."""
    assert journey.id is not None
    return RunInput(
        run_id=run.id,
        place_id=journey.place_id,
        journey=JourneyInfo(id=journey.id, name=journey.name, version=journey.version),
        machine_config=journey.machine_config,
        poll_seconds=settings.condition_poll_seconds,
        safety_seconds=settings.wait_safety_seconds,
        history_limit=settings.history_limit,
        retry_budget_seconds=settings.step_retry_budget_seconds,
        reentry=reentry(journey.entry_rules),
    )


def run_summary(request: RunInput, targeted: int) -> str:
    journey = request.journey
    return (
        f"Run {request.run_id} of journey {journey.id} \u201c{journey.name}\u201d "
        f"v{journey.version}: {targeted} customers"
    )


async def start_run(client: Client, settings: Settings, request: RunInput, summary: str) -> None:
    """Start the durable fan-out of a recorded run (a second start of it is a no-op)."""
    attributes = TypedSearchAttributes(
        [
            SearchAttributePair(PLACE_ID, request.place_id),
            SearchAttributePair(JOURNEY_ID, request.journey.id),
            SearchAttributePair(TRIGGER_EVENT, MANUAL),
        ]
    )
    await _start_once(
        client,
        settings,
        RunFanOut.run,
        request,
        run_fan_out_id(request.journey.id, request.run_id),
        WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=attributes,
        static_summary=summary,
    )


def cleanup_id(journey_id: int, mode: Literal["cancel", "delete"]) -> str:
    """A journey has one delete; each stop that cancels is its own cleanup."""
    suffix = "delete" if mode == "delete" else f"stop-{uuid.uuid4().hex[:12]}"
    return f"journey-{journey_id}-{suffix}"


async def start_cleanup(
    client: Client, settings: Settings, workflow_id: str, request: CleanupInput
) -> None:
    """Durably end the journey's executions (a `JourneyCleanup` run): `cancel` the running
    ones, or `delete` them all. A cleanup started again joins the one under way, and one
    that finished is not run again (unless it failed)."""
    await _start_once(
        client,
        settings,
        JourneyCleanup.run,
        request,
        workflow_id,
        WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        static_summary=f"End the executions of journey {request.journey_id} ({request.mode})",
    )


def recheck_id(settings: Settings) -> str:
    """One central re-check per deployment (its task queue)."""
    return f"journeys-recheck-{settings.task_queue}"


async def start_recheck(client: Client, settings: Settings) -> None:
    """Start the central re-check of waiting executions unless it runs (`WaitingRecheck`)."""
    await _start_once(
        client,
        settings,
        WaitingRecheck.run,
        RecheckInput(interval_seconds=settings.condition_poll_seconds),
        recheck_id(settings),
        WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        static_summary="Re-check every waiting wait_for_condition, once per poll interval",
    )


# How often a worker makes sure the re-check runs (one RPC: it joins the one running).
RECHECK_LOOK_SECONDS = 60.0


async def keep_recheck_started(client: Client, settings: Settings, stop: asyncio.Event) -> None:
    """Until `stop`: start the central re-check if it isn't running (at the worker's start,
    and again should someone terminate it)."""
    while not stop.is_set():
        try:
            await start_recheck(client, settings)
        except Exception as error:
            # Temporal away, or refusing: the next look tries again.
            log.warning("could not start the re-check of waiting executions: %s", error)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RECHECK_LOOK_SECONDS)


def test_send_id(place_id: int, key: str) -> str:
    """A test send's workflow id, and its message's idempotency key: one per place and key."""
    return f"template-test-{place_id}-{key}"


# A test send no worker has taken by then is dropped rather than sent hours later, when
# whoever asked for it has long stopped waiting.
TEST_SEND_LIFETIME = timedelta(minutes=10)


async def send_test(
    client: Client, settings: Settings, request: SendTestInput, wait: float
) -> SendResult:
    """Send a test message (`TemplateTestSend`), once per idempotency key: a repeat joins the
    send under way or answers the outcome it had, and only one that failed (its provider
    still down after the retries) is tried again. Waits up to `wait` seconds for the outcome:
    longer is `Unavailable`, the send going on; a failure is `WorkflowFailureError`."""
    await _start_once(
        client,
        settings,
        TemplateTestSend.run,
        request,
        request.idempotency_key,
        WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        execution_timeout=TEST_SEND_LIFETIME,
        search_attributes=TypedSearchAttributes([SearchAttributePair(PLACE_ID, request.place_id)]),
        static_summary=(
            f"Test send of {request.channel} template {request.template_id}, "
            f"place {request.place_id}"
        ),
    )
    handle = client.get_workflow_handle_for(TemplateTestSend.run, request.idempotency_key)
    slow = (
        f"The test message was not sent within {wait:g} s (the provider or the worker is "
        "slow); it is still being sent. Repeat the request with the same idempotency_key "
        "for its outcome."
    )
    async with reachable(wait, slow):
        return await handle.result()


async def _start_once(
    client: Client,
    settings: Settings,
    run: Any,
    request: Any,
    workflow_id: str,
    reuse: WorkflowIDReusePolicy,
    **options: Any,
) -> None:
    """Start a workflow on the task queue, once: while one with the id runs, this joins it;
    once one finished, `reuse` says whether another may start (a refusal is not an error:
    the id stays taken, so nothing starts twice). Temporal away or slow: `Unavailable`."""
    try:
        async with reachable():
            await client.start_workflow(
                run,
                request,
                id=workflow_id,
                task_queue=settings.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=reuse,
                **options,
            )
    except WorkflowAlreadyStartedError:
        pass
