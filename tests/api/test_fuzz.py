"""Schemathesis over the app's own /openapi.json: no input yields a 5xx, and every 4xx carries
the error body `{"error": {"code", "message", "details": [{"path", "message"}, ...]}}`.

Every operation gets a few positive (schema-valid) and a few negative (schema-violating) cases,
drawn from a fixed seed and never shrunk, so every run sends the same requests and the test fits
the suite's time budget. Most requests carry place 42's manager key and name place 42 and ids
that exist there (the demo content and what `seed_place` adds), so they reach the routes' logic;
the rest go without a key, with another place's key, or to generated places and ids.

The requests go in-process to the ASGI app through schemathesis's own transport, which runs the
app and its lifespan on an event loop of its own (in a thread): so this app opens its own
database engine and Temporal client there, while a worker runs on the session's loop so that
execution queries are answered.

Failures are collected rather than raised at the first (each with the request as curl, the
response and what the app logged), and the test fails listing them all.

    pytest -m fuzz                                  # or: pytest tests/api/test_fuzz.py
    JOURNEYS_FUZZ_EXAMPLES=100 JOURNEYS_FUZZ_SEED=7 pytest -m fuzz -o timeout=1800   # deeper
"""

import asyncio
import json
import logging
import os
import threading
import time
import traceback
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.python import asgi
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from tests.fixtures.database import Keys
from tests.fixtures.engine import Engine
from tests.fixtures.temporal import backend_of
from tests.helpers.api import OTHER_PLACE, PLACE, only, rec
from tests.spec_examples import PROMO_CONFIG, PROMO_CREATE, WELCOME_CONFIG

pytestmark = pytest.mark.fuzz

# Cases per operation and generation mode: 6 make 516 requests per backend, about 20 s each.
# The seed is fixed, so every run sends the same cases (for a given Hypothesis/schemathesis).
# Locally, JOURNEYS_FUZZ_EXAMPLES=100 fuzzes deeper and JOURNEYS_FUZZ_SEED=N draws other cases.
EXAMPLES = int(os.environ.get("JOURNEYS_FUZZ_EXAMPLES", "6"))
SEED = int(os.environ.get("JOURNEYS_FUZZ_SEED", "42"))
TIMEOUT_SECONDS = 30
# Demo content the `keys` fixture seeds in place 42.
DEMO_IDS = {
    "segment_id": [3, 4, 6, 12, 15],
    "template_id": [5, 8, 9, 12, 20, 21, 30, 31],
    "campaign_id": [55],
}
CUSTOMERS = [7, 8]


@dataclass
class Finding:
    operation: str
    problem: str
    request: str
    status: int | None = None
    response: str = ""
    trace: str = ""

    def __str__(self) -> str:
        lines = [f"{self.operation}: {self.problem}", f"  request:  {self.request}"]
        if self.status is not None:
            lines.append(f"  response: {self.status} {self.response[:1000]}")
        if self.trace:
            lines.append("  traceback:\n" + self.trace)
        return "\n".join(lines)


@dataclass
class Tally:
    outcomes: Counter[str] = field(default_factory=Counter)  # status codes, exceptions
    findings: dict[tuple[str, str], Finding] = field(default_factory=dict)
    repeats: Counter[tuple[str, str]] = field(default_factory=Counter)
    no_negative: list[str] = field(default_factory=list)

    def add(self, finding: Finding) -> None:
        # One example per operation and kind of problem; the count says how often it recurred.
        key = (finding.operation, finding.problem)
        self.repeats[key] += 1
        self.findings.setdefault(key, finding)

    def report(self) -> str:
        return "\n\n".join(
            f"{finding}\n  (seen {self.repeats[key]}x)" for key, finding in self.findings.items()
        )


