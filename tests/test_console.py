"""The operator console in a real browser (Playwright driving Debian's headless Chromium,
which reaches nothing but loopback): sign-in, the journeys list, the specification's
win-back journey drawn with the same counts as `/stats`, the customers in a state, and
axe-core's accessibility check on each page. Screenshots go to the test's directory, and to
docs/console/ with JOURNEYS_SAVE_SCREENSHOTS=1 (the README shows those).

Without Chromium these tests are skipped, except in CI (`JOURNEYS_TEST_REQUIRE_BROWSER=1`)."""

import asyncio
import json
import os
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, async_playwright
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from store import messages as messages_store
from tests.fixtures.database import Keys
from tests.fixtures.engine import Engine, engine_settings, running_engine
from tests.helpers.api import OTHER_PLACE, PLACE, import_customers, only
from tests.helpers.journeys import JOURNEYS, ONE_EMAIL, started_journey
from tests.servers import LOOPBACK, HttpServer
from tests.spec_examples import WINBACK_CONFIG, WINBACK_CREATE
from tests.test_docs_pages import CHROMIUM, _needs_chromium
from tests.workflows.test_journey_rules import stats_when

pytestmark = [pytest.mark.e2e]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "console"
# The other place's journey (it has no templates).
THEIRS = {
    "initial": "wait_2_days",
    "states": {
        "wait_2_days": {
            "meta": {"type": "wait_for_duration", "days": 2},
            "on": {"ELAPSED": "done"},
        },
        "done": {"type": "final"},
    },
}
# axe-core's impacts that fail the test.
SERIOUS = ("serious", "critical")


@pytest.fixture
async def console(
    temporal: WorkflowEnvironment,
    clean_engine: AsyncEngine,
    keys: Keys,
    database_url: str,
    smtp_port: int,
    http: HttpServer,
) -> AsyncIterator[tuple[Engine, str]]:
    """The product with its engine, and the same app served over HTTP on loopback for the
    browser (in this event loop: it shares the database engine and the Temporal client)."""
    _needs_chromium()
    secret = "a console secret of at least 32 characters"
    settings = engine_settings(database_url, smtp_port, http, console_secret=secret)
    async with running_engine(temporal, clean_engine, keys, settings) as engine:
        app = create_app(engine.settings, engine=clean_engine, temporal=engine.client)
        listening = socket.socket()
        listening.bind((LOOPBACK, 0))
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        serving = asyncio.create_task(server.serve(sockets=[listening]))
        async with asyncio.timeout(10):
            while not server.started:  # noqa: ASYNC110 - uvicorn has no event for it
                await asyncio.sleep(0.02)
        try:
            yield engine, f"http://{LOOPBACK}:{listening.getsockname()[1]}"
        finally:
            server.should_exit = True
            await serving
            listening.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    _needs_chromium()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {LOOPBACK}"],
        )
        try:
            yield launched
        finally:
            await launched.close()


async def accessible(page: Page, what: str) -> None:
    """axe-core finds no serious or critical violation on the page."""
    results = await Axe().run(page)
    found = [v for v in results.response["violations"] if v["impact"] in SERIOUS]
    assert not found, f"{what}: " + "; ".join(f"{v['id']}: {v['help']}" for v in found)


