"""Killing the worker (SIGKILL) mid-run loses nothing and duplicates nothing.

The worker runs as `journeys worker`, configured only through JOURNEYS_* variables, as in
production; the API runs in-process against the same database and Temporal namespace.
"""

import asyncio
import os
import signal
import subprocess
import uuid
from collections import Counter

import pytest

from tests.fixtures.api import app_client
from tests.fixtures.database import one_backend
from tests.fixtures.temporal import backend_of, namespace_client
from tests.helpers.api import PLACE, only
from tests.helpers.dev import JOURNEYS
from tests.helpers.journeys import FINAL_ONLY, executions_of, visible
from tests.servers import LOOPBACK
from workflows.contracts import ExecutionResult

# What a killed worker loses is Temporal's and the worker's business; the send's claim and
# lease SQL is asserted on both backends in tests/activities/test_delivery.py.
pytestmark = [pytest.mark.e2e, one_backend]

CUSTOMERS = 30
TWO_EMAILS = {
    "initial": "first",
    "states": {
        "first": {"meta": {"type": "send_email", "templateId": 21}, "on": {"DONE": "pause"}},
        "pause": {"meta": {"type": "wait_for_duration", "seconds": 1}, "on": {"ELAPSED": "second"}},
        "second": {"meta": {"type": "send_email", "templateId": 20}, "on": {"DONE": "done"}},
        "done": {"type": "final"},
    },
}


def worker_env(client, database_url, task_queue, **settings: str) -> dict[str, str]:
    """A `journeys worker` configured only by JOURNEYS_* variables, as in production."""
    return {
        **os.environ,
        "JOURNEYS_DATABASE_URL": database_url,
        "JOURNEYS_TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "JOURNEYS_TEMPORAL_NAMESPACE": backend_of(database_url),
        "JOURNEYS_TASK_QUEUE": task_queue,
        **{f"JOURNEYS_{name.upper()}": value for name, value in settings.items()},
    }


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*JOURNEYS, "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_killed_worker_loses_and_duplicates_nothing(
    temporal, clean_engine, keys, database_url, settings, mailbox, smtp_port
):
    client = await namespace_client(temporal, database_url)
    task_queue = f"crash-{uuid.uuid4().hex[:8]}"
    env = worker_env(
        client,
        database_url,
        task_queue,
        email_provider="smtp",
        smtp_host=LOOPBACK,
        smtp_port=str(smtp_port),
        smtp_security="none",
        email_from="rewards@example.com",
        # A lease of 2 + 5 + (1 + 2 + 10) = 20 s instead of 60: the sends the kill cut off
        # are tried again that much sooner.
        send_deadline_seconds="2",
        database_timeout_seconds="1",
        database_statement_timeout_seconds="2",
    )
    app_settings = settings.model_copy(update={"task_queue": task_queue})
    async with app_client(client, clean_engine, app_settings, keys) as api:
        created = await api.post(
            f"/places/{PLACE}/journeys",
            json={"name": "two", "trigger_event": "order.created", "machine_config": TWO_EMAILS},
        )
        journey_id = only(created.json(), "journey_definition")["id"]
        assert (await api.post(f"/places/{PLACE}/journeys/{journey_id}/start")).status_code == 200
        events = [
            {
                "event": "order.created",
                "customer_id": c,
                "event_id": f"crash-{c}",
                "customer": {"email": f"c{c}@example.com"},
            }
            for c in range(1, CUSTOMERS + 1)
        ]
        response = await api.post(f"/places/{PLACE}/events", json={"events": events})
        assert response.status_code == 202, response.text
        executions = [e["executions"][0] for e in response.json()["events"]]

        worker = start_worker(env)
        try:
            async with asyncio.timeout(60):
                while True:  # kill it mid-run: about half the first emails are out
                    if len(mailbox.received) >= CUSTOMERS // 2:
                        break
                    await asyncio.sleep(0.05)
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            delivered_before = len(mailbox.received)
            worker = start_worker(env)
            async with asyncio.timeout(240):
                for execution_id in executions:
                    handle = client.get_workflow_handle(execution_id, result_type=ExecutionResult)
                    assert (await handle.result()).final_state == "done"
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)

        log = []
        page = 1
        while True:
            listed = await api.get(f"/places/{PLACE}/messages?per_page=100&page={page}")
            items = list(listed.json()["node.message"].values())
            log += items
            if len(items) < 100:
                break
            page += 1

    # The log: exactly one sent message per execution and send step.
    keys_logged = Counter((m["executionId"], m["state"]) for m in log)
    assert set(keys_logged) == {(e, s) for e in executions for s in ("first", "second")}
    assert set(keys_logged.values()) == {1}
    assert {m["status"] for m in log} == {"sent"}
    # The mailbox: every logged message arrived. SMTP has no idempotency key, so a message
    # the server accepted while its worker died before recording it is sent again on retry
    # (the same Message-ID); no message sent after the restart is ever repeated.
    arrived = Counter(r.message["Message-ID"] for r in mailbox.received)
    assert {m["providerMessageId"] for m in log} == set(arrived)
    before_kill = {r.message["Message-ID"] for r in mailbox.received[:delivered_before]}
    repeated = {message_id for message_id, n in arrived.items() if n > 1}
    assert repeated <= before_kill
    assert max(arrived.values()) <= 2
    print(f"delivered before the kill: {delivered_before}; sent again: {len(repeated)}")


async def test_killed_worker_mid_fan_out_starts_each_customer_once(
    temporal, clean_engine, keys, database_url, settings
):
    """A manual run over 400 customers, its worker killed part-way through the fan-out
    and started again: exactly one execution per targeted customer."""
    client = await namespace_client(temporal, database_url)
    task_queue = f"crash-run-{uuid.uuid4().hex[:8]}"
    # Small pages, few starts at a time: the fan-out takes long enough to be caught mid-way.
    env = worker_env(client, database_url, task_queue, run_page_size="100", run_concurrency="4")
    app_settings = settings.model_copy(update={"task_queue": task_queue})
    customers = 400
    async with app_client(client, clean_engine, app_settings, keys) as api:
        imported = await api.post(
            f"/places/{PLACE}/customers/import",
            json=[{"id": i} for i in range(1, customers + 1)],
        )
        assert imported.status_code == 200, imported.text
        created = await api.post(
            f"/places/{PLACE}/journeys",
            json={"name": "All", "trigger_event": "manual", "machine_config": FINAL_ONLY},
        )
        journey_id = only(created.json(), "journey_definition")["id"]
        response = await api.post(f"/places/{PLACE}/journeys/{journey_id}/run", json={})
        assert response.json()["triggered"] == customers
        run_url = f"/places/{PLACE}/journeys/{journey_id}/runs/{response.json()['runId']}"

        async def run_record():
            return only((await api.get(run_url)).json(), "journey_run")

        worker = start_worker(env)
        try:
            async with asyncio.timeout(120):
                while True:
                    if (await run_record())["started"] >= 100:
                        break
                    await asyncio.sleep(0.05)
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            started_before = (await run_record())["started"]
            assert started_before < customers
            worker = start_worker(env)
            async with asyncio.timeout(240):
                while True:
                    run = await run_record()
                    if run["status"] == "completed":
                        break
                    await asyncio.sleep(0.2)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
        assert run["started"] == customers

    ids = Counter(await visible(client, executions_of(journey_id), customers))
    run_id = run["id"]
    assert set(ids) == {f"journey-{journey_id}-run-{run_id}-{i}" for i in range(1, customers + 1)}
    assert set(ids.values()) == {1}
    print(f"started before the kill: {started_before} of {customers}")
