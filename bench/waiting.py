"""What a waiting `wait_for_condition` costs, before and after the registry (run by hand).

    python -m bench.waiting [--before REV] [--waiters 1000] [--rate 20] [--poll-waiters 100]
                            [--cpu-waiters 10000] [--window 30] [--recheck-customers 100000]
                            [--postgres URL] [--skip PHASE...]

Runs `journeys dev` (SQLite, scratch ports) from a checkout of `--before` (today's design:
every waiting execution polls with an activity and a timer) and from this one, and prints
one table:

- history events per waiting execution per day, nothing changing: measured over `--window`
  seconds with a 1 s interval and scaled to the 5-minute default (before: events per check
  x 288 a day; after: what the window measured plus one safety check a week);
- CPU of the worker and Temporal server while executions wait with a 1 s interval (before:
  `--poll-waiters`; after: `--cpu-waiters`), as % of one core;
- wake-up after `PUT /customers` for each of `--waiters` waiters, `--rate` changes a second
  (a 300 s interval, so polling plays no part): from the request to the moment the
  execution left the wait, p50 / p99;
- wake-up after changes the API doesn't see (after only; a 1 s interval): a direct SQL
  update, and a segment's rules edited, for 50 waiters each;
- one central re-check round over `--recheck-customers` waiting customers on PostgreSQL
  (10 distinct conditions): nothing changed, and 1 % changed; time and memory.
"""

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

import httpx
from sqlalchemy import text, update
from sqlmodel import col
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from bench.compare import Round, Row
from bench.stack import (
    KEY,
    PLACE,
    Dev,
    children_of,
    cpu_seconds,
    drop_postgres,
    rss_mb,
    scratch_postgres,
)
from journeys import devstack
from journeys.settings import DATABASE_FILE
from orchestration import waking
from store import migrate, places
from store import waiting as registry
from store.db import create_engine, session_factory
from store.tables import Customer, Segment
from store.waiting import SegmentCondition

ROOT = Path(__file__).resolve().parent.parent
BATCH = 10_000
GOLD_SEGMENT = 12  # the demo place's "Gold tier": account.tier eq gold
WAIT_ONLY = {
    "initial": "wait_gold",
    "states": {
        "wait_gold": {
            "meta": {"type": "wait_for_condition", "include": [GOLD_SEGMENT]},
            "on": {"DONE": "done"},
        },
        "done": {"type": "final"},
    },
}
DAY = 86_400
DEFAULT_POLL = 300
DEFAULT_SAFETY = 7 * DAY


@contextlib.contextmanager
def checkout(rev: str) -> Iterator[Path]:
    """A scratch worktree of `rev` (the design before)."""
    path = Path(tempfile.mkdtemp(prefix="journeys-before-"))
    subprocess.run(
        ["git", "worktree", "add", "-q", "--detach", str(path), rev], cwd=ROOT, check=True
    )
    try:
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, check=False)


