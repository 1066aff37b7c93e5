"""`python -m bench`: the product against bare Temporal, scenario by scenario (issue 19).

    python -m bench [--quick] [--postgres URL] [--profiles DIR] [--only N ...] [--fan-out N]
                    [--project PATH]

Starts its own `journeys dev` on free ports (SQLite, or a scratch database on the --postgres
server) and a bare worker process beside it on the same Temporal server, runs each scenario
against both, rounds interleaved (ours, bare, ours, bare) so drift on the machine hits both,
and prints one table: scenario, ours, bare, ratio (the median of the pairs' ratios), goal,
p50/p99 latency, peak RSS of the API and the worker, the Temporal server's CPU ms per
execution. Its last line is `worst ratio: X.XX`.

1. journey throughput (`bench.throughput`), 2. event ingest and 3. fan-out
(`bench.starts`), 4. waiting (`bench.waiting.headline`), 5. reads (`bench.reads`).
py-spy profiles of the API and the worker for 1-3 go to DIR (default `bench-profiles/`),
`<scenario>-<role>.txt`, collapsed stacks; the table is followed by where each spent its time.
"""

import argparse
import dataclasses
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench.bare import bare_worker
from bench.compare import Row, Stack, clients, hot_spots, show
from bench.reads import reads
from bench.stack import Dev, on_dev
from bench.starts import fan_out, ingest
from bench.throughput import import_customers, throughput
from bench.waiting import headline
from journeys.settings import database_url


@dataclass(frozen=True)
class Sizes:
    executions: int  # 1: executions a round
    rounds: int  # 1 and 2: pairs of rounds
    events: int  # 2: events a round
    paced: int  # 2: events at half the saturating rate
    customers: int  # 3: the fan-out's audience
    fan_out_rounds: int
    waiters: int  # 4
    window: float
    wakes: int
    read_seconds: float  # 5: per endpoint
    read_rate: float


QUICK = Sizes(200, 2, 500, 200, 1_000, 1, 200, 10, 20, 6, 10)
# Full: about 13 minutes on 2 cores; `--fan-out 20000` is the size (about 20 more).
FULL = Sizes(400, 3, 1_000, 1_000, 4_000, 1, 500, 30, 50, 15, 10)
CONCURRENCY = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller scenarios: under 5 minutes")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server URL to use")
    parser.add_argument("--profiles", type=Path, default=Path("bench-profiles"))
    parser.add_argument("--only", type=int, nargs="*", choices=range(1, 6), help="scenarios")
    parser.add_argument("--fan-out", type=int, metavar="N", help="customers of scenario 3")
    parser.add_argument(
        "--project",
        type=Path,
        help="run the stack from this checkout (a worktree of an older commit)",
    )
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    if args.fan_out:
        sizes = dataclasses.replace(sizes, customers=args.fan_out)
    chosen = set(args.only or range(1, 6))
    began = time.monotonic()
    for old in args.profiles.glob("*.txt"):
        old.unlink()

    async def work(dev: Dev) -> None:
        database = dev.env.get("JOURNEYS_DATABASE_URL") or database_url(dev.data_dir)
        queue = f"bench-bare-{uuid.uuid4().hex[:8]}"
        rows: list[Row] = []
        with bare_worker(dev.temporal, queue, database) as bare:
            async with clients(dev) as (client, http):
                stack = Stack(dev, client, http, bare)
                stack.profiles = args.profiles
                stack.sampler.start()
                try:
                    if chosen & {1, 2}:
                        await import_customers(stack)
                    if 1 in chosen:
                        rows.append(
                            await throughput(
                                stack, queue, sizes.executions, sizes.rounds, CONCURRENCY
                            )
                        )
                    if 2 in chosen:
                        rows.append(
                            await ingest(
                                stack, queue, sizes.events, sizes.rounds, CONCURRENCY, sizes.paced
                            )
                        )
                    if 3 in chosen or 5 in chosen:
                        row, journey = await fan_out(
                            stack, queue, sizes.customers, sizes.fan_out_rounds
                        )
                        if 3 in chosen:
                            rows.append(row)
                    if 4 in chosen:
                        stack.peak()
                        rows.append(await headline(dev, sizes.waiters, sizes.window, sizes.wakes))
                        rows[-1].rss = stack.peak()
                    if 5 in chosen:
                        executions = sizes.customers * sizes.fan_out_rounds
                        rows += await reads(
                            stack, journey, executions, sizes.read_rate, sizes.read_seconds
                        )
                finally:
                    stack.sampler.done.set()
        worst = show(rows)
        _hot_spots(args.profiles)
        print(f"\n{time.monotonic() - began:.0f} s in all")
        print(f"worst ratio: {worst:.2f}" if worst is not None else "worst ratio: -")

    on_dev(args.postgres, work, project=args.project)


def _hot_spots(profiles: Path) -> None:
    for path in sorted(profiles.glob("*.txt")):
        spots = hot_spots(path)
        if not spots:
            continue
        print(f"\n{path}: where the busy samples went")
        for frame, share in spots:
            print(f"  {share * 100:5.1f} %  {frame}")


if __name__ == "__main__":
    main()
