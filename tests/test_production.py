"""The production shape, without Docker: `journeys api` and `journeys worker` as processes of
their own, configured only by `JOURNEYS_*` variables, against PostgreSQL and a Temporal server
they did not start (prepared by `journeys temporal-setup`, as the compose stack does)."""

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from journeys import devstack
from tests.helpers.api import only
from tests.helpers.dev import JOURNEYS
from tests.servers import LOOPBACK, free_port

NAMESPACE = "journeys-production"


def _environment(**settings: str) -> dict[str, str]:
    """This process's environment without its JOURNEYS_* variables, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOURNEYS_")}
    return {**env, **{f"JOURNEYS_{k.upper()}": v for k, v in settings.items()}}


async def _wait_for(check: Callable[[], bool], what: str, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen within {limit} s"
        await asyncio.sleep(0.2)


@pytest.fixture
async def temporal_server(
    tmp_path: Path,
) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """A Temporal server started on its own (no namespace or search attributes for Journeys)."""
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        devstack.temporal_binary(),
        *("server", "start-dev", "--headless", "--log-level", "error"),
        *("--port", str(port), "--db-filename", str(tmp_path / "temporal.db")),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await _wait_for(lambda: devstack.port_open(LOOPBACK, port), "Temporal starting")
        yield f"{LOOPBACK}:{port}", server
    finally:
        if server.returncode is None:
            server.terminate()
            await server.wait()


@contextmanager
def _process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen([*JOURNEYS, *args], env=env, stdout=out, stderr=out)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _journeys(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*JOURNEYS, *args], env=env, capture_output=True, text=True, timeout=180)


@pytest.mark.e2e
async def test_api_and_worker_processes_send_an_email(
    postgres_url, temporal_server, mailbox, smtp_port, tmp_path
):
    address, server = temporal_server
    api_port, metrics_port = free_port(), free_port()
    env = _environment(
        database_url=postgres_url,
        temporal_address=address,
        temporal_namespace=NAMESPACE,
        task_queue="journeys-production",
        email_provider="smtp",
        smtp_host=LOOPBACK,
        smtp_port=str(smtp_port),
        smtp_security="none",
        email_from="Rewards <rewards@example.com>",
        log_format="json",
        metrics_bind=f"{LOOPBACK}:{metrics_port}",
    )
    for _ in range(2):  # migrations run on an empty database, and again as a no-op
        migrated = _journeys("migrate", env=env)
        assert migrated.returncode == 0, migrated.stderr
    prepared = _journeys("temporal-setup", env=env)
    assert prepared.returncode == 0, prepared.stderr
    assert f"registered namespace {NAMESPACE}" in prepared.stderr
    again = _journeys("temporal-setup", env=env)
    assert again.returncode == 0 and "registered" not in again.stderr, again.stderr
    key = _journeys("keys", "create", "--place", "42", env=env).stdout.strip()

    base = f"http://{LOOPBACK}:{api_port}"
    with (
        _process(["worker"], env, tmp_path / "worker.log"),
        _process(["api", "--port", str(api_port)], env, tmp_path / "api.log"),
    ):
        async with httpx.AsyncClient(base_url=base, headers={"Api-Key": key}) as api:

            async def ready() -> int:
                try:
                    return (await api.get("/readyz")).status_code
                except httpx.TransportError:
                    return 0

            deadline = time.monotonic() + 60
            while await ready() != 200:
                assert time.monotonic() < deadline, (tmp_path / "api.log").read_text()
                await asyncio.sleep(0.3)

            template = await api.post(
                "/places/42/templates",
                json={
                    "name": "Hi",
                    "channel": "email",
                    "subject": "Hello {{ customer.email }}",
                    "body": "Welcome",
                },
            )
            template_id = only(template.json(), "communication_template")["id"]
            config = {
                "initial": "send",
                "states": {
                    "send": {
                        "meta": {"type": "send_email", "templateId": template_id},
                        "on": {"DONE": "done"},
                    },
                    "done": {"type": "final"},
                },
            }
            journey = await api.post(
                "/places/42/journeys",
                json={
                    "name": "Welcome",
                    "trigger_event": "account.created",
                    "machine_config": config,
                },
            )
            journey_id = only(journey.json(), "journey_definition")["id"]
            assert (await api.post(f"/places/42/journeys/{journey_id}/start")).status_code == 200
            event = {
                "event": "account.created",
                "customer_id": 7,
                "event_id": "acc-7",
                "customer": {"email": "ana@example.com"},
            }
            response = await api.post("/places/42/events", json=event)
            assert response.status_code == 202, response.text

            await _wait_for(lambda: len(mailbox.received) == 1, "the email arriving")
            (received,) = mailbox.received
            assert received.message["Subject"] == "Hello ana@example.com"
            messages = (await api.get("/places/42/messages")).json()["node.message"]
            assert [m["status"] for m in messages.values()] == ["sent"]

            metrics = (await api.get(f"http://{LOOPBACK}:{metrics_port}/metrics")).text
            assert "journeys_executions_completed_total{" in metrics
            sent = [
                line
                for line in metrics.splitlines()
                if line.startswith("journeys_messages_total") and 'status="sent"' in line
            ]
            assert len(sent) == 1 and sent[0].endswith(" 1"), sent
            assert "journeys_executions_started_total" in metrics
            assert "temporal_workflow_task_schedule_to_start_latency" in metrics

            server.terminate()  # Temporal goes away: the API is no longer ready
            await server.wait()
            down = await api.get("/readyz")
            assert down.status_code == 503
            assert [d["path"] for d in down.json()["error"]["details"]] == ["temporal"]

    for log, logger in (("worker.log", "journeys.worker"), ("api.log", "uvicorn.access")):
        lines = (tmp_path / log).read_text().splitlines()
        entries = [json.loads(line) for line in lines if line.strip()]
        assert any(e["logger"] == logger for e in entries), lines
        assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)
