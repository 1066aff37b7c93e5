"""The quick soak (`python -m bench.soak --quick`): the real stack as processes, under load and
faults, on SQLite and on PostgreSQL (when reachable; required when
JOURNEYS_TEST_REQUIRE_POSTGRES=1). Each test reads its backend's ledger and asserts every
scenario's expectations (no message lost or logged twice, no duplicate delivery, the faults
done, 503 rather than 500, every execution ended …).

Both backends run at the same time, each in a soak process of its own, and share the
scenarios out (1.5 to 2.5 minutes on a 2-core machine, by how busy it is, instead of 3 to 4): both
take the load and the database outage (they differ by backend), SQLite the worker kills and
the Temporal restart, PostgreSQL the SMTP outage and the API kills. Without PostgreSQL,
SQLite runs all six; JOURNEYS_TEST_SOAK_ALL=1 runs all six on both."""

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import asyncpg
import pytest

from tests.fixtures.database import POSTGRES_URL, REQUIRE_POSTGRES, asyncpg_dsn

ROOT = Path(__file__).resolve().parents[1]
ALL = ["load", "worker-kill", "temporal-restart", "db-down", "smtp-down", "api-kill"]
SHARED = {
    "sqlite": ["load", "worker-kill", "temporal-restart", "db-down"],
    "postgresql": ["load", "db-down", "smtp-down", "api-kill"],
}
# The quick soak takes a few minutes on a busy 2-core machine; this bounds a stuck one.
LIMIT_SECONDS = 600


def _postgres_reachable() -> str | None:
    """Why PostgreSQL can't be used, or None if it can."""

    async def probe() -> None:
        connection = await asyncpg.connect(asyncpg_dsn(POSTGRES_URL), timeout=5)
        await connection.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        return f"PostgreSQL is not reachable at {POSTGRES_URL}: {error}"
    return None


@dataclass
class SoakRun:
    backend: str
    process: subprocess.Popen[bytes] | None
    ledger: Path
    output: Path
    run_dir: Path
    scenarios: list[str]
    skipped: str | None = None
    started: float = 0.0

    def result(self) -> dict[str, Any]:
        if self.skipped:
            if self.backend == "postgresql" and REQUIRE_POSTGRES:
                pytest.fail(f"PostgreSQL is required: {self.skipped}")
            pytest.skip(self.skipped)
        assert self.process is not None
        left = max(1.0, LIMIT_SECONDS - (time.monotonic() - self.started))
        try:
            self.process.wait(timeout=left)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            self.process.wait(timeout=60)
            pytest.fail(f"the soak took over {LIMIT_SECONDS} s:\n{self.tail()}")
        assert self.ledger.exists(), f"no ledger (exit {self.process.returncode}):\n{self.tail()}"
        return dict(json.loads(self.ledger.read_text()))

    def tail(self, lines: int = 80) -> str:
        text = self.output.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # the soak stops its own stack on SIGTERM
            try:
                self.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _start(backend: str, directory: Path, postgres: str | None, scenarios: list[str]) -> SoakRun:
    run = SoakRun(
        backend=backend,
        process=None,
        ledger=directory / "ledger.json",
        output=directory / "soak.out",
        run_dir=directory / "run",
        scenarios=scenarios,
    )
    command = [sys.executable, "-m", "bench.soak", "--quick", "--json", str(run.ledger)]
    command += ["--run-dir", str(run.run_dir)]
    for scenario in scenarios:
        command += ["--scenario", scenario]
    if postgres:
        command += ["--postgres", postgres]
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEYS_")}
    out: IO[bytes]
    with run.output.open("wb") as out:
        run.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
    run.started = time.monotonic()
    return run


@pytest.fixture(scope="module")
def soaks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SoakRun]]:
    """Both backends' quick soaks, started together."""
    problem = _postgres_reachable()
    everything = problem is not None or os.environ.get("JOURNEYS_TEST_SOAK_ALL") == "1"

    def pick(backend: str) -> list[str]:
        return ALL if everything else SHARED[backend]

    directory = tmp_path_factory.mktemp("soak-sqlite")
    runs = {"sqlite": _start("sqlite", directory, None, pick("sqlite"))}
    directory = tmp_path_factory.mktemp("soak-pg")
    if problem is None:
        runs["postgresql"] = _start("postgresql", directory, POSTGRES_URL, pick("postgresql"))
    else:
        runs["postgresql"] = SoakRun(
            "postgresql",
            None,
            directory / "ledger.json",
            directory / "soak.out",
            directory,
            [],
            skipped=problem,
        )
    try:
        yield runs
    finally:
        for run in runs.values():
            run.stop()


@pytest.mark.timeout(LIMIT_SECONDS + 120)
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_quick_soak_keeps_its_promises(soaks: dict[str, SoakRun], backend: str) -> None:
    run = soaks[backend]
    ledger = run.result()
    scenarios = {s["scenario"]: s for s in ledger["scenarios"]}
    assert list(scenarios) == run.scenarios, run.tail()
    broken = []
    for name, scenario in scenarios.items():
        if scenario["error"]:
            broken.append(f"{name}: {scenario['error']}")
        broken += [
            f"{name}: expected {e['what']}, got {e['got']}"
            for e in scenario["expectations"]
            if not e["ok"]
        ]
    assert not broken, (
        f"{len(broken)} broken promises ({backend}; logs in {run.run_dir}):\n"
        + "\n".join(broken)
        + f"\n\n{run.tail(200)}"
    )
    # Each scenario did what it claims: events went in, messages came out, faults happened.
    for name, scenario in scenarios.items():
        assert scenario["events_sent"] > 0 and scenario["messages_expected"] > 0, name
        assert scenario["lost"] == 0 and scenario["log_duplicates"] == 0, name
    if "worker-kill" in scenarios:
        assert len([f for f in scenarios["worker-kill"]["faults"] if "SIGKILLed" in f]) == 3
    if "api-kill" in scenarios:
        assert any("SIGKILLed" in f for f in scenarios["api-kill"]["faults"])
    assert ledger["exit"] == 0, run.tail()