class Place:
    """A stack with `count` customers waiting in one manual run of WAIT_ONLY."""

    def __init__(self, dev: Dev, api: httpx.AsyncClient, client: Client) -> None:
        self.dev, self.api, self.client = dev, api, client
        self.journey_id = 0
        self.run_id = ""
        self.first = 0

    async def fill(self, count: int, first: int = 1_000) -> None:
        self.first = first
        made = await self.api.post(
            "/segments",
            json={
                "name": "bench",
                "match": "all",
                "conditions": [{"attribute": "bench", "operator": "eq", "value": True}],
            },
        )
        made.raise_for_status()
        segment = made.json()["node.targeting_segment"]
        segment_id = next(iter(segment.values()))["id"]
        ids = list(range(first, first + count))
        for start in range(0, count, BATCH):
            body = [
                {"id": i, "attributes": {"bench": True, "account": {"tier": "silver"}}}
                for i in ids[start : start + BATCH]
            ]
            (await self.api.post("/customers/import", json=body)).raise_for_status()
        created = await self.api.post("/journeys", json={"name": "wait", "trigger_event": "manual"})
        created.raise_for_status()
        self.journey_id = next(iter(created.json()["node.journey_definition"].values()))["id"]
        put = await self.api.put(f"/journeys/{self.journey_id}", json={"machine_config": WAIT_ONLY})
        put.raise_for_status()
        run = await self.api.post(
            f"/journeys/{self.journey_id}/run", json={"include_segment_ids": [segment_id]}
        )
        run.raise_for_status()
        self.run_id = run.json()["runId"]
        # Waiting: every one started (visibility counts them), and the last ones started
        # have checked once (their histories have their first timer).
        deadline = time.monotonic() + 120 + count / 5
        while time.monotonic() < deadline:
            if (await self.client.count_workflows(self.running)).count == count:
                latest = [e.id async for e in self.client.list_workflows(self.running, limit=50)]
                if min((await self.lengths(latest)).values()) >= 11:
                    await asyncio.sleep(5)
                    return
            await asyncio.sleep(2)
        raise SystemExit(f"{count} executions did not all start waiting")

    @property
    def running(self) -> str:
        return (
            f"WorkflowType = 'JourneyExecution' AND JourneyId = {self.journey_id} "
            "AND ExecutionStatus = 'Running'"
        )

    def execution_id(self, customer_id: int) -> str:
        return f"journey-{self.journey_id}-run-{self.run_id}-{customer_id}"

    async def lengths(self, ids: list[str] | None = None) -> dict[str, int]:
        """Each running execution's history length (from describe: visibility's is only
        brought up to date when an execution closes)."""
        if ids is None:
            ids = [e.id async for e in self.client.list_workflows(self.running)]
        gate = asyncio.Semaphore(50)

        async def length(execution_id: str) -> int:
            async with gate:
                described = await self.client.get_workflow_handle(execution_id).describe()
            return described.raw_description.workflow_execution_info.history_length

        return dict(zip(ids, await asyncio.gather(*map(length, ids)), strict=True))

    async def left_at(self, customer_id: int, limit: float = 300) -> float:
        return (await self.wake_times(customer_id, limit))[1]

    async def wake_times(self, customer_id: int, limit: float = 300) -> tuple[float, float]:
        """(when Temporal took its first signal, when it left the wait) for the customer's
        execution. Once it has ended (a long poll), read from its history: it left at the
        start of the workflow task after its last check, which is its `workflow.now()` then
        (a query would need a worker to replay it)."""
        handle = self.client.get_workflow_handle(self.execution_id(customer_id))
        try:
            await asyncio.wait_for(handle.result(), limit)
        except TimeoutError:
            raise SystemExit(f"customer {customer_id} never left the wait") from None
        events = (await handle.fetch_history()).events
        completed = EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
        checked = max(i for i, e in enumerate(events) if e.event_type == completed)
        started = next(
            e
            for e in events[checked:]
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
        )
        signals = [
            e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        ]
        left = started.event_time.ToDatetime(tzinfo=UTC).timestamp()
        signalled = signals[0].event_time.ToDatetime(tzinfo=UTC).timestamp() if signals else left
        return signalled, left


@contextlib.asynccontextmanager
async def stack(project: Path | None, data_dir: Path, interval: int) -> AsyncIterator[Place]:
    env = {
        **os.environ,
        "JOURNEYS_CONDITION_POLL_SECONDS": str(interval),
        "JOURNEYS_LOG_LEVEL": "WARNING",
    }
    with Dev(data_dir, env, project=project) as dev:
        client = await Client.connect(dev.temporal, data_converter=pydantic_data_converter)
        headers = {"Api-Key": KEY}
        async with httpx.AsyncClient(
            base_url=f"{dev.api_url}/places/{PLACE}", headers=headers, timeout=60
        ) as api:
            yield Place(dev, api, client)


@dataclass
class Idle:
    events_per_second: float  # history events per execution per second
    checks_per_second: float  # checks (activities) per execution per second
    cpu: float  # % of one core, worker + Temporal server

    @property
    def events_per_check(self) -> float:
        return self.events_per_second / self.checks_per_second if self.checks_per_second else 0


async def idle_cost(place: Place, window: float) -> Idle:
    """What the waiting executions cost over `window` seconds in which nothing changes."""
    pids = children_of(place.dev.process.pid)
    roles = {role: pids[role] for role in ("worker", "temporal")}
    before = await place.lengths()
    sample = list(before)[:20]
    checks_before = await checks(place, sample)
    cpu = {role: cpu_seconds(pid) for role, pid in roles.items()}
    began = time.monotonic()
    await asyncio.sleep(window)
    spent = {role: cpu_seconds(pid) - cpu[role] for role, pid in roles.items()}
    used = sum(spent.values())
    elapsed = time.monotonic() - began
    print(
        "  CPU over the window: "
        + ", ".join(f"{role} {100 * seconds / elapsed:.1f} %" for role, seconds in spent.items())
    )
    after = await place.lengths()
    checked = sum(await checks(place, sample)) - sum(checks_before)
    grown = [after[i] - before[i] for i in before if i in after]
    return Idle(
        events_per_second=sum(grown) / len(grown) / elapsed,
        checks_per_second=checked / len(sample) / elapsed,
        cpu=100 * used / elapsed,
    )


