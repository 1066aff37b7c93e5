"""Scenarios 2 and 3 of `python -m bench`: starting executions, against a fair bare baseline.

2. Event ingest: `POST /events` at concurrency C, each starting one execution of a journey
   whose first step is a one-day wait, vs bare `start_workflow` of `BenchBareSleeper` (sleeps
   a day) at the same concurrency; the bare worker runs its first workflow task as ours runs
   theirs. Rate: answered calls a second; latency: each call's. Then ours again at half its
   saturating rate (paced, an open loop): the p99 a caller sees when the API isn't at its limit.
3. Fan-out: `POST /run` over a segment of N customers of a journey that waits a day then
   pushes, vs a bare loop starting N `BenchBareSleeper` at the fan-out's own concurrency. A
   round ends when every execution has started and the stack has gone quiet (so both sides
   pay their executions' first workflow task).
"""

import asyncio
import contextlib
import time
import uuid

from bench.bare import BareSleeper
from bench.compare import Round, Row, Stack, lanes, paced
from bench.ingest import PARKED, percentile
from bench.run_fanout import IMPORT_BATCH, JOURNEYS
from bench.stack import PLACE
from bench.throughput import CUSTOMERS
from journeys.settings import Settings

# Not one the other scenarios' journeys are triggered by.
INGEST_EVENT = "order.updated"
# Customers of the fan-out get ids from here on, apart from the other scenarios'.
FAN_OUT_FIRST = 10_000
# Waits a day, then pushes: what `bench.run_fanout` runs too.
PARK_THEN_PUSH = JOURNEYS["park"]
QUIET_WINDOW = 0.5  # `Sampler.settle` looks this long to call the stack quiet


async def ingest(
    stack: Stack, queue: str, events: int, rounds: int, concurrency: int, paced_events: int
) -> Row:
    client, http = stack.client, stack.http
    await stack.journey("ingest", INGEST_EVENT, PARKED)
    row = Row("2 event ingest (calls/s)", latency_unit="ms")

    async def measure(mode: str, count: int, rate: float | None = None) -> Round:
        tag = f"{mode}-{uuid.uuid4().hex[:8]}"

        async def one(i: int) -> None:
            if mode == "ours":
                body = {"event": INGEST_EVENT, "customer_id": i % CUSTOMERS + 1}
                body["event_id"] = f"{tag}-{i}"
                response = await http.post(f"/places/{PLACE}/events", json=body)
                response.raise_for_status()
                if response.json()["triggered"] != 1:
                    raise RuntimeError("started nothing")
            else:
                key = f"{tag}-{i}"
                await client.start_workflow(BareSleeper.run, id=key, task_queue=queue)

        cpu = stack.cpu()
        began = time.monotonic()
        if rate is None:
            latencies, failures = await lanes(count, concurrency, one)
        else:
            latencies, failures = await paced(count, rate, one)
        seconds = time.monotonic() - began
        await stack.settle()
        spent = stack.spent(cpu)
        await asyncio.sleep(1)
        return Round(mode, len(latencies), seconds, latencies, spent, failures).said("2")

    stack.peak()
    for _ in range(rounds):
        for mode in ("ours", "bare"):
            row.rounds.append(await measure(mode, events))
    row.rss = stack.peak()
    saturating = row.rate("ours") or 1.0
    half = await measure("ours", paced_events, saturating / 2)
    p50, p99 = _p50_p99(half.latencies)
    row.note = (
        f"at half the saturating rate ({saturating / 2:.0f}/s, {paced_events} events): "
        f"p50 {p50:.0f} ms, p99 {p99:.0f} ms (goal p99 < 100 ms)"
    )
    if half.failures:
        row.note += f"; failures {dict(half.failures)}"
    with stack.profiled("2-ingest"):
        await measure("ours", paced_events)
    return row


def _p50_p99(latencies: list[float]) -> tuple[float, float]:
    return 1000 * percentile(latencies, 50), 1000 * percentile(latencies, 99)


async def fan_out(stack: Stack, queue: str, customers: int, rounds: int) -> tuple[Row, int]:
    """Every round runs the journey for the same `customers` (a new run each time); the row,
    and the journey (for the reads)."""
    client, http = stack.client, stack.http
    segment = await _segment(stack, customers)
    journey = await stack.journey("fan-out", "manual", PARK_THEN_PUSH)
    concurrency = Settings().run_concurrency
    row = Row("3 fan-out (started/s)")

    async def measure(mode: str) -> Round:
        cpu = stack.cpu()
        began = time.monotonic()
        latencies: list[float] = []
        if mode == "ours":
            url = f"/places/{PLACE}/journeys/{journey}"
            response = await http.post(f"{url}/run", json={"include_segment_ids": [segment]})
            response.raise_for_status()
            latencies.append(time.monotonic() - began)
            run = f"{url}/runs/{response.json()['runId']}"
            while True:
                shown = (await http.get(run)).json()["node.journey_run"]
                state = next(iter(shown.values()))
                if state["status"] in ("completed", "failed", "cancelled"):
                    break
                await asyncio.sleep(0.5)
            started = int(state["started"])
            failures = {} if state["status"] == "completed" else {state["status"]: 1}
        else:
            tag = f"fan-{uuid.uuid4().hex[:8]}"

            async def one(i: int) -> None:
                await client.start_workflow(BareSleeper.run, id=f"{tag}-{i}", task_queue=queue)

            _, failed = await lanes(customers, concurrency, one)
            started, failures = customers - sum(failed.values()), dict(failed)
        await stack.settle(limit=300)
        seconds = time.monotonic() - began - QUIET_WINDOW
        spent = stack.spent(cpu)
        await asyncio.sleep(1)
        result = Round(mode, started, seconds, latencies, spent)
        result.failures.update(failures)
        return result.said("3")

    stack.peak()
    for number in range(rounds):
        # A fan-out round is long: the profile is taken in the last measured one (py-spy
        # sampling costs the machine a few % of a core) rather than in one more.
        with stack.profiled("3-fan-out") if number == rounds - 1 else contextlib.nullcontext():
            row.rounds.append(await measure("ours"))
        row.rounds.append(await measure("bare"))
    row.rss = stack.peak()
    answers = [x for r in row.mode("ours") for x in r.latencies]
    row.note = f"POST /run answered in {', '.join(f'{x * 1000:.0f}' for x in answers)} ms"
    return row, journey


async def _segment(stack: Stack, customers: int) -> int:
    """A segment of `customers` new customers with a push token each."""
    made = await stack.http.post(
        f"/places/{PLACE}/segments",
        json={
            "name": "fan-out",
            "match": "all",
            "conditions": [{"attribute": "fan_out", "operator": "eq", "value": True}],
        },
    )
    made.raise_for_status()
    segment = int(next(iter(made.json()["node.targeting_segment"].values()))["id"])
    last = FAN_OUT_FIRST + customers
    for first in range(FAN_OUT_FIRST, last, IMPORT_BATCH):
        batch = [
            {"id": i, "push_tokens": [f"device-{i}"], "attributes": {"fan_out": True}}
            for i in range(first, min(first + IMPORT_BATCH, last))
        ]
        imported = await stack.http.post(f"/places/{PLACE}/customers/import", json=batch)
        imported.raise_for_status()
    return segment
