"""The parts `bench.soak` runs and breaks: the product as separate processes, counting
providers, and the means to take the database away.

- `Child`: one OS process (`temporal server start-dev`, `journeys worker`, `journeys api`) in a
  session of its own, its output appended to `<run dir>/<name>.log`, killed with its parent.
- `SmtpProvider` (aiosmtpd) and `WebhookProvider` (uvicorn) in threads of this process: they
  record every message they accept, keyed by Message-ID / `Idempotency-Key`; the SMTP one can
  be taken down (its port closed: connections refused) and brought back on the same port.
- `TcpProxy`: an asyncio TCP proxy (own thread) between the app and PostgreSQL that can be cut
  (listening socket closed, live connections aborted) and restored on the same port.
- `SqliteLock`: "database unreachable" for a file database, emulated by another connection
  holding `BEGIN EXCLUSIVE` (SQLite has no network to cut).
- `Stack`: all of it wired through `JOURNEYS_*` variables only, started and closed in order.

Everything listens on 127.0.0.1 on ports chosen by the kernel; every wait has a deadline.
"""

import asyncio
import contextlib
import ctypes
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiosmtpd.controller import Controller
from sqlalchemy.engine import make_url

from journeys import devstack
from orchestration.temporal_setup import SEARCH_ATTRIBUTES
from tests.servers import LOOPBACK, HttpServer, Reply, free_port
from tests.servers import Request as HttpRequest

ROOT = Path(__file__).resolve().parents[1]
JOURNEYS = [sys.executable, "-P", "-m", "journeys.cli"]
PLACE = 42
EMAIL_FROM = "Soak <soak@example.com>"
_PR_SET_PDEATHSIG = 1