async def checks(place: Place, ids: list[str]) -> list[int]:
    """How many checks (completed activities) each execution's history holds."""
    completed = EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
    found = []
    for execution_id in ids:
        history = await place.client.get_workflow_handle(execution_id).fetch_history()
        found.append(sum(1 for event in history.events if event.event_type == completed))
    return found


async def api_wakeups(place: Place, count: int, rate: float) -> list[float]:
    """For each waiter, its customer changed through `PUT /customers` at `rate` changes a
    second: from the request to the execution leaving the wait, in seconds."""
    latencies: list[float] = []

    async def one(customer_id: int) -> None:
        sent = time.time()
        body = {"attributes": {"account": {"tier": "gold"}}}
        (await place.api.put(f"/customers/{customer_id}", json=body)).raise_for_status()
        latencies.append(await place.left_at(customer_id) - sent)

    tasks = []
    for i in range(count):
        tasks.append(asyncio.create_task(one(place.first + i)))
        await asyncio.sleep(1 / rate)
    await asyncio.gather(*tasks)
    return latencies


@dataclass
class Unseen:
    direct: list[float]  # from the write to leaving the wait
    edited: list[float]  # from the rules' edit to leaving the wait
    found: list[float]  # from the change to the signal (the round that found it)
    moved: list[float]  # from the signal to leaving the wait (the execution's own check)


async def unseen_wakeups(place: Place, data_dir: Path, count: int) -> Unseen:
    """Latencies after a direct SQL write to `count` customers, then after segment 12's rules
    are edited to take in `count` more, and both split at the signal."""
    engine = create_engine(f"sqlite+aiosqlite:///{data_dir / DATABASE_FILE}", timeout=30)
    direct = list(range(place.first, place.first + count))
    async with session_factory(engine)() as session:
        written = time.time()
        await session.exec(
            update(Customer)
            .where(col(Customer.place_id) == PLACE, col(Customer.id).in_(direct))
            .values(attributes={"bench": True, "account": {"tier": "gold"}})
        )
        await session.commit()
    await engine.dispose()
    unseen = Unseen([], [], [], [])
    for customer_id in direct:
        signalled, left = await place.wake_times(customer_id)
        unseen.direct.append(left - written)
        unseen.found.append(signalled - written)
        unseen.moved.append(left - signalled)
    # Edited rules: gold, or one of the next `count` customers by an attribute they have.
    edited_ids = list(range(place.first + count, place.first + 2 * count))
    body = [{"id": i, "attributes": {"bench": True, "lucky": True}} for i in edited_ids]
    (await place.api.post("/customers/import", json=body)).raise_for_status()
    await asyncio.sleep(3)  # the import's own wake-ups signal nobody: none matches yet
    rules = {
        "match": "any",
        "conditions": [
            {"attribute": "account.tier", "operator": "eq", "value": "gold"},
            {"attribute": "lucky", "operator": "eq", "value": True},
        ],
    }
    edited = time.time()
    (await place.api.put(f"/segments/{GOLD_SEGMENT}", json=rules)).raise_for_status()
    for customer_id in edited_ids:
        signalled, left = await place.wake_times(customer_id)
        unseen.edited.append(left - edited)
        unseen.found.append(signalled - edited)
        unseen.moved.append(left - signalled)
    return unseen


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def quantiles(latencies: list[float]) -> str:
    return f"{pct(latencies, 0.5):.2f} / {pct(latencies, 0.99):.2f} s"


