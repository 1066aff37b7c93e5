"""The Temporal worker: journey workflows and every activity they call."""

import asyncio
import logging
import signal
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.audience import Audience
from activities.campaigns import Campaigns
from activities.channels import Channel, build_channels, close_channels
from activities.definitions import Definitions
from activities.delivery import Delivery, SendTiming
from activities.entries import Entries
from activities.executions import Executions
from activities.profiles import Profiles
from activities.runs import RunPages
from activities.waiting import Rechecks
from activities.webhooks import Webhooks
from journeys import heap
from journeys.settings import Settings, get_settings
from orchestration import handoff, launcher, temporal_client
from store.db import create_engine, session_factory, write_gate
from workflows.cleanup import JourneyCleanup
from workflows.journey import JourneyExecution
from workflows.recheck import WaitingRecheck
from workflows.run import RunFanOut
from workflows.template_test_send import TemplateTestSend

log = logging.getLogger("journeys.worker")


def build_worker(
    client: Client, settings: Settings, engine: AsyncEngine, channels: dict[str, Channel]
) -> Worker:
    sessions = session_factory(engine)
    gate = write_gate(engine, settings.database_timeout_seconds)
    delivery = Delivery(sessions, channels, gate, SendTiming.of(settings), settings)
    audience = Audience(sessions, gate)
    campaigns = Campaigns(sessions)
    executions = Executions(client, sessions)
    rechecks = Rechecks(client, sessions, settings)
    definitions = Definitions(sessions)
    run_pages = RunPages(client, sessions, settings)
    journey_entries = Entries(sessions, gate)
    profiles = Profiles(client, sessions, gate)
    webhooks = Webhooks(sessions, settings)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[JourneyExecution, JourneyCleanup, RunFanOut, WaitingRecheck, TemplateTestSend],
        activities=[
            delivery.send_message,
            audience.read_customer_attribute,
            audience.next_local_time,
            audience.customer_in_segments,
            audience.forget_waiting,
            audience.await_event,
            profiles.update_customer,
            webhooks.call_webhook,
            rechecks.recheck_waiting,
            campaigns.clone_campaign,
            executions.list_journey_executions,
            executions.end_executions,
            definitions.journey_exists,
            run_pages.start_run_page,
            journey_entries.release_entry,
            delivery.send_test_message,
        ],
        max_concurrent_activities=settings.worker_activities,
        max_cached_workflows=settings.worker_cached_workflows,
        # The sandbox still refuses non-deterministic calls, but no longer re-imports every
        # module for each new execution: half the worker's CPU per execution (13 -> 6 ms
        # measured). Safe because the workflow modules keep no mutable module state.
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_all_modules()
        ),
        # Let running activities (a send in flight) finish before the process exits.
        graceful_shutdown_timeout=timedelta(seconds=30),
    )


def metrics_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime serving Prometheus metrics at `JOURNEYS_METRICS_BIND` (the SDK's
    worker metrics and the journey counters the workflows and activities add), if set."""
    if not settings.metrics_bind:
        return None
    prometheus = PrometheusConfig(bind_address=settings.metrics_bind, counters_total_suffix=True)
    return Runtime(telemetry=TelemetryConfig(metrics=prometheus))


async def run(settings: Settings | None = None) -> None:
    """Run until SIGINT/SIGTERM, then drain and stop."""
    settings = settings or get_settings()
    channels = build_channels(settings)
    engine = create_engine(
        settings.database_url,
        pool_size=settings.worker_activities,
        timeout=settings.database_timeout_seconds,
        statement_timeout=settings.database_statement_timeout_seconds,
    )
    client = await temporal_client.connect(settings, runtime=metrics_runtime(settings))
    worker = build_worker(client, settings, engine, channels)
    heap.settle()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker polling task queue %s at %s", settings.task_queue, settings.temporal_address)
    relay = asyncio.create_task(handoff.relay(client, settings, session_factory(engine), stop))
    recheck = asyncio.create_task(launcher.keep_recheck_started(client, settings, stop))
    try:
        async with worker:
            await stop.wait()
            log.info("worker stopping: draining in-flight tasks")
    finally:
        stop.set()
        await relay
        await recheck
        await close_channels(channels)
        await engine.dispose()
