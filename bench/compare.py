"""What the scenarios of `python -m bench` share: the stack they run on (the product and the
bare worker side by side), interleaved rounds, the table's rows, and py-spy profiles."""

import asyncio
import contextlib
import shutil
import signal
import statistics
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from temporalio.client import Client

from bench.ingest import Sampler, percentile
from bench.stack import KEY, PLACE, Dev, children_of, cpu_seconds

# The processes whose peak RSS and CPU the table shows, by role.
ROLES = ("api", "worker", "temporal", "bare")
PROFILED = ("api", "worker")
PROFILE_RATE = 100  # samples a second


@dataclass
class Round:
    mode: str  # "ours" | "bare"
    executions: int
    seconds: float
    latencies: list[float]  # seconds, one per operation the scenario times
    cpu: dict[str, float]  # CPU seconds each process (by role) spent in the round
    failures: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return self.executions / self.seconds if self.seconds else 0.0

    def said(self, scenario: str) -> "Round":
        """Print the round as it ends (a long bench shows where it is)."""
        failed = f", failures {dict(self.failures)}" if self.failures else ""
        print(
            f"  {scenario} {self.mode}: {self.executions} in {self.seconds:.1f} s = "
            f"{self.rate:.1f}/s{failed}",
            flush=True,
        )
        return self


