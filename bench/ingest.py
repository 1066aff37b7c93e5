"""The event path against a bare Temporal start loop, interleaved (issue 12; run by hand).

    python -m bench.ingest [--events N] [--rounds R] [--concurrency 4,32] [--customers C]
                           [--postgres URL] [--project PATH] [--keep]

Starts `journeys dev` on scratch ports and a scratch data dir (SQLite, or a scratch
PostgreSQL database with --postgres, dropped at the end), creates and starts one journey
triggered by `order.created` that parks on a one-day wait, then, at each concurrency C, runs
R pairs of rounds against the same server: N `POST /places/42/events` (one event each, a
distinct event id, one of --customers customers, with an email profile), then N bare
`client.start_workflow` of a type nobody runs (on a task queue nobody polls, with the id
policies `launcher.start` uses) — alternating, so that noise on the machine hits both.
Between rounds it waits (at most --settle s) for the stack to go quiet, so the worker's
backlog of first steps from an events round does not land on the next bare round.

For each round and mode it prints the rate of successful operations, p50/p99 latency, the
non-2xx answers (5xx loudly, with sample bodies), and the CPU the API, the worker and the
Temporal server spent per operation; then the events/bare rate ratio per round and the median
ratio, a summary table, the API's peak RSS, a check that visibility holds one execution per
accepted event, and the warnings and errors in the stack's logs. Exit status 1 if any
operation failed.

`--project PATH` runs the stack from another checkout (e.g. a `git worktree` of an older
commit): its cwd and PYTHONPATH are PATH, so that code runs, not the one the virtualenv's
editable install points at (the script checks which `api/events.py` the stack imports).
"""

import argparse
import asyncio
import contextlib
import math
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError

from bench.stack import (
    KEY,
    PLACE,
    Dev,
    PeakRss,
    children_of,
    cpu_seconds,
    drop_postgres,
    scratch_postgres,
)

TRIGGER = "order.created"
# Executions park on the timer, so the figure is the start path, not delivery.
PARKED = {
    "initial": "wait",
    "states": {
        "wait": {"meta": {"type": "wait_for_duration", "days": 1}, "on": {"ELAPSED": "done"}},
        "done": {"type": "final"},
    },
}
BARE_TYPE = "BenchBare"
ROLES = ("api", "worker", "temporal")
HTTP_TIMEOUT = 60.0
SAMPLE_BODIES = 5
LOG_LINE = re.compile(r"^\S+ \S+ (WARNING|ERROR|CRITICAL) (\S+) (.*)$")
TEMPORAL_LINE = re.compile(r'level=(WARN|ERROR)\S* msg="((?:[^"\\]|\\.)*)"')
TEMPORAL_ERROR = re.compile(r'error="((?:[^"\\]|\\.)*)"')
NUMBERS = re.compile(r"[0-9a-f-]{8,}|\d+")  # ids and counts, so alike messages group


@dataclass
class Round:
    mode: str  # "events" or "bare"
    concurrency: int
    index: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # every answered operation's
    outcomes: Counter[str] = field(default_factory=Counter)  # "202", "500", "ReadTimeout", …
    cpu: dict[str, float] = field(default_factory=dict)  # role -> CPU seconds in the round
    settled: float = 0.0  # seconds waited for the stack to go quiet afterwards

    @property
    def ok(self) -> int:
        return sum(n for outcome, n in self.outcomes.items() if _ok(outcome))

    @property
    def failed(self) -> int:
        return sum(self.outcomes.values()) - self.ok

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


def _ok(outcome: str) -> bool:
    return outcome == "ok" or (outcome.isdigit() and 200 <= int(outcome) < 300)


