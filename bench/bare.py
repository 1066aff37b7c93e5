"""The bare baselines of `python -m bench`: plain Temporal workflows, run by a worker in a
process of its own (as the product's worker is), on the stack's Temporal server.

    python -m bench.bare TEMPORAL_ADDRESS TASK_QUEUE DATABASE_URL

- `BenchBareJourney(key)`: one activity that writes one row to the stack's own database,
  then ends (journey throughput's baseline);
- `BenchBareSleeper()`: sleeps one day (event ingest's and fan-out's baseline: a workflow
  with a timer, whose first workflow task the worker runs).

The worker has the product worker's settings (`worker.build_worker`): the same sandbox
passthrough, activity slots and workflow cache.
"""

import asyncio
import importlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from journeys.settings import Settings

ROWS = "bench_bare_rows"
READY = "bare worker polling"


class BareRows:
    def __init__(self, url: str) -> None:
        self.engine = create_async_engine(url)

    async def create(self) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(
                text(f"CREATE TABLE IF NOT EXISTS {ROWS} (id TEXT PRIMARY KEY)")
            )

    @activity.defn(name="bench_write_row")
    async def write_row(self, key: str) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(text(f"INSERT INTO {ROWS} (id) VALUES (:id)"), {"id": key})


@workflow.defn(name="BenchBareJourney")
class BareJourney:
    @workflow.run
    async def run(self, key: str) -> None:
        await workflow.execute_activity(
            "bench_write_row", key, start_to_close_timeout=timedelta(seconds=30)
        )


@workflow.defn(name="BenchBareSleeper")
class BareSleeper:
    @workflow.run
    async def run(self) -> None:
        await workflow.sleep(timedelta(days=1))


async def serve(address: str, queue: str, database: str) -> None:
    settings = Settings()
    rows = BareRows(database)
    await rows.create()
    client = await Client.connect(address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Worker(
        client,
        task_queue=queue,
        workflows=[BareJourney, BareSleeper],
        activities=[rows.write_row],
        max_concurrent_activities=settings.worker_activities,
        max_cached_workflows=settings.worker_cached_workflows,
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_all_modules()
        ),
    ):
        print(READY, flush=True)
        await stop.wait()
    await rows.engine.dispose()


@contextmanager
def bare_worker(address: str, queue: str, database: str) -> Iterator[int]:
    """The bare worker's process, polling `queue` (its pid while it runs)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.bare", address, queue, database],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != READY:
            raise SystemExit("the bare worker did not start")
        yield process.pid
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    # Through the module's own name: the sandbox imports workflows by their module, and
    # `__main__` is not one it can import.
    asyncio.run(importlib.import_module("bench.bare").serve(*sys.argv[1:4]))