@dataclass
class Row:
    """One line of the table."""

    scenario: str
    rounds: list[Round] = field(default_factory=list)
    rss: dict[str, float] = field(default_factory=dict)  # peak MB by role, in the scenario
    goal: float | None = 0.8
    note: str = ""
    latency_unit: str = "s"
    rated: bool = True  # False: the row has latencies but no rate to show

    def mode(self, mode: str) -> list[Round]:
        return [r for r in self.rounds if r.mode == mode]

    def rate(self, mode: str) -> float | None:
        rounds = self.mode(mode)
        if not self.rated:
            return None
        return statistics.median(r.rate for r in rounds) if rounds else None

    @property
    def ratio(self) -> float | None:
        """The median of each pair's ratio (a pair ran back to back, so drift cancels)."""
        pairs = [
            o.rate / b.rate
            for o, b in zip(self.mode("ours"), self.mode("bare"), strict=False)
            if b.rate
        ]
        return statistics.median(pairs) if pairs else None

    def latency(self, mode: str) -> str:
        values = [x for r in self.mode(mode) for x in r.latencies]
        if not values:
            return "-"
        scale = 1000 if self.latency_unit == "ms" else 1
        return f"{percentile(values, 50) * scale:.2f}/{percentile(values, 99) * scale:.2f}"

    def cpu(self, mode: str, role: str = "temporal") -> str:
        """CPU ms per execution of the role's process, over the mode's rounds."""
        rounds = self.mode(mode)
        executions = sum(r.executions for r in rounds)
        if not executions or not any(role in r.cpu for r in rounds):
            return "-"
        return f"{1000 * sum(r.cpu.get(role, 0.0) for r in rounds) / executions:.1f}"

    def processes(self) -> str:
        """Each side's CPU per execution, by process."""
        ours = ", ".join(
            f"{role} {self.cpu('ours', role)}" for role in ("api", "worker", "temporal")
        )
        bare = f"worker {self.cpu('bare', 'bare')}, temporal {self.cpu('bare')}"
        return f"CPU ms/execution: ours {ours}; bare {bare}"

    @property
    def failures(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for r in self.rounds:
            total.update(r.failures)
        return total


def show(rows: list[Row]) -> float | None:
    """Print the table; the worst ratio of the rows that have a goal (None if none has)."""
    print()
    head = (
        f"{'scenario':34} {'ours/s':>8} {'bare/s':>8} {'ratio':>6} {'goal':>5}  "
        f"{'p50/p99 ours':>13} {'p50/p99 bare':>13}  {'RSS MB api/worker':>17}  "
        f"{'server CPU ms/ex ours|bare':>26}"
    )
    print(head)
    print("-" * len(head))
    worst = None
    for row in rows:
        ours, bare = row.rate("ours"), row.rate("bare")
        ratio = row.ratio if row.goal is not None else None
        if ratio is not None:
            worst = ratio if worst is None else min(worst, ratio)
        rss = f"{row.rss.get('api', 0):.0f}/{row.rss.get('worker', 0):.0f}"
        print(
            f"{row.scenario:34} {_num(ours):>8} {_num(bare):>8} {_num(ratio, 2):>6} "
            f"{_num(row.goal, 1):>5}  {row.latency('ours'):>13} {row.latency('bare'):>13}  "
            f"{rss:>17}  {row.cpu('ours'):>12} | {row.cpu('bare'):<11}"
        )
        if row.mode("bare") and row.mode("ours")[0].cpu:
            print(f"{'':4}{row.processes()}")
        if row.note:
            print(f"{'':4}{row.note}")
        if row.failures:
            print(f"{'':4}!!! failures: {dict(row.failures)}")
    print("(latency in s, ms for ingest and reads; RSS: peak in the scenario)")
    return worst


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


class Stack:
    """`journeys dev` and the bare worker on one Temporal server, with the clients the
    scenarios drive them through and a sampler of every process's RSS and CPU."""

    def __init__(self, dev: Dev, client: Client, http: httpx.AsyncClient, bare: int) -> None:
        self.dev, self.client, self.http = dev, client, http
        self.pids = {**children_of(dev.process.pid), "bare": bare}
        missing = [role for role in ROLES if role not in self.pids]
        if missing:
            raise SystemExit(f"could not find the stack's {', '.join(missing)} process")
        self.sampler = Sampler(self.pids)
        self.profiles: Path | None = None

    def cpu(self) -> dict[str, float]:
        return {role: cpu_seconds(pid) for role, pid in self.pids.items()}

    def spent(self, since: dict[str, float]) -> dict[str, float]:
        """CPU seconds by role since `since` (a `cpu()` reading)."""
        now = self.cpu()
        return {role: now[role] - since[role] for role in since}

    def peak(self) -> dict[str, float]:
        """The peak RSS by role since the last call (and start again)."""
        peak = dict(self.sampler.peak)
        self.sampler.peak = dict.fromkeys(self.pids, 0.0)
        return peak

    async def settle(self, limit: float = 120) -> float:
        return await self.sampler.settle(limit)

    async def journey(self, name: str, trigger: str, config: Mapping[str, object]) -> int:
        created = await self.http.post(
            f"/places/{PLACE}/journeys",
            json={"name": name, "trigger_event": trigger, "machine_config": config},
        )
        created.raise_for_status()
        journey = int(next(iter(created.json()["node.journey_definition"].values()))["id"])
        if trigger != "manual":
            (await self.http.post(f"/places/{PLACE}/journeys/{journey}/start")).raise_for_status()
        return journey

    @contextlib.contextmanager
    def profiled(self, scenario: str) -> Iterator[None]:
        """py-spy on the API and the worker while the block runs, into
        `<profiles>/<scenario>-<role>.txt` (collapsed stacks; flamegraph.pl and speedscope
        read them)."""
        if self.profiles is None or shutil.which("py-spy") is None:
            yield
            return
        self.profiles.mkdir(parents=True, exist_ok=True)
        spies = []
        for role in PROFILED:
            out = self.profiles / f"{scenario}-{role}.txt"
            command = ["py-spy", "record", "--pid", str(self.pids[role]), "--format", "raw"]
            # --gil: only samples holding the GIL, i.e. Python at work (waits, and SQLite
            # or the Temporal core running outside the GIL, are not counted).
            command += ["--rate", str(PROFILE_RATE), "--gil", "--nonblocking", "--output", str(out)]
            spies.append(
                subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        try:
            yield
        finally:
            for spy in spies:
                spy.send_signal(signal.SIGINT)
            for spy in spies:
                try:
                    spy.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    spy.kill()


async def lanes(
    count: int, concurrency: int, one: Callable[[int], Awaitable[None]]
) -> tuple[list[float], Counter[str]]:
    """Run `one(0..count-1)`, `concurrency` at a time: each call's seconds, and the errors."""
    queue = iter(range(count))
    latencies: list[float] = []
    failures: Counter[str] = Counter()

    async def lane() -> None:
        for index in queue:
            began = time.perf_counter()
            try:
                await one(index)
            except Exception as error:  # counted and shown: a failure is a finding
                failures[_failure(error)] += 1
                continue
            latencies.append(time.perf_counter() - began)

    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return latencies, failures


async def paced(
    count: int, rate: float, one: Callable[[int], Awaitable[None]]
) -> tuple[list[float], Counter[str]]:
    """`one(0..count-1)` started `rate` times a second whatever the answers' pace (an open
    loop, so a slow answer doesn't slow the arrivals)."""
    latencies: list[float] = []
    failures: Counter[str] = Counter()

    async def timed(index: int) -> None:
        began = time.perf_counter()
        try:
            await one(index)
        except Exception as error:
            failures[_failure(error)] += 1
            return
        latencies.append(time.perf_counter() - began)

    began = time.monotonic()
    tasks = []
    for index in range(count):
        await asyncio.sleep(max(0.0, began + index / rate - time.monotonic()))
        tasks.append(asyncio.create_task(timed(index)))
    await asyncio.gather(*tasks)
    return latencies, failures


def _failure(error: Exception) -> str:
    if isinstance(error, httpx.HTTPStatusError):
        return f"HTTP {error.response.status_code}"
    return type(error).__name__


@contextlib.asynccontextmanager
async def clients(dev: Dev) -> AsyncIterator[tuple[Client, httpx.AsyncClient]]:
    client = await Client.connect(dev.temporal)
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=None)
    async with httpx.AsyncClient(
        base_url=dev.api_url, headers={"Api-Key": KEY}, timeout=120, limits=limits
    ) as http:
        yield client, http


def hot_spots(path: Path, top: int = 10) -> list[tuple[str, float]]:
    """Where a collapsed-stack profile's busy samples went: each sample goes to the innermost
    frame of our own code in its stack (so a function's share includes the libraries it
    calls); a sample whose only own frames are the process's entry point (the SDK running
    workflow activations, the event loop, the web server's machinery) goes to the library
    module it was in, in brackets. The `top` biggest shares."""
    if not path.exists():
        return []
    spent: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not samples.isdigit():
            continue
        frames = stack.split(";")
        ours = [i for i, frame in enumerate(frames) if _ours(frame) and not _entry(frame)]
        if ours:
            spent[frames[ours[-1]]] += int(samples)
        else:
            entered = max((i for i, frame in enumerate(frames) if _entry(frame)), default=-1)
            below = frames[entered + 1 :] or frames[-1:]
            spent[f"[{_library(below)}]"] += int(samples)
    total = sum(spent.values())
    return [(frame, count / total) for frame, count in spent.most_common(top)] if total else []


def _where(frame: str) -> str:
    # py-spy names a frame `function (path:line)`, the path relative to where it was found.
    return frame.rpartition(" (")[2]


def _entry(frame: str) -> bool:
    return _where(frame).startswith(("journeys/cli.py:", "worker.py:"))


def _library(frames: list[str]) -> str:
    """The first library module below the entry point worth naming (the SDK by module)."""
    for frame in frames:
        where = _where(frame).partition(":")[0]
        parts = where.split("/")
        if parts[0] == "temporalio":
            return "/".join(parts[:3]).removesuffix(".py")
        if parts[0] and parts[0] not in ("asyncio", "threading.py", "contextlib.py"):
            return parts[0].removesuffix(".py")
    return "the event loop, or native code"


PACKAGES = ("activities", "api", "journeys", "orchestration", "services", "store", "workflows")


def _ours(frame: str) -> bool:
    where = _where(frame)
    return where.split("/", 1)[0] in PACKAGES or where.startswith("worker.py:")
