"""Journey throughput against a fair bare baseline (issue 19, scenario 1).

Ours: N `POST /events` (concurrency C), each starting an execution of `send_email → done`
(the dev stack's outbox), until every one has completed. Bare: N `start_workflow` (the same
concurrency) of a workflow that runs one activity writing one row to the same database,
run by a worker in this process on its own task queue, until every one has completed.
Rounds alternate (ours, bare, ours, bare) so drift on the machine hits both.

Rate: executions completed per second, from the first start to the last completion.
Latency: each execution's start to close, from visibility.
"""

import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from bench.stack import KEY, PLACE, Dev, children_of, cpu_seconds
from journeys.settings import database_url as database_url_for

ONE_EMAIL = {
    "initial": "send",
    "states": {
        "send": {"meta": {"type": "send_email", "templateId": 5}, "on": {"DONE": "done"}},
        "done": {"type": "final"},
    },
}
BARE_TABLE = "bench_bare_rows"


@dataclass
class Round:
    mode: str  # "ours" | "bare"
    executions: int
    seconds: float
    latencies: list[float]
    server_cpu: float  # Temporal server CPU seconds spent in the round

    @property
    def rate(self) -> float:
        return self.executions / self.seconds


class BareRows:
    """The bare workflow's one activity: one row written to the stack's own database."""

    def __init__(self, url: str) -> None:
        self.engine = create_async_engine(url)

    @activity.defn(name="bench_write_row")
    async def write_row(self, key: str) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(
                text(f"INSERT INTO {BARE_TABLE} (id) VALUES (:id)"), {"id": key}
            )


@workflow.defn(name="BenchBareJourney")
class BareJourney:
    @workflow.run
    async def run(self, key: str) -> None:
        await workflow.execute_activity(
            "bench_write_row", key, start_to_close_timeout=timedelta(seconds=30)
        )


async def _lanes(count: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> None:
    queue = iter(range(count))

    async def lane() -> None:
        for index in queue:
            await one(index)

    await asyncio.gather(*(lane() for _ in range(concurrency)))


async def _closed(client: Client, query: str, expected: int) -> list[float]:
    """Once `expected` executions match `query` and are closed (or 10 minutes have passed):
    their start-to-close seconds."""
    deadline = time.monotonic() + 600
    while True:
        done = (await client.count_workflows(f"{query} AND ExecutionStatus = 'Completed'")).count
        if done >= expected or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    latencies = []
    async for execution in client.list_workflows(query):
        if execution.close_time is not None:
            latencies.append((execution.close_time - execution.start_time).total_seconds())
    return latencies


async def run_rounds(dev: Dev, executions: int, rounds: int, concurrency: int) -> list[Round]:
    client = await Client.connect(dev.temporal)
    server = children_of(dev.process.pid).get("temporal")
    url = database_url_for(dev.data_dir)
    rows = BareRows(url)
    async with rows.engine.begin() as connection:
        await connection.execute(
            text(f"CREATE TABLE IF NOT EXISTS {BARE_TABLE} (id TEXT PRIMARY KEY)")
        )
    queue = f"bench-bare-{uuid.uuid4().hex[:8]}"
    results: list[Round] = []
    async with (
        httpx.AsyncClient(base_url=dev.api_url, headers={"Api-Key": KEY}, timeout=60) as http,
        Worker(
            client,
            task_queue=queue,
            workflows=[BareJourney],
            activities=[rows.write_row],
            # As the product's worker runs its workflows (`worker.build_worker`).
            workflow_runner=SandboxedWorkflowRunner(
                restrictions=SandboxRestrictions.default.with_passthrough_all_modules()
            ),
        ),
    ):
        customers = [{"id": i, "email": f"c{i}@example.com"} for i in range(1, 1001)]
        (await http.post(f"/places/{PLACE}/customers/import", json=customers)).raise_for_status()
        created = await http.post(
            f"/places/{PLACE}/journeys",
            json={"name": "bench", "trigger_event": "order.created", "machine_config": ONE_EMAIL},
        )
        journey = next(iter(created.json()["node.journey_definition"].values()))["id"]
        (await http.post(f"/places/{PLACE}/journeys/{journey}/start")).raise_for_status()
        for number in range(rounds):
            for mode in ("ours", "bare"):
                tag = f"r{number}-{mode}-{uuid.uuid4().hex[:6]}"
                cpu = cpu_seconds(server) if server else 0.0
                began = time.monotonic()
                # Whole seconds: the round before ended (and paused) over a second ago.
                since = _iso(time.time())
                if mode == "ours":

                    async def one(i: int, tag: str = tag) -> None:
                        body = {
                            "event": "order.created",
                            "customer_id": i % 1000 + 1,
                            "event_id": f"{tag}-{i}",
                        }
                        (await http.post(f"/places/{PLACE}/events", json=body)).raise_for_status()

                    query = (
                        f"WorkflowType = 'JourneyExecution' AND JourneyId = {journey} "
                        f"AND StartTime >= '{since}'"
                    )
                else:

                    async def one(i: int, tag: str = tag) -> None:
                        await client.start_workflow(
                            BareJourney.run, f"{tag}-{i}", id=f"{tag}-{i}", task_queue=queue
                        )

                    query = f"WorkflowType = 'BenchBareJourney' AND StartTime >= '{since}'"
                await _lanes(executions, concurrency, one)
                latencies = await _closed(client, query, executions)
                seconds = time.monotonic() - began
                spent = (cpu_seconds(server) if server else 0.0) - cpu
                results.append(Round(mode, len(latencies), seconds, latencies, spent))
                await asyncio.sleep(1)
    await rows.engine.dispose()
    return results


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def summary(rounds: list[Round]) -> dict[str, float]:
    """The medians of each mode's rounds, and their ratio."""
    ours = [r for r in rounds if r.mode == "ours"]
    bare = [r for r in rounds if r.mode == "bare"]
    return {
        "ours": statistics.median(r.rate for r in ours),
        "bare": statistics.median(r.rate for r in bare),
        "ratio": statistics.median(o.rate / b.rate for o, b in zip(ours, bare, strict=True)),
    }
