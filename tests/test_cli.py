"""The `journeys` command, run as a user runs it: as a separate process."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from alembic import command
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from journeys import devstack
from orchestration.temporal_setup import SEARCH_ATTRIBUTES
from store.migrate import alembic_config
from tests.helpers.api import only
from tests.helpers.dev import JOURNEYS, WELCOME_ANA_SENT, Dev, free_port
from tests.helpers.journeys import FINAL_ONLY
from tests.spec_examples import WELCOME_CONFIG


def journeys(*args: str, database_url: str, **kwargs) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JOURNEYS_DATABASE_URL": database_url}
    return subprocess.run(
        [*JOURNEYS, *args], env=env, capture_output=True, text=True, timeout=120, **kwargs
    )


async def test_keys_create_prints_a_working_key(database_url, clean_engine, api):
    result = journeys(
        "keys", "create", "--place", "77", "--user-id", "5", database_url=database_url
    )
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    assert result.stdout == key + "\n"  # the key and nothing else
    created = await api.post(
        "/places/77/journeys",
        json={"name": "x", "trigger_event": "order.created"},
        headers={"Api-Key": key},
    )
    assert created.status_code == 200
    assert only(created.json(), "journey_definition")["userId"] == 5
    other = await api.get("/places/42/journeys", headers={"Api-Key": key})
    assert other.status_code == 403


def test_keys_create_rejects_bad_place(database_url):
    result = journeys("keys", "create", "--place", "0", database_url=database_url)
    assert result.returncode != 0
    assert "--place" in result.stderr


def test_keys_create_finds_the_database_as_journeys_dev_does(tmp_path):
    """Without JOURNEYS_DATABASE_URL, the SQLite file in --data-dir (./.journeys by default);
    a missing or unmigrated one is said plainly, and no empty file is left behind."""
    env = {k: v for k, v in os.environ.items() if k != "JOURNEYS_DATABASE_URL"}

    def keys_create(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        command = [*JOURNEYS, "keys", "create", "--place", "42", *args]
        return subprocess.run(
            command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120
        )

    missing = keys_create(cwd=tmp_path)
    assert missing.returncode == 2
    assert "no Journeys database in" in missing.stderr and "--data-dir" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert not (tmp_path / ".journeys").exists()

    data = tmp_path / "data"
    data.mkdir()
    (data / "journeys.db").touch()  # there, but never migrated
    empty = keys_create("--data-dir", str(data), cwd=tmp_path)
    assert empty.returncode == 2
    assert "has no tables yet: run `journeys migrate`" in empty.stderr
    assert "Traceback" not in empty.stderr

    migrated = subprocess.run(
        [*JOURNEYS, "migrate", "--data-dir", str(data)], env=env, capture_output=True, text=True
    )
    assert migrated.returncode == 0, migrated.stderr
    made = keys_create("--data-dir", "data", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("jrn_")
    # From inside the data dir's parent with the default: ./.journeys, which doesn't exist.
    assert keys_create(cwd=data).returncode == 2


def test_migrate_is_idempotent_and_matches_the_models(tmp_path, database_url):
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}" if "sqlite" in database_url else None
    if url is None:
        # The session database is already migrated once; migrating again must be a no-op.
        url = database_url
    for _ in range(2):
        result = journeys("migrate", database_url=url)
        assert result.returncode == 0, result.stderr
    command.check(alembic_config(url))  # raises if the tables and the migrations disagree


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


@pytest.mark.e2e
async def test_dev_serves_everything_and_stops_cleanly(tmp_path):
    data_dir = tmp_path / "data"
    dev = Dev(data_dir, "--api-key", "dev-key-K")
    api_url = f"http://127.0.0.1:{dev.port}"
    try:
        assert dev.printed("API:") == api_url
        assert dev.printed("API docs:") == f"{api_url}/docs"
        assert dev.printed("Temporal UI:") == f"http://127.0.0.1:{dev.ui_port}"
        assert dev.printed("API key:") == "dev-key-K"
        async with httpx.AsyncClient(base_url=api_url, headers={"Api-Key": "dev-key-K"}) as http:
            created = await http.post(
                "/places/42/journeys", json={"name": "kept", "trigger_event": "order.created"}
            )
            assert created.status_code == 200, created.text
            assert (await http.get("/docs")).status_code == 200
            assert (
                await http.get("/places/42/journeys", headers={"Api-Key": "nope"})
            ).status_code == 401
            await demo_customers_get_messages(http)
            await run_from_the_command_line(http, api_url)
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"http://127.0.0.1:{dev.ui_port}/")).status_code == 200
        client = await Client.connect(f"127.0.0.1:{dev.temporal_port}")
        attributes = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="default")
        )
        assert set(SEARCH_ATTRIBUTES) <= set(attributes.custom_attributes)
    finally:
        code = dev.stop(signal.SIGINT)
    assert code == 0
    assert _processes_mentioning(str(data_dir)) == []
    # The terminal showed the message as it went out.
    assert WELCOME_ANA_SENT in dev.lines

    # Restarting on the same data dir keeps the data and the key; without --api-key a key of
    # its own is printed, and it is the same on the next start.
    again = Dev(data_dir)
    try:
        generated = again.printed("API key:")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{again.port}") as http:
            for key in ("dev-key-K", generated):
                listed = await http.get("/places/42/journeys", headers={"Api-Key": key})
                assert listed.status_code == 200
                names = [j["name"] for j in listed.json()["node.journey_definition"].values()]
                assert names == ["kept", "welcome", "cli"]
    finally:
        assert again.stop(signal.SIGTERM) == 0
    assert _processes_mentioning(str(data_dir)) == []
    third = Dev(data_dir)
    try:
        assert third.printed("API key:") == generated
    finally:
        third.stop(signal.SIGINT)


# Names a working directory may hold that were, or are, the product's own top-level modules.
SHADOWING_MODULES = ["cli", "settings", "errors", "logs", "worker", "launcher", "rendering"]
SHADOWING_PACKAGES = [
    "logs",
    "api",
    "store",
    "journeys",
    "orchestration",
    "workflows",
    "activities",
]


@pytest.mark.e2e
async def test_dev_runs_from_a_directory_that_shadows_its_modules(tmp_path):
    """Started by its console script from a directory holding folders and modules named like
    the product's, with its data dir inside it, `journeys dev` imports none of them: it serves
    the API and runs a journey to its end."""
    for name in SHADOWING_MODULES:
        (tmp_path / f"{name}.py").write_text("raise SystemExit('imported the shadow')\n")
    for name in SHADOWING_PACKAGES:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("raise SystemExit('imported the shadow')\n")
    script = Path(sys.executable).parent / "journeys"
    dev = Dev(Path("."), "--api-key", "shadow-key", command=[str(script)], cwd=tmp_path)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{dev.port}", headers={"Api-Key": "shadow-key"}
        ) as http:
            created = await http.post(
                "/places/42/journeys",
                json={
                    "name": "shadowed",
                    "trigger_event": "order.created",
                    "machine_config": FINAL_ONLY,
                },
            )
            assert created.status_code == 200, created.text
            journey_id = only(created.json(), "journey_definition")["id"]
            started = await http.post(f"/places/42/journeys/{journey_id}/start")
            assert started.status_code == 200, started.text
            event = {"event": "order.created", "customer_id": 7}
            sent = await http.post("/places/42/events", json=event)
            assert sent.status_code == 202, sent.text
            (execution_id,) = sent.json()["executions"]
            url = f"/places/42/journeys/{journey_id}/executions/{execution_id}"
            deadline = time.monotonic() + 60
            status = None
            while time.monotonic() < deadline and status != "completed":
                await asyncio.sleep(0.5)
                got = await http.get(url)
                status = only(got.json(), "journey_execution")["status"] if got.is_success else None
            assert status == "completed"
    finally:
        assert dev.stop(signal.SIGINT) == 0
    assert "imported the shadow" not in "\n".join(dev.lines)
    assert (tmp_path / "logs" / "__init__.py").exists() and (tmp_path / "journeys.db").exists()


async def journeys_async(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, [*JOURNEYS, *args], env=env, capture_output=True, text=True, timeout=120
    )


async def demo_customers_get_messages(http: httpx.AsyncClient) -> None:
    """The demo place has customers the examples reach: the welcome email goes to Ana."""
    listed = await http.get("/places/42/customers")
    assert listed.json()["meta"]["total"] == 6
    vips = await http.get("/places/42/segments/4/customers")
    assert sorted(int(i) for i in vips.json()["node.customer"]) == [1, 5]
    made = await http.post(
        "/places/42/journeys",
        json={
            "name": "welcome",
            "trigger_event": "account.created",
            "machine_config": WELCOME_CONFIG,
        },
    )
    journey_id = only(made.json(), "journey_definition")["id"]
    await http.post(f"/places/42/journeys/{journey_id}/start")
    sent = await http.post("/places/42/events", json={"event": "account.created", "customer_id": 1})
    assert sent.status_code == 202, sent.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        log = (await http.get(f"/places/42/messages?journey_id={journey_id}")).json()
        if [m["status"] for m in log["node.message"].values()] == ["sent"]:
            break
        await asyncio.sleep(0.3)
    else:
        raise AssertionError(f"the welcome email was not sent: {log}")
    await asyncio.sleep(1.5)  # the terminal follows the worker's log every half second


async def run_from_the_command_line(http: httpx.AsyncClient, api_url: str) -> None:
    """`journeys run` against the dev stack: the run id on stdout, progress on stderr."""
    customers = [
        {"id": i, "attributes": {"account": {"classification": "vip" if i % 2 else "new"}}}
        for i in range(1, 401)
    ]
    assert (await http.post("/places/42/customers/import", json=customers)).status_code == 200
    created = await http.post(
        "/places/42/journeys",
        json={
            "name": "cli",
            "trigger_event": "manual",
            "machine_config": FINAL_ONLY,
        },
    )
    journey_id = str(only(created.json(), "journey_definition")["id"])
    env = {**os.environ, "JOURNEYS_API_KEY": "dev-key-K"}
    run = ["run", journey_id, "--place", "42", "--include", "4", "--api-url", api_url]
    result = await journeys_async(*run, env=env)
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.strip()
    assert result.stdout == run_id + "\n"
    assert f"run {run_id}: 200 customers targeted" in result.stderr
    assert "starting executions" in result.stderr
    assert "all 200 executions started" in result.stderr
    recorded = await http.get(f"/places/42/journeys/{journey_id}/runs/{run_id}")
    item = only(recorded.json(), "journey_run")
    assert (item["status"], item["targeted"], item["started"]) == ("completed", 200, 200)

    unknown = await journeys_async(*run, "--exclude", "999999", env=env)
    assert unknown.returncode == 1
    assert "422" in unknown.stderr and "exclude_segment_ids.0" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    keyless = {k: v for k, v in env.items() if k != "JOURNEYS_API_KEY"}
    no_key = await journeys_async(*run, env=keyless)
    assert no_key.returncode == 2 and "JOURNEYS_API_KEY" in no_key.stderr

    # One customer is one customer; and the command says it follows starts only.
    static = await http.post("/places/42/segments", json={"name": "one", "customer_ids": [7]})
    segment_id = str(only(static.json(), "targeting_segment")["id"])
    single = await journeys_async(
        "run", journey_id, "--include", segment_id, "--api-url", api_url, env=env
    )
    assert single.returncode == 0, single.stderr
    assert ": 1 customer targeted" in single.stderr
    assert "the 1 execution started. This follows starts only" in single.stderr
    assert f"GET /places/42/messages?journey_id={journey_id}" in single.stderr


def test_run_reports_an_unreachable_api(closed_port):
    result = subprocess.run(
        [*JOURNEYS, "run", "1", "--api-key", "k", "--api-url", f"http://127.0.0.1:{closed_port}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "cannot reach the API" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.e2e
async def test_dev_prepares_the_namespace_of_an_older_data_dir(tmp_path):
    """The dev server registers `--search-attribute`s only in a new database: an older data
    dir gets the missing ones from `prepare_namespace`, and closed executions are kept for
    90 days instead of the dev server's one."""
    port = free_port()
    server = ["server", "start-dev", "--headless", "--port", str(port), "--log-level", "error"]
    old = await asyncio.create_subprocess_exec(
        devstack.temporal_binary(),
        *server,
        *("--db-filename", str(tmp_path / "temporal.db")),
        *("--search-attribute", "JourneyStep=Keyword"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not devstack.port_open("127.0.0.1", port):
            assert time.monotonic() < deadline, "Temporal did not start"
            await asyncio.sleep(0.2)
        await asyncio.to_thread(devstack.prepare_namespace, f"127.0.0.1:{port}")
        client = await Client.connect(f"127.0.0.1:{port}")
        attributes = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="default")
        )
        registered = {
            name: IndexedValueType.Name(kind)
            for name, kind in attributes.custom_attributes.items()
            if name in SEARCH_ATTRIBUTES
        }
        assert registered == {
            "PlaceId": "INDEXED_VALUE_TYPE_INT",
            "JourneyId": "INDEXED_VALUE_TYPE_INT",
            "CustomerId": "INDEXED_VALUE_TYPE_INT",
            "JourneyStep": "INDEXED_VALUE_TYPE_KEYWORD",
            "TriggerEvent": "INDEXED_VALUE_TYPE_KEYWORD",
            "JourneyPath": "INDEXED_VALUE_TYPE_KEYWORD_LIST",
        }
        described = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace="default")
        )
        assert described.config.workflow_execution_retention_ttl.seconds == 90 * 86_400
    finally:
        old.terminate()
        await old.wait()


def test_dev_reports_a_busy_port(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [*JOURNEYS, "dev", "--port", str(port), "--data-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"port {port}" in result.stderr and "--port" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