class StackError(Exception):
    """The stack could not be started or a part of it broke beyond what a scenario expects."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _die_with_parent() -> None:
    # Between fork and exec: the kernel sends SIGKILL to the child when the thread that
    # started it dies (so every child is started from the main thread).
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


async def wait_for(check: Callable[[], Awaitable[bool]], what: str, limit: float) -> float:
    """Poll `check` until true; the seconds it took. Raises `StackError` after `limit`."""
    began = time.monotonic()
    while not await check():
        if time.monotonic() - began > limit:
            raise StackError(f"{what} did not happen within {limit:.0f} s")
        await asyncio.sleep(0.2)
    return time.monotonic() - began


def port_open(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
    except OSError:
        return False


# --- processes --------------------------------------------------------------------------------


@dataclass
class Child:
    """One supervised process; `start` may be called again after it ended (a restart)."""

    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    cwd: Path = ROOT
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    # (when, what): every start, kill, stop and exit this soak saw, for the ledger.
    history: list[tuple[str, str]] = field(default_factory=list)

    def start(self) -> None:
        if self.alive():
            raise StackError(f"{self.name} is already running")
        self.starts += 1
        with self.log.open("ab") as out:
            out.write(
                f"\n----- soak: {self.name} start #{self.starts} at {now_iso()} -----\n".encode()
            )
            out.flush()
            self.process = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self.history.append((now_iso(), f"started (pid {self.process.pid})"))

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def send(self, sig: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)

    async def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would."""
        self.send(signal.SIGKILL)
        await self._reap(10)
        self.history.append((now_iso(), "killed (SIGKILL)"))

    async def stop(self, grace: float = 30.0) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds."""
        if not self.alive():
            return
        self.send(signal.SIGTERM)
        if not await self._reap(grace):
            self.send(signal.SIGKILL)
            await self._reap(10)
            self.history.append((now_iso(), f"stopped (SIGKILL after {grace:.0f} s of SIGTERM)"))
        else:
            self.history.append((now_iso(), "stopped (SIGTERM)"))

    def stop_now(self) -> None:
        """Synchronous last resort (exit paths): SIGTERM, a short grace, SIGKILL."""
        if self.process is None or self.process.poll() is not None:
            return
        self.send(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.send(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)

    async def _reap(self, limit: float) -> bool:
        deadline = time.monotonic() + limit
        while self.process is not None and self.process.poll() is None:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    def note_exit(self) -> str | None:
        """If the process ended without this soak ending it: a line saying so (once)."""
        code = self.exit_code()
        if code is None or (self.history and self.history[-1][1].startswith("exited")):
            return None
        if self.history and self.history[-1][1].startswith(("killed", "stopped")):
            return None
        self.history.append((now_iso(), f"exited on its own with code {code}"))
        return f"{self.name} exited on its own with code {code} (see {self.log})"

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class LogMark:
    """What processes wrote to their logs between `mark()` and `since()`: lines by level and
    the most frequent problems (warnings, errors, and each traceback by its final exception
    line), grouped with numbers and ids blanked out, each with one verbatim example."""

    def __init__(self, logs: list[Path]) -> None:
        self.logs = logs
        self.offsets: dict[Path, int] = {}

    def mark(self) -> None:
        self.offsets = {log: log.stat().st_size if log.exists() else 0 for log in self.logs}

    def since(self, samples: int = 6) -> dict[str, Any]:
        summary: dict[str, Any] = {}
        for log in self.logs:
            if not log.exists():
                continue
            with log.open("rb") as handle:
                handle.seek(self.offsets.get(log, 0))
                text = handle.read().decode(errors="replace")
            counts: dict[str, int] = {}
            groups: dict[str, list[Any]] = {}  # gist -> [count, example]

            lines = text.splitlines()
            for n, line in enumerate(lines):
                if line.startswith("Traceback"):
                    raised = _raised(lines, n + 1)
                    if raised is not None:
                        counts["traceback"] = counts.get("traceback", 0) + 1
                        _group(groups, "Traceback: " + raised)
                    continue
                level = _level(line)
                if level is None:
                    continue
                counts[level] = counts.get(level, 0) + 1
                # An activity's failure is logged as this warning and then its traceback,
                # which is what tells the reason: the traceback alone is counted.
                if level in ("ERROR", "WARNING", "CRITICAL") and _PAIRED not in line:
                    _group(groups, line)
            top = sorted(groups.items(), key=lambda item: -item[1][0])[:samples]
            summary[log.name] = {
                "lines_by_level": counts,
                "top_problems": [
                    {"count": count, "gist": gist, "example": example}
                    for gist, (count, example) in top
                ],
            }
        return summary


def _group(groups: dict[str, list[Any]], line: str) -> None:
    gist = _gist(line)
    if gist in groups:
        groups[gist][0] += 1
    else:
        groups[gist] = [1, " ".join(line.split())[:400]]


def _raised(lines: list[str], start: int) -> str | None:
    """The exception line that ends the traceback starting at `lines[start]`; None if the
    exception was chained into another traceback that follows (only the last one counts)."""
    for n in range(start, min(start + 400, len(lines))):
        line = lines[n]
        if line and not line.startswith((" ", "Traceback")):
            following = next((later for later in lines[n + 1 : n + 4] if later.strip()), "")
            if following.startswith(("The above exception", "During handling")):
                return None
            return line
    return "(traceback cut short)"


def _level(line: str) -> str | None:
    head = line[:40]
    for level in ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"):
        # Python's text format ("<date> <time> LEVEL name …") or Temporal's ("level=ERROR").
        if f" {level} " in head or f"level={level} " in line[:80]:
            return level
    return None


_PAIRED = "Completing activity as failed"
_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\d[ T][\d:.,]+|time=\S+)\s*")
_EXTRA = re.compile(r"\(\{'activity_id'.*?\}\)|wf-run-id=\S+|wf-id=\S+|address=\S+")
_IDS = re.compile(r"[0-9a-f]{8}-[0-9a-f-]{27,}|\d+")


def _gist(line: str) -> str:
    """A line without its timestamp, with ids and numbers blanked out, so repeats group."""
    line = _EXTRA.sub("…", _TIMESTAMP.sub("", line))
    return " ".join(_IDS.sub("N", line).split())[:240]


# --- providers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    key: str  # the Message-ID (SMTP) or the Idempotency-Key header (webhook)
    to: str
    at: float  # time.monotonic()


class _Mailbox:
    def __init__(self, calls: list[Call], lock: threading.Lock) -> None:
        self.calls = calls
        self.lock = lock

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        headers = BytesParser(policy=policy.default).parsebytes(envelope.content, headersonly=True)
        call = Call(
            str(headers.get("Message-ID", "")), ",".join(envelope.rcpt_tos), time.monotonic()
        )
        with self.lock:
            self.calls.append(call)
        return "250 Message accepted for delivery"


class SmtpProvider:
    """An SMTP server (aiosmtpd, own thread) that records every message it accepts."""

    def __init__(self) -> None:
        self.port = free_port()
        self.calls: list[Call] = []
        self.lock = threading.Lock()
        self.controller: Controller | None = None
        self.outages: list[tuple[float, float | None]] = []

    def up(self) -> None:
        if self.controller is not None:
            return
        controller = Controller(_Mailbox(self.calls, self.lock), hostname=LOOPBACK, port=self.port)
        deadline = time.monotonic() + 10
        while True:  # the port may linger for a moment after `down`
            try:
                controller.start()
                break
            except (OSError, RuntimeError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.controller = controller
        if self.outages and self.outages[-1][1] is None:
            self.outages[-1] = (self.outages[-1][0], time.monotonic())

    def down(self) -> None:
        """Close the port: every connection is refused until `up`."""
        if self.controller is None:
            return
        self.controller.stop()
        self.controller = None
        self.outages.append((time.monotonic(), None))

    def snapshot(self) -> list[Call]:
        with self.lock:
            return list(self.calls)


class WebhookProvider:
    """The SMS webhook: the suite's loopback `HttpServer` (uvicorn, own thread) with one route
    that records each POST by its Idempotency-Key and answers 200 `{"id": ...}`."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.lock = threading.Lock()
        self.server = HttpServer()
        self.port = self.server.port
        self.url = f"{self.server.url}/sms"
        self.server.route("POST", "/sms", self._answer)

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def snapshot(self) -> list[Call]:
        with self.lock:
            return list(self.calls)

    def _answer(self, request: HttpRequest) -> Reply:
        try:
            recipients = json.loads(request.body).get("recipients") or []
        except (ValueError, AttributeError):
            recipients = []
        key = request.headers.get("idempotency-key", "")
        with self.lock:
            self.calls.append(Call(key, ",".join(map(str, recipients)), time.monotonic()))
            number = len(self.calls)
        # The server keeps every request it served; a soak's thousands would only grow it.
        self.server.requests.clear()
        return Reply(200, {"id": f"wh-{number}"})