def _is_5xx(outcome: str) -> bool:
    return outcome.isdigit() and int(outcome) >= 500


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class Sampler(PeakRss):
    """Peak RSS of the stack's processes every 0.2 s; CPU read on demand."""

    def cpu(self) -> dict[str, float]:
        return {role: cpu_seconds(pid) for role, pid in self.pids.items()}

    async def settle(self, limit: float, idle: float = 0.15) -> float:
        """Wait until the stack uses under `idle` of a core over 0.5 s (at most `limit` s)."""
        began = time.monotonic()
        while time.monotonic() - began < limit:
            before = sum(self.cpu().values())
            await asyncio.sleep(0.5)
            if sum(self.cpu().values()) - before < idle * 0.5:
                break
        return time.monotonic() - began


class Bench:
    def __init__(
        self, args: argparse.Namespace, http: httpx.AsyncClient, client: Client, sampler: Sampler
    ) -> None:
        self.args, self.http, self.client, self.sampler = args, http, client, sampler
        self.tag = uuid.uuid4().hex[:8]
        self.queue = f"bench-bare-{self.tag}"
        self.serial = 0
        self.customers = random.Random(12)
        self.bodies: list[str] = []  # a few non-2xx answers, to show
        self.untriggered = 0  # 2xx answers that started no execution

    def _next(self) -> int:
        self.serial += 1
        return self.serial

    async def event(self) -> str:
        n = self._next()
        customer = self.customers.randint(1, self.args.customers)
        body: dict[str, Any] = {
            "event": TRIGGER,
            "customer_id": customer,
            "event_id": f"bench-{self.tag}-{n}",
        }
        if self.args.profile:
            body["customer"] = {"email": f"customer{customer}@example.com"}
        response = await self.http.post(f"/places/{PLACE}/events", json=body)
        if response.is_success:
            if response.json().get("triggered") != 1:
                self.untriggered += 1
        elif len(self.bodies) < SAMPLE_BODIES:
            self.bodies.append(f"HTTP {response.status_code}: {response.text[:300]}")
        return str(response.status_code)

    async def bare(self) -> str:
        n = self._next()
        await self.client.start_workflow(
            BARE_TYPE,
            id=f"{self.queue}-{n}",
            task_queue=self.queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
        return "ok"

    async def drive(self, mode: str, ops: int, concurrency: int, index: int) -> Round:
        """`ops` operations, `concurrency` in flight at a time; bounded by --round-timeout."""
        operation: Callable[[], Awaitable[str]] = self.event if mode == "events" else self.bare
        result = Round(mode, concurrency, index)
        todo: Iterator[int] = iter(range(ops))

        async def lane() -> None:
            for _ in todo:
                began = time.perf_counter()
                try:
                    outcome = await operation()
                except Exception as error:  # counted and shown: a failure is a finding
                    outcome = type(error).__name__
                    if len(self.bodies) < SAMPLE_BODIES:
                        self.bodies.append(f"{mode}: {outcome}: {error}"[:300])
                result.latencies.append(time.perf_counter() - began)
                result.outcomes[outcome] += 1

        cpu = self.sampler.cpu()
        began = time.monotonic()
        try:
            async with asyncio.timeout(self.args.round_timeout):
                await asyncio.gather(*(lane() for _ in range(concurrency)))
        except TimeoutError:
            result.outcomes["unfinished (round timed out)"] += ops - sum(result.outcomes.values())
        result.seconds = time.monotonic() - began
        after = self.sampler.cpu()
        result.cpu = {role: after[role] - cpu[role] for role in cpu}
        result.settled = await self.sampler.settle(self.args.settle)
        return result


def show_round(r: Round) -> None:
    failed = "" if not r.failed else f"  FAILED {dict(r.outcomes - Counter(_ok_only(r)))}"
    loud = "  <<< 5xx >>>" if any(_is_5xx(o) for o in r.outcomes) else ""
    cpu = "/".join(f"{1000 * r.cpu.get(role, 0.0) / max(r.ok, 1):.1f}" for role in ROLES)
    print(
        f"  c={r.concurrency:<3} round {r.index}  {r.mode:<6} {r.rate:7.1f} ops/s  "
        f"p50 {1000 * percentile(r.latencies, 50):6.1f} ms  "
        f"p99 {1000 * percentile(r.latencies, 99):6.1f} ms  "
        f"CPU ms/op api/worker/temporal {cpu}  settled {r.settled:4.1f} s{failed}{loud}",
        flush=True,
    )


def _ok_only(r: Round) -> dict[str, int]:
    return {outcome: n for outcome, n in r.outcomes.items() if _ok(outcome)}


def summary(rounds: list[Round], concurrencies: list[int], peak_api: float) -> None:
    print()
    print(
        "summary (ops/s: median of the rounds [min-max]; latency: over all the rounds' "
        "operations; failed: non-2xx answers, or errors of the call)"
    )
    head = (
        f"{'c':>3}  {'mode':<6} {'ops/s':>7} {'[min-max]':>13} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'failed':>7} {'5xx':>4}  {'API CPU%':>8}  {'CPU ms/op api/worker/temporal':>29}"
    )
    print(head)
    print("-" * len(head))
    for c in concurrencies:
        for mode in ("events", "bare"):
            mine = [r for r in rounds if r.concurrency == c and r.mode == mode]
            if not mine:
                continue
            rates = [r.rate for r in mine]
            latencies = [x for r in mine for x in r.latencies]
            ok = sum(r.ok for r in mine)
            failed = sum(r.failed for r in mine)
            fives = sum(n for r in mine for o, n in r.outcomes.items() if _is_5xx(o))
            seconds = sum(r.seconds for r in mine)
            cpu = {role: sum(r.cpu.get(role, 0.0) for r in mine) for role in ROLES}
            per_op = "/".join(f"{1000 * cpu[role] / max(ok, 1):.1f}" for role in ROLES)
            api_busy = 100 * cpu["api"] / seconds if seconds else 0.0
            spread = f"[{min(rates):.0f}-{max(rates):.0f}]"
            print(
                f"{c:>3}  {mode:<6} {statistics.median(rates):7.1f} {spread:>13} "
                f"{1000 * percentile(latencies, 50):7.1f} {1000 * percentile(latencies, 99):7.1f} "
                f"{failed:>7} {fives:>4}  {api_busy:7.0f}%  {per_op:>29}"
            )
        ratios = ratios_at(rounds, c)
        if ratios:
            shown = ", ".join(f"{x:.2f}" for x in ratios)
            print(
                f"{c:>3}  events/bare rate ratio per round: {shown}; "
                f"median {statistics.median(ratios):.2f}"
            )
    print(f"peak RSS of the API process: {peak_api:.0f} MB")


def ratios_at(rounds: list[Round], concurrency: int) -> list[float]:
    events = {r.index: r for r in rounds if r.concurrency == concurrency and r.mode == "events"}
    bare = {r.index: r for r in rounds if r.concurrency == concurrency and r.mode == "bare"}
    return [events[i].rate / bare[i].rate for i in sorted(events) if i in bare and bare[i].rate > 0]


async def create_journey(http: httpx.AsyncClient) -> int:
    created = await http.post(
        f"/places/{PLACE}/journeys",
        json={"name": "ingest bench", "trigger_event": TRIGGER, "machine_config": PARKED},
    )
    created.raise_for_status()
    journey_id = int(next(iter(created.json()["node.journey_definition"].values()))["id"])
    started = await http.post(f"/places/{PLACE}/journeys/{journey_id}/start")
    started.raise_for_status()
    return journey_id


async def count(client: Client, query: str, expected: int, wait: float = 60) -> int:
    """The executions visibility shows for `query`, once it reaches `expected` (or `wait` s)."""
    deadline = time.monotonic() + wait
    seen = -1
    while time.monotonic() < deadline:
        with contextlib.suppress(RPCError):
            seen = (await client.count_workflows(query, rpc_timeout=timedelta(seconds=30))).count
        if seen >= expected:
            break
        await asyncio.sleep(1)
    return seen


async def bench(dev: Dev, args: argparse.Namespace) -> int:
    """Run the rounds and print them; the number of failed operations."""
    pids = children_of(dev.process.pid)
    missing = [role for role in ROLES if role not in pids]
    if missing:
        raise SystemExit(f"could not find the stack's {', '.join(missing)} process")
    sampler = Sampler(pids)
    sampler.start()
    concurrencies = args.concurrency
    limits = httpx.Limits(max_connections=max(concurrencies), max_keepalive_connections=None)
    client = await Client.connect(dev.temporal)
    rounds: list[Round] = []
    try:
        async with httpx.AsyncClient(
            base_url=dev.api_url, headers={"Api-Key": KEY}, timeout=HTTP_TIMEOUT, limits=limits
        ) as http:
            journey_id = await create_journey(http)
            runner = Bench(args, http, client, sampler)
            if args.warmup:
                for mode in ("events", "bare"):
                    warm = await runner.drive(mode, args.warmup, max(concurrencies), 0)
                    print(f"  warm-up: {args.warmup} {mode} ({warm.rate:.0f}/s), not counted")
                    rounds.append(warm)
            for c in concurrencies:
                for index in range(1, args.rounds + 1):
                    for mode in ("events", "bare"):
                        measured = await runner.drive(mode, args.events, c, index)
                        show_round(measured)
                        rounds.append(measured)
            timed = [r for r in rounds if r.index > 0]
            summary(timed, concurrencies, sampler.peak["api"])

            accepted = sum(r.ok for r in rounds if r.mode == "events")
            query = f"WorkflowType = 'JourneyExecution' AND JourneyId = {journey_id}"
            seen = await count(client, query, accepted)
            note = "" if seen == accepted else "  <<< MISMATCH >>>"
            print(f"visibility: {seen} executions of the journey, {accepted} events accepted{note}")
            if runner.untriggered:
                print(f"!!! {runner.untriggered} accepted events started no execution")
            failed = sum(r.failed for r in rounds)
            fives = sum(n for r in rounds for o, n in r.outcomes.items() if _is_5xx(o))
            if failed:
                print()
                print(f"!!! {failed} operations failed, {fives} of them with HTTP 5xx")
                all_outcomes: Counter[str] = Counter()
                for r in rounds:
                    all_outcomes.update(r.outcomes)
                print(f"!!! outcomes: {dict(all_outcomes)}")
                for body in runner.bodies:
                    print(f"!!!   {body}")
            return failed + runner.untriggered
    finally:
        sampler.done.set()
        sampler.join()


def log_sizes(logs: Path) -> dict[str, int]:
    return {name: _size(logs / f"{name}.log") for name in ROLES}


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def scan_logs(logs: Path, measured: dict[str, int]) -> None:
    """The warnings and errors each process logged, grouped by logger and message start:
    up to the end of the measurement (sizes in `measured`), then while the stack stopped."""
    for name in ROLES:
        try:
            data = (logs / f"{name}.log").read_bytes()
        except OSError:
            continue
        cut = measured.get(name, len(data))
        for when, part in (("during the run", data[:cut]), ("while stopping", data[cut:])):
            found = _problems(name, part.decode(errors="replace").splitlines())
            if when == "during the run" or found:
                total = sum(found.values())
                print(f"{name}.log {when}: {total} warnings/errors/tracebacks")
            for message, n in found.most_common(6):
                print(f"  {n:>6}x {message}")


def _problems(name: str, lines: list[str]) -> Counter[str]:
    found: Counter[str] = Counter()
    for line in lines:
        if line.startswith(("Traceback", "Fatal Python error")):
            found[line[:110]] += 1
        elif name == "temporal":
            matched = TEMPORAL_LINE.search(line)
            if matched:
                error = TEMPORAL_ERROR.search(line)
                detail = f" ({error[1][:70]})" if error else ""
                found[f"{matched[1]} {NUMBERS.sub('#', matched[2] + detail)[:150]}"] += 1
        else:
            matched = LOG_LINE.match(line)
            if matched:
                level, logger, message = matched.groups()
                found[f"{level} {logger}: {NUMBERS.sub('#', message)[:100]}"] += 1
    return found


def describe(project: Path | None, env: dict[str, str]) -> str:
    """Which checkout the stack will run: its commit, and the `api/events.py` it imports."""
    where = project or Path.cwd()
    probe = subprocess.run(
        [sys.executable, "-c", "import api.events; print(api.events.__file__)"],
        cwd=project,
        env={**env, "PYTHONPATH": str(where)} if project else env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    imported = probe.stdout.strip() or probe.stderr.strip()[-300:]
    if project and not Path(imported).resolve().is_relative_to(project.resolve()):
        raise SystemExit(f"the stack would import {imported}, not the code in {project}")
    head = subprocess.run(
        ["git", "-C", str(where), "log", "-1", "--format=%h %s"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    dirty = subprocess.run(
        ["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    changed = " (with uncommitted changes)" if dirty.stdout.strip() else ""
    return f"{head.stdout.strip()[:70]}{changed}; imports {imported}"


def concurrency_list(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("a comma-separated list of positive integers")
    return values


def _as_interrupt(_signum: int, _frame: FrameType | None) -> None:
    signal.raise_signal(signal.SIGINT)


def main() -> None:
    # Ctrl-C and SIGTERM unwind (stopping the stack, dropping the database), even when SIGINT
    # came in ignored, as it does for a background job of a non-interactive shell; asyncio.run
    # turns SIGINT into cancelling the benchmark.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _as_interrupt)
    try:
        run(parser_args())
    except KeyboardInterrupt:
        print("interrupted: the stack is stopped", file=sys.stderr)
        sys.exit(130)


def parser_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000, help="operations per round")
    parser.add_argument("--rounds", type=int, default=3, help="round pairs per concurrency")
    parser.add_argument("--concurrency", type=concurrency_list, default=[4, 32])
    parser.add_argument("--customers", type=int, default=10_000, help="customer ids spread")
    parser.add_argument(
        "--no-profile",
        dest="profile",
        action="store_false",
        help="send no `customer` profile (so the API signals no running executions)",
    )
    parser.add_argument("--warmup", type=int, default=100, help="uncounted ops of each mode")
    parser.add_argument("--settle", type=float, default=30, help="max quiet wait between rounds")
    parser.add_argument("--round-timeout", type=float, default=600, help="seconds per round")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server URL to use")
    parser.add_argument("--project", type=Path, help="run the stack from this checkout")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and database")
    return parser.parse_args()


def run(args: argparse.Namespace) -> None:
    project = args.project.resolve() if args.project else None

    env = {k: v for k, v in os.environ.items() if k != "JOURNEYS_DATABASE_URL"}
    code = describe(project, env)
    database = asyncio.run(scratch_postgres(args.postgres)) if args.postgres else None
    if database:
        env["JOURNEYS_DATABASE_URL"] = database
    scratch = Path(tempfile.mkdtemp(prefix="journeys-ingest-"))
    began = time.monotonic()
    failed = 0
    try:
        print(f"code: {code}")
        print(
            f"backend: {'PostgreSQL' if database else 'SQLite'}; {args.events} ops a round, "
            f"{args.rounds} round pairs at concurrency {args.concurrency}, "
            f"{args.customers} customers; load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        with Dev(scratch, env, project) as dev:
            failed = asyncio.run(bench(dev, args))
            measured = log_sizes(scratch / "logs")
        scan_logs(scratch / "logs", measured)
    finally:
        if database and not args.keep:
            asyncio.run(drop_postgres(database))
        if args.keep:
            print(f"kept: data dir {scratch}" + (f", database {database}" if database else ""))
        else:
            shutil.rmtree(scratch, ignore_errors=True)
        print(
            f"took {time.monotonic() - began:.0f} s; load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