async def shot(page: Page, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    await page.screenshot(path=path, full_page=True)
    assert path.stat().st_size > 10_000
    if os.environ.get("JOURNEYS_SAVE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(exist_ok=True)
        (SCREENSHOTS / path.name).write_bytes(path.read_bytes())
    print(f"screenshot of {name}: {path}")


async def signed_in(browser: Browser, url: str, key: str) -> Page:
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await page.goto(f"{url}/console")
    assert page.url.endswith("/console/sign-in")
    await page.get_by_label("Manager API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{url}/console/journeys")
    return page


def counts_lines(stats: dict[str, Any], state: str) -> tuple[str, str | None]:
    """What a state's box says of its executions, and of its messages (send steps)."""
    shown = stats["states"][state]
    executions = f"now {shown['current']} · in {shown['entered']}"
    sent = shown.get("messages")
    if sent is None:
        return executions, None
    return executions, f"sent {sent['sent']} · skipped {sent['skipped']} · failed {sent['failed']}"


async def test_the_win_back_journey_is_drawn_with_the_counts_of_its_stats(
    console, browser, keys, tmp_path
):
    engine, url = console
    journey_id = await started_journey(engine.api, WINBACK_CREATE, WINBACK_CONFIG)
    customers = [{"id": i, "email": f"c{i}@example.com"} for i in (1, 2, 3)]
    await import_customers(engine.api, customers)
    for i in (1, 2, 3):
        body = {"event": WINBACK_CREATE["trigger_event"], "customer_id": i, "event_id": f"s-{i}"}
        response = await engine.api.post(f"/places/{PLACE}/events", json=body)
        assert response.status_code == 202, response.text
    stats = await stats_when(
        engine, journey_id, lambda s: s["states"]["wait_2_days"]["current"] == 3
    )

    page = await signed_in(browser, url, keys[PLACE])
    row = f'[data-journey="{journey_id}"]'
    await page.wait_for_selector(f"{row} [data-running]")
    assert await page.text_content(f"{row} [data-running]") == "3"
    assert await page.text_content(f"{row} [data-converted]") == "0"
    await accessible(page, "the journeys list")
    await shot(page, tmp_path, "journeys")
    await page.get_by_role("link", name=WINBACK_CREATE["name"]).click()
    await page.wait_for_url(f"{url}/console/journeys/{journey_id}")
    # The live diagram replaces "counting…" with the stats' counts.
    await page.wait_for_selector("text=counting…", state="detached")
    states = await page.eval_on_selector_all(
        "svg.diagram a.state", "nodes => nodes.map(n => n.dataset.state)"
    )
    assert sorted(states) == sorted(WINBACK_CONFIG["states"])
    for state in WINBACK_CONFIG["states"]:
        executions, messages = counts_lines(stats, state)
        assert (await page.text_content(f'[data-counts="{state}"]') or "").strip() == executions
        found = page.locator(f'[data-messages="{state}"]')
        assert (await found.text_content() if messages else None) == messages, state
    assert "template" in (await page.text_content('[data-state="send_email"]') or "")
    await accessible(page, "the journey")
    await shot(page, tmp_path, "journey-diagram")

    # By keyboard: tabbing reaches the first state's box, and Enter opens it.
    for _ in range(40):
        await page.keyboard.press("Tab")
        focused = await page.evaluate("document.activeElement.dataset.state || null")
        if focused:
            break
    assert focused == "wait_2_days"
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{url}/console/journeys/{journey_id}/state?name=wait_2_days")
    rows = await page.locator("tbody tr").all_inner_texts()
    assert sorted(row.split("\t")[0] for row in rows) == ["1", "2", "3"]
    await accessible(page, "a state's customers")
    await shot(page, tmp_path, "state-customers")


async def test_one_customer_is_followed_from_a_state_to_their_message(
    console, browser, keys, mailbox, tmp_path
):
    engine, url = console
    winback = await started_journey(engine.api, WINBACK_CREATE, WINBACK_CONFIG)
    welcome = await started_journey(
        engine.api, {"name": "Welcome", "trigger_event": "account.created"}, ONE_EMAIL
    )
    await import_customers(engine.api, [{"id": 1, "email": "ana@example.com"}])
    for event, event_id in ((WINBACK_CREATE["trigger_event"], "s-1"), ("account.created", "a-1")):
        body = {"event": event, "customer_id": 1, "event_id": event_id}
        assert (await engine.api.post(f"/places/{PLACE}/events", json=body)).status_code == 202
    await stats_when(engine, winback, lambda s: s["states"]["wait_2_days"]["current"] == 1)
    await stats_when(engine, welcome, lambda s: s["executions"]["completed"] == 1)

    page = await signed_in(browser, url, keys[PLACE])
    await page.goto(f"{url}/console/journeys/{winback}/state?name=wait_2_days")
    await page.get_by_role("link", name="1", exact=True).click()
    await page.wait_for_url(f"{url}/console/customers/1")
    assert "ana@example.com" in await page.inner_text("main")
    journeys_shown = await page.locator("tbody tr td:first-child a").all_inner_texts()
    assert {WINBACK_CREATE["name"], "Welcome"} <= set(journeys_shown)
    await accessible(page, "a customer")
    await shot(page, tmp_path, "customer")

    # Their welcome execution's timeline, and the message it sent.
    await page.get_by_role("link", name=f"journey-{welcome}-event-a-1").click()
    await page.wait_for_url(f"{url}/console/journeys/{welcome}/executions/*")
    timeline = await page.inner_text("ol.timeline")
    assert "send" in timeline and "DONE" in timeline and "done" in timeline
    await accessible(page, "an execution's timeline")
    await shot(page, tmp_path, "execution-timeline")
    await page.get_by_role("link", name=re.compile(r"^message \d+$")).click()
    await page.wait_for_url(f"{url}/console/messages/*")
    shown = await page.inner_text("main")
    assert "sent" in shown and "ana@example.com" in shown
    assert mailbox.received and mailbox.received[0].rcpt_tos == ["ana@example.com"]
    await accessible(page, "a message")

    await page.goto(f"{url}/console/messages?channel=email&status=sent")
    assert await page.locator("tbody tr").count() == 1
    await accessible(page, "the messages")
    await page.goto(
        f"{url}/console/journeys/{winback}/executions?status=running&state=&customer_id=1"
    )
    assert await page.locator("tbody tr").count() == 1
    await accessible(page, "the executions")


async def test_a_session_sees_only_its_place_and_forms_need_their_token(console, browser, keys):
    engine, url = console
    ours = await started_journey(engine.api, WINBACK_CREATE, WINBACK_CONFIG)
    other_api = httpx.AsyncClient(base_url=url, headers=keys.headers(OTHER_PLACE))
    created = await other_api.post(
        f"/places/{OTHER_PLACE}/journeys",
        json={**WINBACK_CREATE, "name": "Theirs", "machine_config": THEIRS},
    )
    assert created.status_code == 200, created.text
    theirs = only(created.json(), "journey_definition")["id"]

    page = await signed_in(browser, url, keys[PLACE])
    (session,) = [c for c in await page.context.cookies() if c["name"] == "journeys_console"]
    assert (session["httpOnly"], session["sameSite"], session["path"]) == (
        True,
        "Strict",
        "/console",
    )
    assert keys[PLACE] not in session["value"]
    assert await page.get_by_role("link", name="Theirs").count() == 0
    for path in ("", "/live", "/state?name=wait_2_days", "/delete", "/executions"):
        answer = await page.goto(f"{url}/console/journeys/{theirs}{path}")
        assert answer is not None and answer.status == 404, path
        assert await page.get_by_role("heading", name="Not found").count() == 1
    # Their customer, their execution (through our journey too), their message.
    await import_customers(other_api, [{"id": 99, "email": "them@example.com"}], place=OTHER_PLACE)
    their_run = f"journey-{theirs}-event-x"
    async with engine.sessions() as session:
        message_id = await messages_store.record(
            session,
            "their-key",
            None,
            {
                "place_id": OTHER_PLACE,
                "customer_id": 99,
                "channel": "email",
                "status": "sent",
            },
        )
        await session.commit()
    made = await other_api.post(
        f"/places/{OTHER_PLACE}/templates",
        json={"name": "Theirs", "channel": "email", "subject": "Hi", "body": "Hello"},
    )
    their_template = only(made.json(), "communication_template")["id"]
    for path in (
        f"/templates/{their_template}",
        f"/templates/{their_template}?customer_id=99",
        f"/journeys/{theirs}/simulate?customer_id=99",
        f"/journeys/{theirs}/versions",
        f"/journeys/{theirs}/edit",
        f"/journeys/{theirs}/run",
        f"/journeys/{theirs}/runs/x",
        f"/journeys/{theirs}/executions?status=running",
        f"/messages?journey_id={theirs}",
        "/customers/99",
        f"/journeys/{theirs}/executions/{their_run}",
        f"/journeys/{ours}/executions/{their_run}",
        f"/messages/{message_id}",
    ):
        answer = await page.goto(f"{url}/console{path}")
        assert answer is not None and answer.status == 404, path
    answer = await page.goto(f"{url}/console/journeys/{ours}")
    assert answer is not None and answer.status == 200

    # A form posted without the session's token changes nothing.
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    async with httpx.AsyncClient(base_url=url, cookies=cookies) as forged:
        refused = await forged.post(f"/console/journeys/{ours}/stop", data={"csrf": "forged"})
        assert refused.status_code == 403
        assert "did not come from the console" in refused.text
    journey = only((await engine.api.get(f"{JOURNEYS}/{ours}")).json(), "journey_definition")
    assert journey["active"] is True

    await other_api.aclose()
    # Signed out, the pages send you to the sign-in form.
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(f"{url}/console/sign-in")
    await page.goto(f"{url}/console/journeys/{ours}")
    assert page.url.endswith("/console/sign-in")


async def test_a_wrong_key_is_refused_and_the_cookie_is_safe(console, browser):
    _, url = console
    page = await browser.new_page()
    await page.goto(f"{url}/console/sign-in")
    await page.get_by_label("Manager API key").fill("not-a-key")
    await page.get_by_role("button", name="Sign in").click()
    assert await page.get_by_role("alert").inner_text() == "That is not a manager API key."
    assert not [c for c in await page.context.cookies() if c["name"] == "journeys_console"]


async def test_an_invalid_config_is_shown_at_its_path_and_a_run_reaches_100(
    console, browser, keys, tmp_path
):
    engine, url = console
    winback = await started_journey(engine.api, WINBACK_CREATE, WINBACK_CONFIG)
    page = await signed_in(browser, url, keys[PLACE])
    await page.goto(f"{url}/console/journeys/{winback}")
    await page.get_by_role("link", name="Edit the config").click()
    await page.wait_for_url(f"{url}/console/journeys/{winback}/edit")
    broken = json.loads(await page.get_by_label("machineConfig (JSON)").input_value())
    assert broken == WINBACK_CONFIG
    broken["states"]["wait_2_days"]["on"]["ELAPSED"] = "nowhere"
    await page.get_by_label("machineConfig (JSON)").fill(json.dumps(broken, indent=2))
    await page.get_by_role("button", name="Save").click()
    problems = await page.get_by_role("alert").inner_text()
    assert "machine_config.states.wait_2_days.on.ELAPSED names no state" in problems
    await accessible(page, "the editor with problems")
    await shot(page, tmp_path, "editor-problems")
    shown = only((await engine.api.get(f"{JOURNEYS}/{winback}")).json(), "journey_definition")
    assert (shown["version"], shown["machineConfig"]) == (2, WINBACK_CONFIG)

    # Fixed, checked (nothing saved), then saved as version 3.
    fixed = json.loads(json.dumps(WINBACK_CONFIG))
    fixed["initial"] = "send_email"
    del fixed["states"]["wait_2_days"]
    await page.get_by_label("machineConfig (JSON)").fill(json.dumps(fixed))
    await page.get_by_role("button", name="Check").click()
    assert "No problems" in await page.get_by_role("status").inner_text()
    await page.get_by_role("button", name="Save").click()
    await page.wait_for_url(f"{url}/console/journeys/{winback}")
    shown = only((await engine.api.get(f"{JOURNEYS}/{winback}")).json(), "journey_definition")
    assert (shown["version"], shown["machineConfig"]) == (3, fixed)
    await page.get_by_role("link", name="Versions").click()
    await page.wait_for_url(f"{url}/console/journeys/{winback}/versions")
    versions = await page.eval_on_selector_all(
        "details.version", "nodes => nodes.map(n => n.dataset.version)"
    )
    assert versions == ["3", "2", "1"]
    newest = await page.locator("details.version").first.locator("pre").inner_text()
    assert json.loads(newest) == fixed
    await accessible(page, "the versions")

    # A manual run of every customer, watched to the end.
    await import_customers(engine.api, [{"id": i} for i in range(1, 31)])
    promo = await started_journey(
        engine.api,
        {"name": "Promo", "trigger_event": "manual"},
        {"initial": "done", "states": {"done": {"type": "final"}}},
    )
    await page.goto(f"{url}/console/journeys/{promo}")
    await page.get_by_role("link", name="Run…").click()
    await page.wait_for_url(f"{url}/console/journeys/{promo}/run")
    await accessible(page, "the run form")
    await page.get_by_role("button", name="Run").click()
    await page.wait_for_url(f"{url}/console/journeys/{promo}/runs/*")
    await page.wait_for_selector("[data-status]:has-text('completed')", timeout=60_000)
    assert await page.text_content("[data-percent]") == "100"
    assert await page.text_content("[data-started]") == "30"
    assert await page.text_content("[data-targeted]") == "30"
    await accessible(page, "a run's progress")
    await shot(page, tmp_path, "run-progress")


async def test_templates_are_previewed_and_test_sent_a_journey_simulated_settings_saved(
    console, browser, keys, mailbox, tmp_path
):
    engine, url = console
    winback = await started_journey(engine.api, WINBACK_CREATE, WINBACK_CONFIG)
    await import_customers(
        engine.api,
        [{"id": 1, "email": "ana@example.com", "phone": "+14155550101"}],
    )
    page = await signed_in(browser, url, keys[PLACE])

    await page.get_by_role("link", name="Templates").click()
    await page.wait_for_url(f"{url}/console/templates")
    await page.click('[data-template="5"] a')
    await page.wait_for_url(f"{url}/console/templates/5")
    await page.get_by_label("For customer id", exact=True).fill("1")
    await page.get_by_role("button", name="Preview").click()
    await page.wait_for_selector("[data-preview]")
    previewed = (
        await engine.api.post(f"/places/{PLACE}/templates/5/preview", json={"customer_id": 1})
    ).json()
    assert await page.text_content("[data-subject]") == previewed["subject"]
    await accessible(page, "a template with its preview")
    await shot(page, tmp_path, "template-preview")
    await page.get_by_label("Send to (email address)").fill("me@example.com")
    await page.get_by_role("button", name="Send a test").click()
    await page.wait_for_url(f"{url}/console/messages/*")
    assert "(test)" in await page.inner_text("h1")
    assert [m.rcpt_tos for m in mailbox.received] == [["me@example.com"]]

    await page.goto(f"{url}/console/journeys/{winback}")
    await page.get_by_role("link", name="Simulate").click()
    await page.wait_for_url(f"{url}/console/journeys/{winback}/simulate")
    await page.get_by_label("Customer id").fill("1")
    await page.get_by_role("button", name="Simulate").click()
    await page.wait_for_selector("[data-walk]")
    walked = await page.eval_on_selector_all(
        "[data-walk] li", "nodes => nodes.map(n => n.dataset.step)"
    )
    assert walked == ["wait_2_days", "send_email", "wait_3_days", "send_sms", "done"]
    assert "day 2" in await page.inner_text('[data-step="send_email"]')
    await accessible(page, "a simulation")
    await shot(page, tmp_path, "simulation")

    await page.get_by_role("link", name="Settings").click()
    await page.wait_for_url(f"{url}/console/settings")
    quiet = {"start": "25:00", "end": "08:00"}
    wanted = {"timezone": "Europe/Berlin", "quiet_hours": quiet}
    await page.get_by_label("Settings (JSON)").fill(json.dumps(wanted))
    await page.get_by_role("button", name="Save").click()
    assert "quiet_hours.start" in await page.get_by_role("alert").inner_text()
    quiet["start"] = "21:00"
    await page.get_by_label("Settings (JSON)").fill(json.dumps(wanted))
    await page.get_by_role("button", name="Save").click()
    await page.wait_for_url(f"{url}/console/settings")
    stored = only((await engine.api.get(f"/places/{PLACE}/settings")).json(), "place_settings")
    assert (stored["timezone"], stored["quietHours"]) == (
        "Europe/Berlin",
        {"start": "21:00", "end": "08:00"},
    )
    await accessible(page, "the settings")


async def signed_in_client(url: str, key: str) -> httpx.AsyncClient:
    """An HTTP client signed in to the console as a browser would be (its cookies kept)."""
    client = httpx.AsyncClient(base_url=url)
    form = await client.get("/console/sign-in")
    found = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert found
    done = await client.post("/console/sign-in", data={"csrf": found.group(1), "api_key": key})
    assert done.status_code == 303
    return client


async def test_odd_input_gets_a_page_never_a_500(console, keys):
    engine, url = console
    winback = await started_journey(engine.api, WINBACK_CREATE, WINBACK_CONFIG)
    empty = only(
        (await engine.api.post(JOURNEYS, json={"name": "Empty", "trigger_event": "manual"})).json(),
        "journey_definition",
    )["id"]
    client = await signed_in_client(url, keys[PLACE])
    try:
        journey_page = (await client.get(f"/console/journeys/{winback}/edit")).text
        csrf = re.search(r'name="csrf" value="([^"]+)"', journey_page)
        assert csrf
        token = csrf.group(1)
        answers = {
            "a token that is no token": await client.post(
                f"/console/journeys/{winback}/stop", content=b"csrf=%C3%A9%FF"
            ),
            "unicode digits": await client.get("/console/messages?journey_id=%C2%B2"),
            "a customer id of 0": await client.get("/console/templates/5?customer_id=0"),
            "JSON nested too deep": await client.post(
                f"/console/journeys/{winback}/edit",
                data={"csrf": token, "version": "2", "machine_config": "[" * 5000},
            ),
            "a NUL": await client.post(
                "/console/journeys", content=f"csrf={token}&name=a%00b".encode()
            ),
            "too many fields": await client.post(
                "/console/journeys", content="&".join(["x=1"] * 600).encode()
            ),
        }
        for what, answer in answers.items():
            assert 400 <= answer.status_code < 500, (what, answer.status_code)
            assert answer.headers["content-type"].startswith("text/html"), what
        # A journey without a config, polled live; a run's fan-out is no execution.
        assert (await client.get(f"/console/journeys/{empty}/live")).status_code == 200
        fan_out = await client.get(f"/console/journeys/{empty}/executions/journey-{empty}-run-x")
        assert fan_out.status_code == 404
        # An outdated editor doesn't overwrite a newer version.
        stale = await client.post(
            f"/console/journeys/{winback}/edit",
            data={"csrf": token, "version": "1", "machine_config": "{}", "action": "save"},
        )
        assert stale.status_code == 422 and "saved as version 2 meanwhile" in stale.text
    finally:
        await client.aclose()
    # A live part polling without a session is sent to sign-in as a whole page.
    async with httpx.AsyncClient(base_url=url) as anonymous:
        polled = await anonymous.get(
            f"/console/journeys/{winback}/live", headers={"HX-Request": "true"}
        )
        assert (polled.status_code, polled.headers["HX-Redirect"]) == (204, "/console/sign-in")
        raw = "journeys_console=a.\u00e9".encode("latin-1")
        forged = await anonymous.get("/console/journeys", headers={b"Cookie": raw})
        assert forged.status_code == 303
