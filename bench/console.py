"""The console's pages on a journey with many executions (run by hand).

    python -m bench.console [--customers N] [--requests K] [--postgres URL]

Starts `journeys dev` on scratch ports, imports N customers, runs a manual journey for all of
them (each execution parks on a day's wait), waits until visibility shows every execution,
signs in to the console, and requests each page K times one after another. It prints each
page's p50 / p95 / max, and beside them the same run's bare Temporal baseline: one
`count_workflows` of the journey's executions grouped by status (what the journeys list
needs) and the per-state count queries `/stats` makes, timed the same way.
"""

import argparse
import asyncio
import re
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx
from temporalio.client import Client

from bench.run_fanout import JOURNEYS, import_customers
from bench.stack import KEY, PLACE, Dev, on_dev

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def quantiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return (
        f"p50 {statistics.median(ordered) * 1000:6.0f} ms  p95 {p95 * 1000:6.0f} ms  "
        f"max {ordered[-1] * 1000:6.0f} ms"
    )


async def timed(times: int, call: Callable[[], Awaitable[None]]) -> list[float]:
    samples = []
    for _ in range(times):
        began = time.monotonic()
        await call()
        samples.append(time.monotonic() - began)
    return samples


async def signed_in(dev: Dev) -> httpx.AsyncClient:
    console = httpx.AsyncClient(base_url=dev.api_url, timeout=60)
    form = await console.get("/console/sign-in")
    found = _CSRF.search(form.text)
    assert found, form.text[:500]
    done = await console.post("/console/sign-in", data={"csrf": found.group(1), "api_key": KEY})
    assert done.status_code == 303, done.text[:500]
    return console


async def measure(dev: Dev, args: argparse.Namespace) -> None:
    client = await Client.connect(dev.temporal)
    async with httpx.AsyncClient(
        base_url=dev.api_url, headers={"Api-Key": KEY}, timeout=120
    ) as http:
        imported = await import_customers(http, args.customers)
        print(f"imported {args.customers} customers in {imported:.1f} s")
        created = await http.post(
            f"/places/{PLACE}/journeys",
            json={"name": "bench", "trigger_event": "manual", "machine_config": JOURNEYS["park"]},
        )
        journey_id = next(iter(created.json()["node.journey_definition"].values()))["id"]
        began = time.monotonic()
        ran = await http.post(f"/places/{PLACE}/journeys/{journey_id}/run", json={})
        ran.raise_for_status()
        url = f"/places/{PLACE}/journeys/{journey_id}/runs/{ran.json()['runId']}"
        while True:
            run = next(iter((await http.get(url)).json()["node.journey_run"].values()))
            if run["status"] == "completed":
                break
            await asyncio.sleep(1)
        print(f"{args.customers} executions started in {time.monotonic() - began:.0f} s")
        query = (
            f"WorkflowType = 'JourneyExecution' AND JourneyId = {journey_id} "
            "AND ExecutionStatus != 'ContinuedAsNew'"
        )
        while True:
            counted = await client.count_workflows(query, rpc_timeout=timedelta(minutes=2))
            if counted.count >= args.customers:
                break
            await asyncio.sleep(2)
        print(f"visibility shows all {args.customers} executions")

    async def by_status() -> None:
        await client.count_workflows(f"{query} GROUP BY ExecutionStatus")

    async def per_state() -> None:
        # What /stats asks visibility: three counts per state, and the totals.
        states = JOURNEYS["park"]["states"]
        await asyncio.gather(
            by_status(),
            *(client.count_workflows(f"{query} AND JourneyStep = '{s}'") for s in states),
            *(client.count_workflows(f"{query} AND JourneyStep = '{s}'") for s in states),
        )

    baseline = {
        "bare: one count by status": await timed(args.requests, by_status),
        "bare: the counts /stats makes": await timed(args.requests, per_state),
    }
    console = await signed_in(dev)
    pages = {
        "journeys list": "/console/journeys",
        "journeys list's counts": "/console/journeys/counts",
        "journey page (diagram)": f"/console/journeys/{journey_id}",
        "journey's live counts": f"/console/journeys/{journey_id}/live",
        "customers in a state": f"/console/journeys/{journey_id}/state?name=wait",
        "executions (first page)": f"/console/journeys/{journey_id}/executions",
        "a customer": "/console/customers/1",
    }
    results = {}
    try:
        for name, path in pages.items():

            async def get(path: str = path) -> None:
                response = await console.get(path)
                assert response.status_code == 200, (path, response.status_code)

            results[name] = await timed(args.requests, get)
    finally:
        await console.aclose()
    print(f"\n{args.customers} executions in the journey, {args.requests} requests each:")
    for name, samples in {**baseline, **results}.items():
        print(f"  {name:32} {quantiles(samples)}")
    bare = statistics.median(baseline["bare: the counts /stats makes"])
    live = statistics.median(results["journey's live counts"])
    print(f"live counts / bare counts (medians): {live / bare:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server URL to use")
    args = parser.parse_args()
    on_dev(args.postgres, lambda dev: measure(dev, args))


if __name__ == "__main__":
    main()
