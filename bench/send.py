"""The send activity's own cost, without Temporal or HTTP (run by hand).

    python -m bench.send [--sends 800] [--rounds 3] [--against PATH] [--postgres URL]
                         [--profile FILE]

Each round runs, in a fresh process, `--sends` sends of a transactional email through the
outbox (claim, Liquid, provider, answer: `activities.delivery.Delivery.send_message` in
Temporal's activity environment) on a scratch SQLite file or PostgreSQL database, and reports
the CPU and wall time a send took. With `--against PATH` (a worktree of another commit) its
rounds are interleaved with ours, so the machine's drift falls on both alike, and the table
ends with the ratio of the medians. `--profile FILE` writes cProfile stats of one more round
of ours, not counted. The CPU is the measuring process's (its aiosqlite thread and SQLite
included; on PostgreSQL, the server's is not).
"""

import argparse
import asyncio
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent


async def _sends(count: int, database: str, profile: str | None) -> dict[str, float]:
    # Imported here, after `_child` put the checkout being measured first on the path.
    import cProfile

    from temporalio.testing import ActivityEnvironment

    from activities.channels.outbox import OutboxChannel
    from activities.delivery import Delivery
    from store import customers, migrate
    from store.db import create_engine, session_factory, write_gate
    from store.places import ensure_place
    from store.tables import Template
    from workflows.contracts import EventInfo, JourneyInfo, SendInput

    await migrate.upgrade_async(database)
    engine = create_engine(database, 20)
    sessions = session_factory(engine)
    async with sessions() as session:
        await ensure_place(session, 1)
        profile_of_zoe = {"email": "zoe@example.com", "attributes": {"first_name": "Zoë"}}
        await customers.upsert(session, 1, 7, profile_of_zoe)
        template = Template(
            place_id=1,
            name="Receipt",
            channel="email",
            subject="Thanks, {{ customer.first_name }}",
            body="Hello {{ customer.first_name }}, your order is on its way.",
            category="transactional",
            created=0,
            updated=0,
        )
        session.add(template)
        await session.commit()
        assert template.id is not None
        template_id = template.id
    delivery = Delivery(sessions, {"email": OutboxChannel()}, write_gate(engine))
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(
        environment.info,
        scheduled_time=datetime.now(UTC),
        schedule_to_close_timeout=timedelta(hours=24),
        heartbeat_timeout=timedelta(seconds=10),
    )

    def request(index: int) -> Any:
        return SendInput(
            place_id=1,
            customer_id=7,
            channel="email",
            template_id=template_id,
            idempotency_key=f"bench-{index}",
            journey=JourneyInfo(id=1, name="Receipts", version=1),
            execution_id=f"bench-{index}",
            state="send",
            event=EventInfo(name="order.created", id=f"order-{index}", data={}),
            quiet_hours_at=datetime.now(UTC),
        )

    for index in range(50):  # warm: compiled statements, parsed template, connections
        await environment.run(delivery.send_message, request(-index - 1))
    profiler = cProfile.Profile() if profile else None
    cpu, wall = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    for index in range(count):
        sent = await environment.run(delivery.send_message, request(index))
        assert sent.status == "sent", sent
    if profiler:
        profiler.disable()
        profiler.dump_stats(str(profile))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await engine.dispose()
    return {"cpu_ms": 1000 * cpu / count, "wall_ms": 1000 * wall / count}


def _child(arguments: argparse.Namespace) -> None:
    sys.path.insert(0, str(Path(arguments.project).resolve()))
    with tempfile.TemporaryDirectory(prefix="journeys-bench-send-") as scratch:
        database = arguments.database or f"sqlite+aiosqlite:///{scratch}/journeys.db"
        result = asyncio.run(_sends(arguments.sends, database, arguments.profile))
    print(json.dumps(result))


def _round(project: Path, arguments: argparse.Namespace, profile: str | None) -> dict[str, float]:
    from bench.stack import drop_postgres, scratch_postgres

    database = asyncio.run(scratch_postgres(arguments.postgres)) if arguments.postgres else ""
    command = [sys.executable, str(Path(__file__).resolve()), "--child"]
    command += ["--project", str(project), "--sends", str(arguments.sends)]
    if database:
        command += ["--database", database]
    if profile:
        command += ["--profile", profile]
    try:
        # The measured checkout first on the path, and nothing of ours in its way.
        env = {**os.environ, "PYTHONPATH": str(project)}
        done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    finally:
        if database:
            asyncio.run(drop_postgres(database))
    if done.returncode != 0:
        raise SystemExit(f"the round in {project} failed:\n{done.stderr[-3000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sends", type=int, default=800)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--against", type=Path, help="a checkout (worktree) to compare with")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server to use")
    parser.add_argument("--profile", metavar="FILE", help="cProfile of one more round")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--project", default=str(HERE), help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        _child(arguments)
        return
    sides = {"ours": HERE, **({"against": arguments.against} if arguments.against else {})}
    print(f"backend: {'PostgreSQL' if arguments.postgres else 'SQLite'}")
    results: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
    for number in range(arguments.rounds):
        # Each side first in every other round: what runs second gets a warmer machine.
        order = list(sides.items()) if number % 2 == 0 else list(sides.items())[::-1]
        for side, project in order:
            result = _round(project, arguments, None)
            results[side].append(result)
            cpu, wall = result["cpu_ms"], result["wall_ms"]
            print(f"  {side}: {cpu:.2f} ms CPU, {wall:.2f} ms wall a send")
    if arguments.profile:
        # A round of its own, not counted: cProfile slows what it watches.
        _round(HERE, arguments, str(Path(arguments.profile).resolve()))
        print(f"  profile of one more round of ours: {arguments.profile}")
    medians = {side: statistics.median(r["cpu_ms"] for r in rs) for side, rs in results.items()}
    for side, median in medians.items():
        print(f"{side} ({sides[side]}): median {median:.2f} ms CPU a send")
    if "against" in medians:
        print(f"ours / against: {medians['ours'] / medians['against']:.2f}")


if __name__ == "__main__":
    main()
