"""`python -m bench`: the product against bare Temporal, scenario by scenario (issue 19).

    python -m bench [--quick] [--postgres URL]

Starts its own `journeys dev` on free ports and prints one table: scenario, ours, bare, ratio,
p50/p99 latency, the Temporal server's CPU seconds per execution; its last line is
`worst ratio: X.XX`. So far: journey throughput (`bench.throughput`); the other scenarios
of issue 19 (event ingest, fan-out, waiting, reads) have benches of their own
(`bench.ingest`, `bench.run_fanout`, `bench.waiting`, `bench.console`) still to be folded in.
"""

import argparse

from bench.ingest import percentile
from bench.stack import Dev, on_dev
from bench.throughput import Round, run_rounds, summary


def _table(rounds: list[Round]) -> float:
    figures = summary(rounds)
    ours = [r for r in rounds if r.mode == "ours"]
    bare = [r for r in rounds if r.mode == "bare"]
    print(
        f"{'scenario':22} {'ours/s':>8} {'bare/s':>8} {'ratio':>6}  "
        "latency p50 / p99 (ours | bare)   server CPU per execution (ours | bare)"
    )
    lat = {m: [x for r in rs for x in r.latencies] for m, rs in (("ours", ours), ("bare", bare))}
    cpu = {
        m: sum(r.server_cpu for r in rs) / max(1, sum(r.executions for r in rs))
        for m, rs in (("ours", ours), ("bare", bare))
    }
    print(
        f"{'journey throughput':22} {figures['ours']:8.1f} {figures['bare']:8.1f} "
        f"{figures['ratio']:6.2f}  "
        f"{percentile(lat['ours'], 50):.2f} / {percentile(lat['ours'], 99):.2f} s | "
        f"{percentile(lat['bare'], 50):.2f} / {percentile(lat['bare'], 99):.2f} s   "
        f"{cpu['ours'] * 1000:.1f} | {cpu['bare'] * 1000:.1f} ms"
    )
    for r in rounds:
        print(f"  round {r.mode}: {r.executions} in {r.seconds:.1f} s = {r.rate:.1f}/s")
    return figures["ratio"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer executions and rounds")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server URL to use")
    args = parser.parse_args()
    executions, rounds = (200, 2) if args.quick else (1000, 3)

    async def work(dev: Dev) -> None:
        measured = await run_rounds(dev, executions, rounds, concurrency=50)
        worst = _table(measured)
        print(f"worst ratio: {worst:.2f}")

    on_dev(args.postgres, work)


if __name__ == "__main__":
    main()
