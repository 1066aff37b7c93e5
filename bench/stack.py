"""What the benchmarks share: `journeys dev` on scratch ports, a scratch PostgreSQL database,
and sampling the stack's processes (RSS, CPU) through /proc."""

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

KEY = "bench-key"
PLACE = 42
_PR_SET_PDEATHSIG = 1
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    # Fields after the command: state is [0], so utime (14th in proc(5)) is [11], stime [12].
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def children_of(pid: int) -> dict[str, int]:
    """The dev stack's children by role (api, worker, temporal), found through /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid != pid:
            continue
        for role in ("api", "worker"):
            if role.encode() in cmdline[2:6] and {b"cli", b"journeys.cli"} & set(cmdline[1:5]):
                found[role] = int(entry.name)
        if cmdline[1:3] == [b"server", b"start-dev"]:
            found["temporal"] = int(entry.name)
    return found


class PeakRss(threading.Thread):
    def __init__(self, pids: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.peak = dict.fromkeys(pids, 0.0)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            for role, pid in self.pids.items():
                self.peak[role] = max(self.peak[role], rss_mb(pid))


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if the benchmark dies without stopping the
    # stack, the supervisor gets SIGTERM and stops its own children.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _cli(project: Path | None) -> list[str]:
    """The `journeys` command of the checkout that runs (before the move into packages, an
    older one has `cli.py` at its root)."""
    if project is not None and (project / "cli.py").exists():
        return [sys.executable, "-m", "cli"]
    return [sys.executable, "-P", "-m", "journeys.cli"]


class Dev:
    """`journeys dev` on scratch ports with `data_dir`; `env` is the whole environment.

    `project`: run the stack from that checkout (cwd and PYTHONPATH), so its code is what
    runs rather than the one the virtualenv's editable install points at. Use as a context
    manager (or call `stop`): the stack stops on the way out, however it is left."""

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str],
        project: Path | None = None,
        start_timeout: float = 180,
    ) -> None:
        self.port, self.temporal_port = free_port(), free_port()
        self.data_dir = data_dir
        if project is not None:
            path = os.pathsep.join(p for p in (str(project), env.get("PYTHONPATH")) if p)
            env = {**env, "PYTHONPATH": path}
        self.env, self.cwd = env, project
        command = [*_cli(project), "dev", "--api-key", KEY]
        command += ["--port", str(self.port), "--temporal-port", str(self.temporal_port)]
        command += ["--ui-port", str(free_port()), "--data-dir", str(data_dir)]
        self.process = subprocess.Popen(
            command,
            env=env,
            cwd=project,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=_die_with_parent,
        )
        # Bounded: a stack that never comes up is stopped, which ends its output.
        timer = threading.Timer(start_timeout, self.process.kill)
        timer.start()
        said = []
        try:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                said.append(line)
                if line.startswith("Press Ctrl-C"):
                    break
            else:
                raise SystemExit("journeys dev did not start:\n" + "".join(said[-20:]))
        except BaseException:
            timer.cancel()
            self.stop()
            raise
        timer.cancel()
        self.api_url = f"http://127.0.0.1:{self.port}"
        self.temporal = f"127.0.0.1:{self.temporal_port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            # Its children get SIGTERM from the kernel when it dies (PR_SET_PDEATHSIG).
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> "Dev":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


async def scratch_postgres(url: str) -> str:
    name = f"journeys_bench_{uuid.uuid4().hex[:8]}"
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def drop_postgres(url: str) -> None:
    parsed = make_url(url)
    dsn = parsed.set(drivername="postgresql", database="postgres")
    admin = await asyncpg.connect(dsn.render_as_string(hide_password=False))
    await admin.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
    await admin.close()


def on_dev(
    postgres: str | None,
    work: Callable[[Dev], Coroutine[Any, Any, None]],
    env: dict[str, str] | None = None,
    label: str = "",
    project: Path | None = None,
) -> None:
    """Run `work` against `journeys dev` on a scratch data dir: SQLite, or a scratch
    database on the `postgres` server (dropped afterwards); from `project`'s checkout if
    given (see `Dev`)."""
    environment = {k: v for k, v in os.environ.items() if k != "JOURNEYS_DATABASE_URL"}
    environment.update(env or {})
    database = asyncio.run(scratch_postgres(postgres)) if postgres else None
    if database:
        environment["JOURNEYS_DATABASE_URL"] = database
    with tempfile.TemporaryDirectory(prefix="journeys-bench-") as scratch:
        print(f"backend: {'PostgreSQL' if database else 'SQLite'}{label}")
        try:
            with Dev(Path(scratch), environment, project=project) as dev:
                asyncio.run(work(dev))
        finally:
            if database:
                asyncio.run(drop_postgres(database))