# --- the database, taken away -----------------------------------------------------------------


class TcpProxy:
    """A TCP proxy on loopback (asyncio, own thread) that can be cut and restored."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.AbstractServer | None = None
        self.connections: set[asyncio.StreamWriter] = set()
        self.cut_since: float | None = None
        self.refused = 0  # connections aborted by a cut

    def start(self) -> None:
        self.thread.start()
        self._call(self._listen())

    def cut(self) -> None:
        """Close the listening socket (new connections are refused) and abort every live one."""
        self._call(self._cut())

    def restore(self) -> None:
        self._call(self._listen())

    def close(self) -> None:
        if self.thread.is_alive():
            with contextlib.suppress(Exception):
                self._call(self._cut())
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)

    def _call(self, work: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout=30)

    async def _listen(self) -> None:
        if self.server is not None:
            return
        deadline = time.monotonic() + 10
        while True:
            try:
                self.server = await asyncio.start_server(
                    self._serve, LOOPBACK, self.port, reuse_address=True
                )
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        self.cut_since = None

    async def _cut(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        self.cut_since = time.monotonic()
        for writer in list(self.connections):
            transport = writer.transport
            if not transport.is_closing():
                self.refused += 1
            transport.abort()
        self.connections.clear()

    async def _serve(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        if self.server is None:
            client.transport.abort()
            return
        try:
            upstream_reader, upstream = await asyncio.wait_for(
                asyncio.open_connection(*self.target), 10
            )
        except (OSError, TimeoutError):
            client.transport.abort()
            return
        pair = {client, upstream}
        self.connections |= pair
        try:
            await asyncio.gather(
                _pipe(client_reader, upstream),
                _pipe(upstream_reader, client),
                return_exceptions=True,
            )
        finally:
            self.connections -= pair
            for writer in pair:
                writer.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, ConnectionError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


class SqliteLock:
    """Holds `BEGIN EXCLUSIVE` on the app's SQLite file from another connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.thread: threading.Thread | None = None
        self.acquired_after: float | None = None  # seconds waited for the lock
        self.held: float | None = None
        self.error: str | None = None

    def hold(self, seconds: float) -> None:
        def run() -> None:
            began = time.monotonic()
            try:
                connection = sqlite3.connect(self.path, timeout=60, isolation_level=None)
                try:
                    connection.execute("BEGIN EXCLUSIVE")
                    locked = time.monotonic()
                    self.acquired_after = locked - began
                    time.sleep(seconds)
                    connection.execute("ROLLBACK")
                    self.held = time.monotonic() - locked
                finally:
                    connection.close()
            except sqlite3.Error as error:
                self.error = f"{type(error).__name__}: {error}"

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    async def wait(self, limit: float) -> None:
        deadline = time.monotonic() + limit
        while self.thread is not None and self.thread.is_alive():
            if time.monotonic() > deadline:
                raise StackError("the SQLite lock was not released in time")
            await asyncio.sleep(0.1)


