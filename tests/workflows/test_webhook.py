"""`webhook`: an HTTP call from a journey — retried through a 503 and delivered once (one
idempotency key) to a local server, FAILED on a 4xx, and never made to a private address
unless a setting allows it (checked at save, and at the call after DNS resolution)."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.webhooks import Webhooks
from journeys.settings import Settings
from store.db import session_factory
from tests.fixtures.database import Keys
from tests.fixtures.engine import Engine, engine_settings, running_engine
from tests.helpers.api import PLACE
from tests.helpers.journeys import (
    execution_steps,
    one_step_problems,
    send_event,
    started_journey,
)
from tests.servers import HttpServer, Reply
from tests.workflows.replay import keep
from workflows.contracts import JourneyInfo, WebhookInput


@pytest.fixture
async def open_engine(
    temporal: WorkflowEnvironment,
    clean_engine: AsyncEngine,
    keys: Keys,
    database_url: str,
    smtp_port: int,
    http: HttpServer,
) -> AsyncIterator[Engine]:
    """The product with webhooks allowed to call plain http on loopback (the test server)."""
    settings = engine_settings(
        database_url, smtp_port, http, webhook_allow_http=True, webhook_allow_private=True
    )
    async with running_engine(temporal, clean_engine, keys, settings) as running:
        yield running


def calling(url, **meta):
    return {
        "initial": "tell_crm",
        "states": {
            "tell_crm": {
                "meta": {"type": "webhook", "url": url, **meta},
                "on": {"DONE": "done", "FAILED": "crm_failed"},
            },
            "done": {"type": "final"},
            "crm_failed": {"type": "final"},
        },
    }


BODY = (
    '{"customer": {{ customer.id }}, "tier": "{{ customer.tier }}", '
    '"total": {{ event.data.total }}}'
)


@pytest.mark.e2e
async def test_a_503_is_retried_and_the_call_lands_once(open_engine, http):
    engine = open_engine
    answers = [Reply(503, {"message": "busy"}), Reply(200, {"id": "crm-1", "ok": True})]
    http.route("POST", "/crm", lambda _: answers.pop(0) if len(answers) > 1 else answers[0])
    config = calling(
        f"{http.url}/crm?source=journeys", headers={"Authorization": "Bearer t0k3n"}, body=BODY
    )
    journey_id = await started_journey(
        engine.api, {"name": "Tell", "trigger_event": "order.created"}, config
    )
    await engine.api.put(f"/places/{PLACE}/customers/7", json={"attributes": {"tier": "gold"}})
    body = {"event": "order.created", "customer_id": 7, "event_id": "o-1", "data": {"total": 42}}
    response = await engine.api.post(f"/places/{PLACE}/events", json=body)
    (execution_id,) = response.json()["executions"]
    assert (await engine.execution_result(execution_id)).final_state == "done"

    calls = http.received("/crm")
    assert len(calls) == 2  # the 503, then the one that landed
    assert {call.headers["idempotency-key"] for call in calls} == {f"{execution_id}:tell_crm:1"}
    landed = calls[-1]
    assert landed.json() == {"customer": 7, "tier": "gold", "total": 42}
    assert landed.headers["authorization"] == "Bearer t0k3n"
    assert landed.headers["content-type"] == "application/json"
    assert landed.headers["host"] == f"127.0.0.1:{http.port}"
    steps = await execution_steps(engine, journey_id, execution_id)
    assert steps[0]["event"] == "DONE"
    assert steps[0]["detail"] == 'HTTP 200: {"id": "crm-1", "ok": true}'
    await keep(engine.client.get_workflow_handle(execution_id), "webhook-retried")


@pytest.mark.e2e
async def test_a_4xx_leaves_by_failed_with_the_start_of_the_answer(open_engine, http):
    engine = open_engine
    http.route("PUT", "/crm", Reply(422, {"message": "x" * 5000}))
    config = calling(f"{http.url}/crm", method="PUT")
    journey_id = await started_journey(
        engine.api, {"name": "Tell", "trigger_event": "order.created"}, config
    )
    (execution_id,) = await send_event(engine, "order.created", 7, "o-1")
    assert (await engine.execution_result(execution_id)).final_state == "crm_failed"
    assert len(http.received("/crm")) == 1  # not retried
    (step, _) = await execution_steps(engine, journey_id, execution_id)
    assert step["event"] == "FAILED"
    assert step["detail"].startswith('HTTP 422: {"message": "xxx')
    # The first KB of the answer, no more.
    assert len(step["detail"]) == len("HTTP 422: ") + 1024


async def test_a_private_address_is_refused_at_the_call_after_resolution(clean_engine, http):
    """Saved under a policy that allowed it, called under one that doesn't (the default):
    `localhost` resolves to loopback, and no request is made."""
    webhooks = Webhooks(session_factory(clean_engine), Settings(webhook_allow_http=True))
    http.route("POST", "/crm", Reply(200, {}))
    port = http.port
    env = ActivityEnvironment()
    for url in (f"http://localhost:{port}/crm", f"http://127.0.0.1:{port}/crm"):
        result = await env.run(webhooks.call_webhook, _call(url))
        assert not result.delivered
        assert "127.0.0.1, a loopback address" in result.detail
    assert http.received("/crm") == []


def _call(url: str) -> WebhookInput:
    return WebhookInput(
        place_id=PLACE,
        customer_id=7,
        idempotency_key="k",
        url=url,
        method="POST",
        journey=JourneyInfo(id=1, name="J", version=1),
        execution_id="e",
        state="s",
    )


@pytest.mark.parametrize(
    ("meta", "on", "path", "words"),
    [
        ({"url": "http://crm.example.com/hook"}, {}, "meta.url", "https"),
        ({"url": "https://127.0.0.1/hook"}, {}, "meta.url", "loopback address"),
        ({"url": "https://169.254.169.254/latest"}, {}, "meta.url", "link-local address"),
        ({"url": "https://10.1.2.3/hook"}, {}, "meta.url", "private address"),
        ({"url": "https://localhost/hook"}, {}, "meta.url", "loopback address"),
        ({"url": "https://user:pw@crm.example.com/"}, {}, "meta.url", "credentials"),
        ({"url": "https://[64:ff9b::a00:5]/hook"}, {}, "meta.url", "IPv4-embedding address"),
        ({"url": "https://[::ffff:10.0.0.1]/hook"}, {}, "meta.url", "private address"),
        ({"url": "crm.example.com"}, {}, "meta.url", "https"),
        ({}, {}, "meta.url", "must be an https URL"),
        ({"url": "https://crm.example.com", "method": "TRACE"}, {}, "meta.method", "one of"),
        (
            {"url": "https://crm.example.com", "headers": {"Idempotency-Key": "x"}},
            {},
            "meta.headers.Idempotency-Key",
            "set by the call itself",
        ),
        (
            {"url": "https://crm.example.com", "headers": {"X-A": "a\nb"}},
            {},
            "meta.headers.X-A",
            "one line",
        ),
        (
            {"url": "https://crm.example.com", "headers": {"X-City": "Zürich"}},
            {},
            "meta.headers.X-City",
            "visible ASCII",
        ),
        (
            {"url": "https://crm.example.com", "headers": {"Host\n": "x"}},
            {},
            "meta.headers.Host\n",
            "not a header name",
        ),
        ({"url": "https://crm.example.com", "body": "{% if %}"}, {}, "meta.body", "Liquid"),
        ({"url": "https://crm.example.com"}, {"FAILED": None}, "on", "must handle FAILED"),
    ],
)
async def test_bad_webhook_steps_name_the_field(api, meta, on, path, words):
    transitions = {"DONE": "done", "FAILED": "done", **on}
    kept = {event: to for event, to in transitions.items() if to}
    problems = await one_step_problems(api, {"type": "webhook", **meta}, kept)
    assert words in problems[path], problems