async def recheck_round(postgres: str, customers: int) -> dict[str, float]:
    """One central re-check over `customers` waiting customers on a scratch PostgreSQL
    database, nothing changed (median of 3) and 1 % changed; time and memory."""
    url = await scratch_postgres(postgres)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=devstack.temporal_binary(),
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
    )
    engine = create_engine(url, pool_size=5, timeout=30, statement_timeout=300)
    try:
        await migrate.upgrade_async(url)
        sessions = session_factory(engine)
        async with sessions() as session:
            await places.ensure_place(session, PLACE)
            segments = [
                Segment(
                    place_id=PLACE,
                    name=f"tier {k}",
                    kind="rule",
                    match="all",
                    conditions=[{"attribute": "tier", "operator": "eq", "value": f"t{k}"}],
                )
                for k in range(10)
            ]
            session.add_all(segments)
            await session.commit()
            conditions = [SegmentCondition.of([s.id or 0], []) for s in segments]
            connection = await session.connection()
            for start in range(0, customers, BATCH):
                ids = range(start, min(customers, start + BATCH))
                await connection.execute(
                    Customer.__table__.insert(),  # type: ignore[attr-defined]
                    [
                        {
                            "place_id": PLACE,
                            "id": i,
                            "attributes": {"tier": "none"},
                            "push_tokens": [],
                            "created": 0,
                            "updated": 0,
                        }
                        for i in ids
                    ],
                )
                stamp = int(time.time())
                await connection.execute(
                    registry.W.__table__.insert(),  # type: ignore[attr-defined]
                    [
                        {
                            "execution_id": f"bench-{i}",
                            "kind": registry.SEGMENTS,
                            "place_id": PLACE,
                            "customer_id": i,
                            "condition": conditions[i % 10].key,
                            "definition": conditions[i % 10].definition,
                            "registered": stamp,
                            "checked": stamp,
                        }
                        for i in ids
                    ],
                )
            await session.commit()
            await (await session.connection()).execute(text("ANALYZE"))
            await session.commit()

        async def timed() -> tuple[float, float, waking.Tally]:
            tracemalloc.start()
            began = time.perf_counter()
            tally = await waking.recheck(env.client, sessions, DEFAULT_SAFETY)
            took = time.perf_counter() - began
            peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            return took, peak, tally

        rss_before = rss_mb(os.getpid())
        quiet = [await timed() for _ in range(3)]
        rss_quiet = rss_mb(os.getpid())
        async with sessions() as session:
            # 1 %: their customers now meet their conditions (no execution exists to signal:
            # Temporal answers NOT_FOUND to each, and their entries are forgotten).
            connection = await session.connection()
            await connection.execute(
                text(
                    "UPDATE customers SET attributes = jsonb_build_object('tier', 't' || (id % 10))"
                    " WHERE id % 100 = 0"
                )
            )
            await session.commit()
        changed = await timed()
        return {
            "quiet_s": statistics.median(t for t, _, _ in quiet),
            "quiet_peak_mb": max(p for _, p, _ in quiet),
            "conditions": quiet[0][2].conditions,
            "changed_s": changed[0],
            "changed_peak_mb": changed[1],
            "changed_signalled": changed[2].woken + changed[2].forgotten,
            "rss_growth_mb": rss_quiet - rss_before,
        }
    finally:
        await engine.dispose()
        await env.shutdown()
        await drop_postgres(url)


