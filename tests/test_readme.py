"""The README's walk-through, pasted as is into a shell beside a fresh `journeys dev`, ends
with a delivered message: in the dev terminal and in `GET …/messages`. And every link of the
README and docs/ leads to a page of the repository."""

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from tests.helpers.api import import_customers, only
from tests.helpers.dev import WELCOME_ANA_SENT, Dev

ROOT = Path(__file__).resolve().parents[1]


def walk_through(heading: str = "Walk-through") -> str:
    """The shell blocks of a README section, in order."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split(f"\n## {heading}", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    assert blocks, f"{heading} has no shell block"
    return "\n".join(blocks)


def pasted(tmp_path: Path, script: str) -> tuple[str, Dev]:
    """What `script` prints, pasted into a shell beside a fresh `journeys dev` (the default
    data dir, as the README has it), and the dev stack it ran beside."""
    dev = Dev(Path(".journeys"), cwd=tmp_path)
    try:
        env = {**os.environ, "JOURNEYS_API_URL": f"http://127.0.0.1:{dev.port}"}
        done = subprocess.run(
            ["bash", "-e", "-c", script],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    finally:
        assert dev.stop(signal.SIGINT) == 0
    return done.stdout, dev


@pytest.mark.e2e
def test_the_walk_through_ends_with_a_delivered_message(tmp_path):
    printed, dev = pasted(tmp_path, walk_through())
    answers = [line for line in printed.splitlines() if line.startswith("{")]
    created, configured, started, event, messages, execution, broken = map(json.loads, answers)
    (journey,) = created["node.journey_definition"].values()
    assert journey["name"] == "Welcome new members"
    (journey,) = configured["node.journey_definition"].values()
    assert journey["version"] == 2
    assert next(iter(started["node.journey_definition"].values()))["active"] is True
    (execution_id,) = event["executions"]
    (message,) = messages["node.message"].values()
    assert (message["status"], message["channel"], message["to"]) == (
        "sent",
        "email",
        "ana@example.com",
    )
    assert message["subject"] == "Welcome to Demo, Ana!"
    (ran,) = execution["node.journey_execution"].values()
    assert (ran["id"], ran["status"]) == (execution_id, "completed")
    assert [(s["state"], s["detail"]) for s in ran["steps"]] == [
        ("send_welcome", f"message {message['id']} sent"),
        ("done", None),
    ]
    assert broken["error"]["code"] == "validation_error"
    assert broken["error"]["details"][0]["path"] == "machine_config.states.wait.on"
    assert WELCOME_ANA_SENT in dev.lines


@pytest.mark.e2e
def test_the_safety_controls_example_runs_as_written(tmp_path):
    """The README's worked example of the controls: consent, a cap, entry rules, a goal and
    the one-click link in a sent email's body."""
    setup = "API=${JOURNEYS_API_URL}/places/42\nKEY=$(cat .journeys/dev-api-key)\n"
    printed, _ = pasted(tmp_path, setup + walk_through("Safe to run on real customers"))
    lines = printed.splitlines()
    answers = [json.loads(line) for line in lines if line.startswith(("{", "["))]
    ben, place, events, again, outcomes, stats, ana = answers
    (shown,) = ben["node.customer"].values()
    assert shown["subscriptions"]["email"] == "unsubscribed"
    (settings,) = place["node.place_settings"].values()
    assert settings["frequencyCaps"] == {"sms": {"max": 2, "perDays": 1}}
    assert events["triggered"] == 2
    assert (again["triggered"], len(again["skipped"])) == (0, 1)
    assert outcomes == [[1, "sent", None], [2, "skipped", "unsubscribed"]]
    (journey,) = stats["node.journey_stats"].values()
    assert (journey["goal"]["converted"], journey["goal"]["rate"]) == (1, 0.5)
    assert "200" in lines
    (customer,) = ana["node.customer"].values()
    assert customer["subscriptions"]["email"] == "unsubscribed"
    assert customer["subscriptionChanges"]["email"]["source"] == "unsubscribe_link"


def test_every_link_of_the_docs_leads_inside_the_repository():
    """A clone has nothing beside it: the README and docs/ link only their own pages, and
    every link (and its #anchor) resolves."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        text = page.read_text()
        assert "../shared" not in text, page
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            where = f"{page.relative_to(ROOT)} links {target}"
            assert "://" not in target, where
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            assert linked.is_file() and ROOT in linked.parents, where
            if anchor:
                headings = re.findall(r"^#+ (.+)$", linked.read_text(), re.MULTILINE)
                assert anchor in {slug(heading) for heading in headings}, where


def slug(heading: str) -> str:
    """A heading's anchor, as GitHub makes it."""
    return re.sub(r"[^\w\- ]", "", heading).strip().lower().replace(" ", "-")


async def test_the_richer_steps_example_is_a_journey_that_simulates_as_told(api):
    """The README's example of the richer steps saves as written, and its simulation for
    Ana, who orders on day 2, takes the path the README tells."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Richer steps", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```json\n(.*?)```", section, re.DOTALL)
    config = json.loads(block)
    await import_customers(api, [{"id": 1, "email": "ana@example.com", "attributes": {}}])
    create = {"name": "Thank or nudge", "trigger_event": "account.created"}
    response = await api.post("/places/42/journeys", json={**create, "machine_config": config})
    assert response.status_code == 200, response.text
    journey_id = only(response.json(), "journey_definition")["id"]
    order = {"after_days": 2, "event": "order.created", "data": {"total": 40}}
    ran = {}
    for event_id in (f"signup-{i}" for i in range(40)):
        body = {"customer_id": 1, "event": {"id": event_id}, "events": [order]}
        answer = await api.post(f"/places/42/journeys/{journey_id}/simulate", json=body)
        assert answer.status_code == 200, answer.text
        result = answer.json()
        ran[result["steps"][0]["event"]] = [(s["state"], s["event"]) for s in result["steps"]]
    assert ran["HOLDOUT"] == [("experiment", "HOLDOUT"), ("done", None)]
    assert ran["JOURNEY"] == [
        ("experiment", "JOURNEY"),
        ("wait_order", "RECEIVED"),
        ("tell_crm", "DONE"),
        ("thank", "DONE"),
        ("done", None),
    ]
