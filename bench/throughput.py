"""Scenario 1 of `python -m bench`: journey throughput against a fair bare baseline.

Ours: N `POST /events` (concurrency C), each starting an execution of `send_email → done`
(the dev stack's outbox), until every one has completed. Bare: N `start_workflow` (the same
concurrency) of `BenchBareJourney`, whose one activity writes one row to the same database,
run by the bare worker's process, until every one has completed. Rounds alternate (ours,
bare, ours, bare) so drift on the machine hits both.

Rate: executions completed per second, from the first start to the last completion.
Latency: each execution's start to close, from visibility.
"""

import asyncio
import time
import uuid

from temporalio.client import Client

from bench.bare import BareJourney
from bench.compare import Round, Row, Stack, lanes
from bench.stack import PLACE

ONE_EMAIL = {
    "initial": "send",
    "states": {
        "send": {"meta": {"type": "send_email", "templateId": 5}, "on": {"DONE": "done"}},
        "done": {"type": "final"},
    },
}
CUSTOMERS = 1000


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


async def import_customers(stack: Stack) -> None:
    """The customers events of scenarios 1 and 2 are for: ids 1 to `CUSTOMERS`."""
    customers = [{"id": i, "email": f"c{i}@example.com"} for i in range(1, CUSTOMERS + 1)]
    imported = await stack.http.post(f"/places/{PLACE}/customers/import", json=customers)
    imported.raise_for_status()


async def throughput(
    stack: Stack, queue: str, executions: int, rounds: int, concurrency: int
) -> Row:
    client, http = stack.client, stack.http
    journey = await stack.journey("throughput", "order.created", ONE_EMAIL)
    row = Row("1 journey throughput (completed/s)")

    async def measure(mode: str) -> Round:
        tag = f"{mode}-{uuid.uuid4().hex[:8]}"
        cpu = stack.cpu()
        began = time.monotonic()
        # Whole seconds: the round before ended (and settled) over a second ago.
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time()))
        if mode == "ours":

            async def one(i: int) -> None:
                body = {"event": "order.created", "customer_id": i % CUSTOMERS + 1}
                body["event_id"] = f"{tag}-{i}"
                (await http.post(f"/places/{PLACE}/events", json=body)).raise_for_status()

            query = f"WorkflowType = 'JourneyExecution' AND JourneyId = {journey}"
        else:

            async def one(i: int) -> None:
                key = f"{tag}-{i}"
                await client.start_workflow(BareJourney.run, key, id=key, task_queue=queue)

            query = "WorkflowType = 'BenchBareJourney'"
        _, failures = await lanes(executions, concurrency, one)
        started = executions - sum(failures.values())
        latencies = await _closed(client, f"{query} AND StartTime >= '{since}'", started)
        seconds = time.monotonic() - began
        spent = stack.spent(cpu)
        await stack.settle()
        await asyncio.sleep(1)
        return Round(mode, len(latencies), seconds, latencies, spent, failures).said("1")

    stack.peak()
    for _ in range(rounds):
        for mode in ("ours", "bare"):
            row.rounds.append(await measure(mode))
    row.rss = stack.peak()
    with stack.profiled("1-throughput"):
        await measure("ours")
    return row