async def headline(dev: Dev, waiters: int, window: float, wakes: int) -> Row:
    """`python -m bench`'s waiting row, on its stack (the default interval): what `waiters`
    executions in `wait_for_condition` cost over `window` quiet seconds, and the wake-up of
    `wakes` of them through `PUT /customers` at 10 a second."""
    client = await Client.connect(dev.temporal, data_converter=pydantic_data_converter)
    async with httpx.AsyncClient(
        base_url=f"{dev.api_url}/places/{PLACE}", headers={"Api-Key": KEY}, timeout=60
    ) as api:
        place = Place(dev, api, client)
        await place.fill(waiters, first=100_000)
        idle = await idle_cost(place, window)
        latencies = await api_wakeups(place, wakes, 10)
    row = Row(f"4 waiting ({waiters} in wait_for_condition)", goal=None, rated=False)
    row.rounds.append(Round("ours", 0, 0.0, latencies, {}))
    row.note = (
        f"quiet {window:.0f} s: worker + Temporal {idle.cpu:.1f} % of a core, "
        f"{idle.events_per_second * DAY:.1f} history events/execution/day; latency: "
        f"PUT /customers to leaving the wait, {wakes} at 10/s (python -m bench.waiting: more)"
    )
    return row


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default="8efe91d", help="the commit of today's design")
    parser.add_argument("--waiters", type=int, default=1_000)
    parser.add_argument("--poll-waiters", type=int, default=100)
    parser.add_argument("--cpu-waiters", type=int, default=10_000)
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=20.0, help="API changes a second")
    parser.add_argument("--recheck-customers", type=int, default=100_000)
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["before-idle", "before-wake", "after-idle", "after-wake", "recheck"],
    )
    args = parser.parse_args()
    rows: dict[str, dict[str, str]] = {}

    def put(figure: str, column: str, value: str) -> None:
        rows.setdefault(figure, {})[column] = value
        print(f"  {figure} [{column}]: {value}", flush=True)

    events_figure = "history events / waiting execution / day (5-min interval)"
    cpu_figure = "CPU of worker + Temporal while executions wait (1 s interval)"
    api_figure = (
        f"wake-up after PUT /customers ({args.rate:g}/s), p50 / p99 over {args.waiters} waiters"
    )
    sql_figure = "wake-up after a direct SQL update (1 s interval), max over 50"
    rules_figure = "wake-up after a segment's rules edited (1 s interval), max over 50"
    round_figure = f"central re-check over {args.recheck_customers} waiting (PostgreSQL)"

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        with checkout(args.before) as old:
            if "before-idle" not in args.skip:
                print(f"before ({args.before}): {args.poll_waiters} waiters, 1 s interval")
                async with stack(old, work / "b1", 1) as place:
                    await place.fill(args.poll_waiters)
                    idle = await idle_cost(place, args.window)
                    per_check = idle.events_per_check
                    put(
                        events_figure,
                        "before",
                        f"{per_check * DAY / DEFAULT_POLL:,.0f} ({per_check:.1f} per check x 288)",
                    )
                    # What one check costs, times the checks 10 000 waiters make at 5 min.
                    checks_made = idle.checks_per_second * args.poll_waiters
                    cpu_per_check = idle.cpu / checks_made if checks_made else 0
                    projected = cpu_per_check * args.cpu_waiters / DEFAULT_POLL
                    put(
                        cpu_figure,
                        "before",
                        f"{idle.cpu:.0f} % for {args.poll_waiters} ({checks_made:.0f} checks/s "
                        f"made of {args.poll_waiters} due); {projected:.0f} % for "
                        f"{args.cpu_waiters} at 5 min",
                    )
            if "before-wake" not in args.skip:
                print(f"before: {args.waiters} waiters, 300 s interval")
                async with stack(old, work / "b2", DEFAULT_POLL) as place:
                    await place.fill(args.waiters)
                    latencies = await api_wakeups(place, args.waiters, args.rate)
                    put(api_figure, "before", quantiles(latencies))
        put(sql_figure, "before", "<= 300 s (the next poll)")
        put(rules_figure, "before", "<= 300 s (the next poll)")
        if "after-idle" not in args.skip:
            print(f"after: {args.cpu_waiters} waiters, 1 s interval")
            async with stack(None, work / "a1", 1) as place:
                await place.fill(args.cpu_waiters)
                idle = await idle_cost(place, args.window)
                rate = idle.events_per_second
                safety = 11 * DAY / DEFAULT_SAFETY  # one check (~11 events) a week
                put(
                    events_figure,
                    "after",
                    f"{rate * DAY + safety:.1f} ({rate * DAY:.1f} measured + {safety:.1f} safety)",
                )
                put(cpu_figure, "after", f"{idle.cpu:.1f} % for {args.cpu_waiters}")
                unseen = await unseen_wakeups(place, work / "a1", 50)
                direct, edited = unseen.direct, unseen.edited
                put(sql_figure, "after", f"{max(direct):.2f} s (p50 {pct(direct, 0.5):.2f})")
                put(rules_figure, "after", f"{max(edited):.2f} s (p50 {pct(edited, 0.5):.2f})")
                print(
                    f"  of which: change to signal {quantiles(unseen.found)} (p50 / p99), "
                    f"signal to leaving the wait {quantiles(unseen.moved)}"
                )
        if "after-wake" not in args.skip:
            print(f"after: {args.waiters} waiters, 300 s interval")
            async with stack(None, work / "a2", DEFAULT_POLL) as place:
                await place.fill(args.waiters)
                latencies = await api_wakeups(place, args.waiters, args.rate)
                put(api_figure, "after", quantiles(latencies))
    if "recheck" not in args.skip:
        print(f"central re-check: {args.recheck_customers} waiting customers on PostgreSQL")
        result = await recheck_round(args.postgres, args.recheck_customers)
        put(
            round_figure,
            "after",
            f"{result['quiet_s']:.2f} s nothing changed ({result['conditions']:.0f} conditions, "
            f"peak {result['quiet_peak_mb']:.1f} MB); {result['changed_s']:.2f} s with "
            f"{result['changed_signalled']:.0f} changed (peak {result['changed_peak_mb']:.1f} MB); "
            f"RSS +{result['rss_growth_mb']:.0f} MB over 3 rounds",
        )
        put(round_figure, "before", "- (each execution polls itself)")

    print("\n| figure | before | after |\n|---|---|---|")
    for figure, columns in rows.items():
        print(f"| {figure} | {columns.get('before', '-')} | {columns.get('after', '-')} |")


if __name__ == "__main__":
    asyncio.run(main())