def error_body_problem(body: Any) -> str | None:
    """What is wrong with a 4xx body, or None if it is the error body."""
    if not isinstance(body, dict) or set(body) != {"error"}:
        return "the body is not {'error': {...}}"
    error = body["error"]
    if not isinstance(error, dict) or not {"code", "message", "details"} <= set(error):
        return "error lacks code, message or details"
    if not isinstance(error["code"], str) or not isinstance(error["message"], str):
        return "error.code or error.message is not a string"
    details = error["details"]
    if not isinstance(details, list):
        return "error.details is not a list"
    for detail in details:
        if (
            not isinstance(detail, dict)
            or not isinstance(detail.get("path"), str)
            or not isinstance(detail.get("message"), str)
        ):
            return "an error.details item is not {'path': str, 'message': str}"
    return None


class Logged(logging.Handler):
    """The warnings and errors (with their tracebacks) the app logged during one request: those
    of every thread but the main one, where the worker runs."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != threading.main_thread().ident:
            self.records.append(record)

    def take(self) -> tuple[str, str]:
        """The last exception's class name and everything logged, and forget them."""
        kinds = [r.exc_info[0].__name__ for r in self.records if r.exc_info and r.exc_info[0]]
        formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")
        text = "\n".join(formatter.format(record) for record in self.records)
        self.records.clear()
        return (kinds[-1] if kinds else ""), text


def check(case: schemathesis.Case, tally: Tally, logged: Logged) -> None:
    label = case.operation.label
    try:
        request = case.as_curl_command()
    except Exception as error:  # a request curl can't spell still gets reported
        request = f"{case.method} {case.formatted_path} ({error!r})"
    logged.take()
    try:
        response = case.call(timeout=TIMEOUT_SECONDS)
    except Exception as error:
        # An unhandled exception that escapes the app (or a request that timed out).
        tally.outcomes[type(error).__name__] += 1
        trace = "".join(traceback.format_exception(error))
        tally.add(Finding(label, f"raised {type(error).__name__}", request, trace=trace))
        return
    status = response.status_code
    tally.outcomes[str(status)] += 1
    if status >= 500:
        kind, log = logged.take()
        problem = f"answered {status}" + (f" ({kind})" if kind else "")
        tally.add(Finding(label, problem, request, status, response.text, log))
    elif status >= 400:
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
        wrong = error_body_problem(body)
        if wrong is not None:
            tally.add(Finding(label, f"{status}: {wrong}", request, status, response.text))


@dataclass(frozen=True)
class Place:
    """What the requests aim at: keys and the ids that exist in place 42."""

    manager_key: str
    other_key: str
    ids: dict[str, list[Any]]


@st.composite
def aimed(
    draw: st.DrawFn, operation: schemathesis.APIOperation, mode: GenerationMode, place: Place
) -> schemathesis.Case:
    """A generated case, mostly pointed at place 42's ids and sent with its manager key."""
    case = draw(operation.as_strategy(generation_mode=mode))
    for name in case.path_parameters:
        roll = draw(st.integers(0, 99))
        if name == "place_id":
            if roll < 85:
                case.path_parameters[name] = PLACE
            elif roll < 90:
                case.path_parameters[name] = OTHER_PLACE
        elif name in place.ids and roll < 80:
            case.path_parameters[name] = draw(st.sampled_from(place.ids[name]))
    roll = draw(st.integers(0, 99))
    if roll < 85:
        case.headers["Api-Key"] = place.manager_key
    elif roll < 93:
        case.headers.pop("Api-Key", None)
    elif roll < 97:
        case.headers["Api-Key"] = place.other_key
    # else: whatever was generated (mostly an unknown key)
    return case


def fuzz(
    operation: schemathesis.APIOperation,
    mode: GenerationMode,
    place: Place,
    tally: Tally,
    logged: Logged,
) -> None:
    @seed(SEED)
    @settings(
        max_examples=EXAMPLES,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: failures are collected
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=aimed(operation, mode, place))
    def run(case: schemathesis.Case) -> None:
        check(case, tally, logged)

    try:
        run()
    except Unsatisfiable:
        # Nothing to violate (GET /healthz has no parameters): no negative case exists.
        if mode is GenerationMode.POSITIVE:
            raise
        tally.no_negative.append(operation.label)