# --- the stack --------------------------------------------------------------------------------


async def create_postgres(server_url: str) -> str:
    """A fresh database on the server of `server_url`; its SQLAlchemy URL."""
    name = f"journeys_soak_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(_asyncpg_dsn(server_url), timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return _sqlalchemy_url(server_url, name)


async def drop_postgres(url: str, server_url: str) -> None:
    """Drop the database of `url`, connected as `server_url` (the one it was created from)."""
    name = make_url(url).database
    admin = await asyncpg.connect(_asyncpg_dsn(server_url), timeout=10)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def _asyncpg_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def _sqlalchemy_url(url: str, database: str, port: int | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql+asyncpg", database=database)
    if port is not None:
        parsed = parsed.set(host=LOOPBACK, port=port)
    return parsed.render_as_string(hide_password=False)


class Stack:
    """Temporal, the worker and the API as processes; the providers and the database path
    in this process. `start` brings everything up; `close` ends all of it."""

    def __init__(self, run_dir: Path, postgres: str | None = None, project: Path = ROOT) -> None:
        self.run_dir = run_dir
        self.postgres = postgres
        # The checkout whose code the processes run (cwd and first on PYTHONPATH).
        self.project = project.resolve()
        self.smtp = SmtpProvider()
        self.webhook = WebhookProvider()
        self.proxy: TcpProxy | None = None
        self.database_url = ""  # the app's, through the proxy for PostgreSQL
        self.direct_url: str | None = None  # PostgreSQL without the proxy (create/drop)
        self.sqlite_path: Path | None = None
        self.temporal_port = free_port()
        self.api_port = free_port()
        self.api_url = f"http://{LOOPBACK}:{self.api_port}"
        self.key = ""
        self.children: dict[str, Child] = {}
        self.timings: dict[str, float] = {}

    @property
    def backend(self) -> str:
        return "postgresql" if self.postgres else "sqlite"

    @property
    def temporal_address(self) -> str:
        return f"{LOOPBACK}:{self.temporal_port}"

    def env(self) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEYS_")}
        settings = {
            "DATABASE_URL": self.database_url,
            "TEMPORAL_ADDRESS": self.temporal_address,
            "TEMPORAL_NAMESPACE": "default",
            "TASK_QUEUE": "journeys-soak",
            "EMAIL_PROVIDER": "smtp",
            "SMTP_HOST": LOOPBACK,
            "SMTP_PORT": str(self.smtp.port),
            "SMTP_SECURITY": "none",
            "EMAIL_FROM": EMAIL_FROM,
            "SMS_PROVIDER": "webhook",
            "SMS_WEBHOOK_URL": self.webhook.url,
            "LOG_FORMAT": "text",
            "LOG_LEVEL": "INFO",
        }
        path = os.pathsep.join(p for p in (str(self.project), inherited.get("PYTHONPATH")) if p)
        return {
            **inherited,
            **{f"JOURNEYS_{name}": value for name, value in settings.items()},
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": path,
        }

    def logs(self) -> list[Path]:
        return [child.log for child in self.children.values()]

    async def start(self) -> None:
        began = time.monotonic()
        self.smtp.up()
        self.webhook.start()
        if self.postgres:
            self.direct_url = await create_postgres(self.postgres)
            target = make_url(self.postgres)
            self.proxy = TcpProxy(target.host or LOOPBACK, target.port or 5432)
            self.proxy.start()
            database = make_url(self.direct_url).database or ""
            self.database_url = _sqlalchemy_url(self.postgres, database, self.proxy.port)
        else:
            self.sqlite_path = self.run_dir / "journeys.db"
            self.database_url = f"sqlite+aiosqlite:///{self.sqlite_path}"
        env = self.env()
        temporal = [
            devstack.temporal_binary(),
            *("server", "start-dev", "--headless", "--ip", LOOPBACK),
            *("--port", str(self.temporal_port)),
            *("--db-filename", str(self.run_dir / "temporal.db")),
            *("--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"),
            *("--log-level", "warn"),
        ]
        for name, kind in SEARCH_ATTRIBUTES.items():
            temporal += ["--search-attribute", f"{name}={kind}"]
        logs = self.run_dir
        self.children = {
            "temporal": Child("temporal", temporal, env, logs / "temporal.log", self.project),
            "worker": Child(
                "worker", [*JOURNEYS, "worker"], env, logs / "worker.log", self.project
            ),
            "api": self._api_child(env),
        }
        self.children["temporal"].start()
        await self.run_command("migrate", ["migrate"])
        self.key = (
            await self.run_command("keys", ["keys", "create", "--place", str(PLACE)])
        ).strip()
        await self.wait_temporal()
        self.children["worker"].start()
        await self._start_api(env)
        self.timings["start"] = time.monotonic() - began

    def _api_child(self, env: dict[str, str]) -> Child:
        command = [*JOURNEYS, "api", "--host", LOOPBACK, "--port", str(self.api_port)]
        return Child("api", command, env, self.run_dir / "api.log", self.project)

    async def _start_api(self, env: dict[str, str], attempts: int = 3) -> None:
        """Start the API on its port. The port was free when chosen, but the suite beside
        the soak opens ports too: if another process took it meanwhile, take another (the
        API keeps the one it got for the rest of the run, restarts included)."""
        for attempt in range(1, attempts + 1):
            self.children["api"].start()
            try:
                await self.wait_api()
                return
            except StackError as error:
                if attempt == attempts or "address already in use" not in str(error):
                    raise
            self.api_port = free_port()
            self.api_url = f"http://{LOOPBACK}:{self.api_port}"
            self.children["api"] = self._api_child(env)

    async def run_command(self, name: str, args: list[str], limit: float = 180) -> str:
        """A one-off `journeys` command (migrate, keys create): its stdout; its stderr goes to
        `<name>.log`."""
        with (self.run_dir / f"{name}.log").open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                *JOURNEYS,
                *args,
                cwd=self.project,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
            )
            try:
                out, _ = await asyncio.wait_for(process.communicate(), limit)
            except TimeoutError:
                process.kill()
                await process.wait()
                raise StackError(f"journeys {' '.join(args)} took over {limit:.0f} s") from None
        if process.returncode != 0:
            tail = (self.run_dir / f"{name}.log").read_text(errors="replace")[-2000:]
            raise StackError(f"journeys {' '.join(args)} failed ({process.returncode}):\n{tail}")
        return out.decode()

    async def wait_temporal(self, limit: float = 60) -> float:
        temporal = self.children["temporal"]

        async def up() -> bool:
            if not temporal.alive():
                raise StackError(f"Temporal exited:\n{temporal.tail()}")
            return await asyncio.to_thread(port_open, self.temporal_port)

        return await wait_for(up, "Temporal accepting connections", limit)

    async def wait_api(self, limit: float = 60) -> float:
        api = self.children["api"]

        async def ready() -> bool:
            if not api.alive():
                raise StackError(f"the API exited:\n{api.tail()}")
            try:
                async with httpx.AsyncClient(timeout=3) as http:
                    return (await http.get(f"{self.api_url}/readyz")).status_code == 200
            except httpx.HTTPError:
                return False

        return await wait_for(ready, "the API ready (/readyz 200)", limit)

    def child(self, name: str) -> Child:
        return self.children[name]

    def unexpected_exits(self) -> list[str]:
        return [line for child in self.children.values() if (line := child.note_exit())]

    async def ensure_running(self) -> list[str]:
        """Start again whatever died on its own (a scenario leaves the stack whole); what was
        found dead."""
        found = self.unexpected_exits()
        for name in ("temporal", "worker", "api"):
            child = self.children[name]
            if not child.alive():
                child.start()
                if name == "temporal":
                    await self.wait_temporal()
        if not self.children["api"].alive() or found:
            await self.wait_api()
        return found

    async def close(self) -> None:
        for name in ("api", "worker", "temporal"):
            child = self.children.get(name)
            if child is not None:
                await child.stop()
        self.close_now()
        if self.direct_url and self.postgres:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(drop_postgres(self.direct_url, self.postgres), 30)
                self.direct_url = None  # else the caller tries again on its way out

    def close_now(self) -> None:
        """Synchronous: everything this stack started, ended (also used on the way out)."""
        for name in ("api", "worker", "temporal"):
            child = self.children.get(name)
            if child is not None:
                child.stop_now()
        with contextlib.suppress(Exception):
            self.smtp.down()
        with contextlib.suppress(Exception):
            self.webhook.stop()
        if self.proxy is not None:
            self.proxy.close()