def ordered(schema: Any) -> list[schemathesis.APIOperation]:
    """Every operation, deletes last, so the seeded ids live for most of the run."""
    operations = [result.ok() for result in schema.get_all_operations()]
    return sorted(operations, key=lambda operation: operation.method.upper() == "DELETE")


def seed_place(app: FastAPI, key: str) -> dict[str, list[Any]]:
    """Content in place 42 beyond the demo's: customers, a started trigger journey with an
    execution, a manual journey with a run, a recommendation."""
    headers = {"Api-Key": key}
    base = f"/places/{PLACE}"
    with asgi.get_client(cast(asgi.ASGIApp, app)) as client:

        def call(method: str, path: str, body: Any = None) -> Any:
            response = client.request(method, base + path, json=body, headers=headers)
            assert response.status_code in (200, 202), (path, response.text)
            return response.json()

        for customer in CUSTOMERS:
            call("PUT", f"/customers/{customer}", {"email": f"c{customer}@example.com"})
        created = {"name": "On orders", "trigger_event": "order.created"}
        trigger = only(
            call("POST", "/journeys", {**created, "machine_config": WELCOME_CONFIG}),
            "journey_definition",
        )["id"]
        call("POST", f"/journeys/{trigger}/start")
        event = {"event": "order.created", "customer_id": CUSTOMERS[0], "event_id": "fuzz-1"}
        executions = call("POST", "/events", event)["executions"]
        manual = only(
            call("POST", "/journeys", {**PROMO_CREATE, "machine_config": PROMO_CONFIG}),
            "journey_definition",
        )["id"]
        run_id = call("POST", f"/journeys/{manual}/run", {"include_segment_ids": [4]})["runId"]
        campaign = {"name": "Offer", "visibility": "public", "data": {}}
        recommendation = only(
            call("POST", "/recommendations", rec("create", "campaign", campaign)),
            "recommendation",
        )["id"]
    return {
        **DEMO_IDS,
        "customer_id": CUSTOMERS,
        "journey_id": [trigger, manual],
        "execution_id": executions,
        "run_id": [run_id],
        "recommendation_id": [recommendation],
    }


@pytest.fixture
async def fuzz_app(
    engine_under_test: Engine, temporal: WorkflowEnvironment
) -> AsyncIterator[FastAPI]:
    """The app on the worker's task queue, with its own engine and Temporal client (made on
    schemathesis's event loop when it starts the app's lifespan)."""
    settings = engine_under_test.settings.model_copy(
        update={"temporal_address": temporal.client.service_client.config.target_host}
    )
    app = create_app(settings)
    try:
        yield app
    finally:
        # Ends the lifespans schemathesis started (ours is the only one): disposes the engine.
        await asyncio.to_thread(asgi.shutdown_lifespans)


def fuzz_all(app: FastAPI, keys: Keys) -> Tally:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    place = Place(keys[PLACE], keys[OTHER_PLACE], seed_place(app, keys[PLACE]))
    tally = Tally()
    logged = Logged()
    app_log = logging.getLogger()
    app_log.addHandler(logged)
    try:
        for operation in ordered(schema):
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                fuzz(operation, mode, place, tally, logged)
    finally:
        app_log.removeHandler(logged)
    return tally


async def test_no_input_yields_a_5xx_or_a_4xx_without_the_error_body(
    fuzz_app: FastAPI, keys: Keys, database_url: str
) -> None:
    # A worker runs on this event loop (so execution queries are answered); schemathesis's
    # synchronous calls go from another thread.
    started = time.monotonic()
    tally = await asyncio.to_thread(fuzz_all, fuzz_app, keys)
    print(
        f"\nschemathesis {schemathesis.__version__} on {backend_of(database_url)}: "
        f"{sum(tally.outcomes.values())} requests in {time.monotonic() - started:.1f}s, "
        f"outcomes {dict(sorted(tally.outcomes.items()))}; "
        f"no negative case for {tally.no_negative}"
    )
    assert not tally.findings, f"{len(tally.findings)} findings:\n\n{tally.report()}"
