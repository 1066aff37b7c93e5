"""Soak and faults: the real stack as processes, driven hard and broken on purpose.

    python -m bench.soak [--scenario NAME ...] [--quick] [--postgres URL] [--json PATH]
                         [--run-dir DIR] [sizes: see --help]

Runs the Temporal dev server (`temporal server start-dev`, file database in the run dir),
`journeys migrate`, `journeys worker` and `journeys api` as separate processes configured only
by `JOURNEYS_*` variables, with a counting SMTP server (aiosmtpd) and a counting SMS webhook
in this process (`bench/soak_stack.py`). Every scenario gets its own journey and prints a
ledger: events sent, distinct event ids, executions (reported by the API, seen in Temporal's
visibility, not ended), messages by status, provider calls, provider duplicates (a key a
provider received more than once), lost messages (expected but never received, or without a
`sent` row), log duplicates (two rows for one key), HTTP answers by status and the slowest.

Scenarios (default: all, in this order):
  load              N events (10 % repeated ids) at concurrency 32, a one-email journey
  worker-kill       multi-step executions (email, wait, condition, SMS or campaign clone);
                    the worker SIGKILLed three times and started again
  temporal-restart  Temporal stopped (SIGTERM) and started on the same file while events come
  db-down           the database unreachable for 20 s while events come: PostgreSQL through a
                    TCP proxy that is cut; SQLite (no network) by a connection holding
                    BEGIN EXCLUSIVE
  smtp-down         SMTP refusing connections for 30 s while events come
  api-kill          the API SIGKILLed while it handles a batch, started again; the source
                    sends the same batch again

The event source is at-least-once: it retries a 5xx answer or a failed connection with
backoff, with the same event ids. Exit status 1 if any scenario breaks its expectations, 2 if
the stack could not run. Needs the test extras (aiosmtpd): pip install -e '.[test]'.
"""

import argparse
import asyncio
import contextlib
import json
import random
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from activities.channels.base import key_digest
from bench.soak_stack import (
    EMAIL_FROM,
    PLACE,
    ROOT,
    Call,
    LogMark,
    SqliteLock,
    Stack,
    StackError,
    drop_postgres,
)
from tests.servers import LOOPBACK

SCENARIOS = ("load", "worker-kill", "temporal-restart", "db-down", "smtp-down", "api-kill")
# Triggers are a fixed list: each scenario's journey has one of its own.
TRIGGERS = {
    "load": "order.created",
    "worker-kill": "order.updated",
    "temporal-restart": "order.closed",
    "db-down": "account.created",
    "smtp-down": "account.updated",
    "api-kill": "account.tier.upgraded",
}
MESSAGE_ID_DOMAIN = EMAIL_FROM.rsplit("@", 1)[1].rstrip(">")


@dataclass(frozen=True)
class Sizes:
    load_events: int = 5000
    repeat_ratio: float = 0.10
    concurrency: int = 32
    executions: int = 500  # worker-kill
    kills: int = 3
    wait_seconds: int = 3  # the journeys' wait_for_duration
    fault_rate: float = 20.0  # events per second while a fault scenario's source runs
    lead_seconds: float = 5.0  # events before a fault, and after it ends
    temporal_down: float = 10.0
    db_down: float = 20.0
    smtp_down: float = 30.0
    api_batches: int = 3
    api_batch_size: int = 200
    # After its source stopped, a scenario waits for its executions to end: at most this long,
    # and no longer than `idle_seconds` without a message going out (longer than the 60 s
    # a send lost with its worker stays claimed before it is retried through SMTP).
    settle_seconds: float = 1200.0
    idle_seconds: float = 120.0
    give_up_seconds: float = 180.0  # the source stops retrying one request after this
    # ... and every request once the API has accepted nothing for this long (a broken API
    # must not keep the soak retrying for give_up_seconds per request)
    stall_seconds: float = 60.0


# Small enough for CI; the database outage stays longer than the send heartbeat timeout
# (10 s), which is what the full one exercises.
QUICK = Sizes(
    load_events=150,
    executions=40,
    wait_seconds=2,
    fault_rate=6.0,
    lead_seconds=1.5,
    temporal_down=2.0,
    db_down=12.0,
    smtp_down=8.0,
    api_batches=2,
    api_batch_size=60,
    settle_seconds=120.0,
    idle_seconds=75.0,
    give_up_seconds=100.0,
    stall_seconds=45.0,
)


# --- journeys ---------------------------------------------------------------------------------


def one_email(template: int) -> dict[str, Any]:
    return {
        "initial": "send",
        "states": {
            "send": {
                "meta": {"type": "send_email", "templateId": template},
                "on": {"DONE": "done"},
            },
            "done": {"type": "final"},
        },
    }


def email_wait_sms(email: int, sms: int, seconds: int) -> dict[str, Any]:
    return {
        "initial": "send",
        "states": {
            "send": {"meta": {"type": "send_email", "templateId": email}, "on": {"DONE": "pause"}},
            "pause": {
                "meta": {"type": "wait_for_duration", "seconds": seconds},
                "on": {"ELAPSED": "text"},
            },
            "text": {"meta": {"type": "send_sms", "templateId": sms}, "on": {"DONE": "done"}},
            "done": {"type": "final"},
        },
    }


def multi_step(email: int, sms: int, campaign: int, seconds: int) -> dict[str, Any]:
    return {
        "initial": "send",
        "states": {
            "send": {"meta": {"type": "send_email", "templateId": email}, "on": {"DONE": "pause"}},
            "pause": {
                "meta": {"type": "wait_for_duration", "seconds": seconds},
                "on": {"ELAPSED": "check"},
            },
            "check": {
                "meta": {
                    "type": "condition",
                    "attribute": "tier",
                    "operator": "eq",
                    "value": "gold",
                },
                "on": {"TRUE": "text", "FALSE": "clone"},
            },
            "text": {"meta": {"type": "send_sms", "templateId": sms}, "on": {"DONE": "done"}},
            "clone": {
                "meta": {"type": "create_campaign", "campaignId": campaign},
                "on": {"DONE": "done"},
            },
            "done": {"type": "final"},
        },
    }


# --- the event source -------------------------------------------------------------------------


class Source:
    """An at-least-once event source: a 5xx answer or a failed connection is retried with
    backoff (the same body, so the same event ids) until it is accepted, or `give_up` passes,
    or no request at all has been accepted for `stall` seconds."""

    def __init__(self, http: httpx.AsyncClient, sizes: Sizes) -> None:
        self.http = http
        self.give_up = sizes.give_up_seconds
        self.stall = sizes.stall_seconds
        self.last_accepted = time.monotonic()
        self.stalled = False
        self.requests = 0
        self.events_sent = 0
        self.statuses: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.problems: Counter[str] = Counter()  # 5xx and transport errors, by gist
        self.answers: dict[str, list[list[str]]] = {}  # event id -> executions of each 202
        self.gave_up: list[str] = []
        self.refused: list[str] = []  # event ids of a 4xx answer

    async def post(self, body: dict[str, Any]) -> bool:
        events = body.get("events", [body])
        ids = [event["event_id"] for event in events]
        self.events_sent += len(events)
        began = time.monotonic()
        delay = 0.25
        while True:
            self.requests += 1
            sent = time.monotonic()
            try:
                response = await self.http.post(f"/places/{PLACE}/events", json=body)
            except httpx.HTTPError as error:
                self.latencies.append(time.monotonic() - sent)
                self.statuses["transport error"] += 1
                self.problems[f"{type(error).__name__}: {str(error)[:120]}"] += 1
                wait = delay
            else:
                self.latencies.append(time.monotonic() - sent)
                code = response.status_code
                self.statuses[str(code)] += 1
                if code == 202:
                    self.last_accepted = time.monotonic()
                    answer = response.json()
                    for item in answer["events"] if "events" in body else [answer]:
                        self.answers.setdefault(item["eventId"], []).append(item["executions"])
                    return True
                if code < 500:
                    self.refused += ids
                    self.problems[f"HTTP {code}: {response.text[:200]}"] += 1
                    return False
                self.problems[f"HTTP {code}: {response.text[:200]}"] += 1
                wait = delay
                with contextlib.suppress(ValueError):
                    wait = max(wait, min(float(response.headers.get("Retry-After", 0)), 5.0))
            if time.monotonic() - self.last_accepted > self.stall:
                self.stalled = True
            if self.stalled or time.monotonic() - began + wait > self.give_up:
                self.gave_up += ids
                return False
            await asyncio.sleep(wait * random.uniform(0.8, 1.2))
            delay = min(delay * 2, 4.0)


async def at_concurrency(bodies: Iterable[dict[str, Any]], source: Source, lanes: int) -> None:
    queue = iter(bodies)

    async def lane() -> None:
        for body in queue:
            await source.post(body)

    await asyncio.gather(*(lane() for _ in range(lanes)))


async def steady(
    make: Callable[[int], dict[str, Any]],
    source: Source,
    rate: float,
    until: asyncio.Event,
    in_flight: int = 32,
) -> int:
    """Events at `rate` per second until `until` is set; at most `in_flight` requests open
    (a source whose requests hang slows down). The number of events sent."""
    gate = asyncio.Semaphore(in_flight)
    tasks: set[asyncio.Task[bool]] = set()
    n = 0
    began = time.monotonic()
    while not until.is_set():
        await gate.acquire()
        body = make(n)
        n += 1

        async def one(body: dict[str, Any] = body) -> bool:
            try:
                return await source.post(body)
            finally:
                gate.release()

        task = asyncio.create_task(one())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        pause = began + n / rate - time.monotonic()
        if pause > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(until.wait(), pause)
    if tasks:
        await asyncio.gather(*tasks)
    return n


# --- the ledger -------------------------------------------------------------------------------


@dataclass
class Expectation:
    what: str
    ok: bool
    got: Any


@dataclass
class Ledger:
    scenario: str
    backend: str
    seconds: float = 0.0
    events_sent: int = 0
    distinct_event_ids: int = 0
    http_requests: int = 0
    events_gave_up: int = 0
    answers: dict[str, int] = field(default_factory=dict)
    answers_503: int = 0
    answers_other_5xx: int = 0
    slowest_answer_s: float = 0.0
    p99_answer_s: float = 0.0
    answers_over_10s: int = 0
    http_problems: list[dict[str, Any]] = field(default_factory=list)
    executions_reported: int = 0
    executions_in_temporal: int | None = None
    executions_not_ended: int | None = None
    executions_repeated: list[str] = field(default_factory=list)
    messages_expected: int = 0
    messages: dict[str, int] = field(default_factory=dict)
    provider_calls: dict[str, int] = field(default_factory=dict)
    provider_duplicates: int = 0
    # email: a second delivery; sms: the same Idempotency-Key again (a real receiver drops it)
    provider_duplicates_by_channel: dict[str, int] = field(default_factory=dict)
    provider_duplicate_examples: list[str] = field(default_factory=list)
    unexpected_provider_calls: int = 0
    lost: int = 0
    lost_in_running_executions: int = 0  # of `lost`: their execution had not ended either
    lost_examples: list[str] = field(default_factory=list)
    log_duplicates: int = 0
    log_duplicate_examples: list[str] = field(default_factory=list)
    campaigns: dict[str, Any] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    process_incidents: list[str] = field(default_factory=list)
    logs: dict[str, Any] = field(default_factory=dict)
    expectations: list[Expectation] = field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and all(e.ok for e in self.expectations)

    def expect(self, what: str, got: Any, ok: bool) -> None:
        self.expectations.append(Expectation(what, ok, got))

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}

    def render(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        lines = [
            f"== {self.scenario} ({self.backend}): {verdict} in {self.seconds:.1f} s",
            f"  events sent        {self.events_sent} ({self.distinct_event_ids} distinct ids; "
            f"{self.http_requests} HTTP requests; gave up on {self.events_gave_up})",
            "  answers            "
            + ", ".join(f"{k}: {v}" for k, v in sorted(self.answers.items()))
            + f"  | 503: {self.answers_503}, other 5xx: {self.answers_other_5xx}"
            + f"  | slowest {self.slowest_answer_s:.1f} s, p99 {self.p99_answer_s:.2f} s,"
            + f" over 10 s: {self.answers_over_10s}",
        ]
        lines += [f"      {p['count']} x {p['problem']}" for p in self.http_problems]
        lines.append(
            f"  executions         reported {self.executions_reported}; in Temporal "
            f"{_show(self.executions_in_temporal)}; not ended {_show(self.executions_not_ended)}"
            + (f"; repeated ids {self.executions_repeated[:5]}" if self.executions_repeated else "")
        )
        by_status = ", ".join(f"{k} {v}" for k, v in sorted(self.messages.items())) or "none"
        lines.append(f"  messages (rows)    {by_status}; expected sent {self.messages_expected}")
        calls = ", ".join(f"{k} {v}" for k, v in sorted(self.provider_calls.items()))
        lines.append(
            f"  provider calls     {calls}; unexpected keys {self.unexpected_provider_calls}"
        )
        split = ", ".join(
            f"{k} {v}" for k, v in sorted(self.provider_duplicates_by_channel.items())
        )
        lines.append(
            f"  provider dups      {self.provider_duplicates}" + (f" ({split})" if split else "")
        )
        lines += [f"      {example}" for example in self.provider_duplicate_examples]
        lines.append(
            f"  lost               {self.lost}"
            + (
                f" ({self.lost_in_running_executions} in executions still running at the end)"
                if self.lost_in_running_executions
                else ""
            )
        )
        lines += [f"      {example}" for example in self.lost_examples]
        lines.append(f"  log duplicates     {self.log_duplicates}")
        lines += [f"      {example}" for example in self.log_duplicate_examples]
        if self.campaigns:
            lines.append(f"  campaign clones    {json.dumps(self.campaigns)}")
        lines += [f"  fault              {fault}" for fault in self.faults]
        lines += [f"  note               {note}" for note in self.notes]
        lines += [f"  process            {incident}" for incident in self.process_incidents]
        for log, summary in self.logs.items():
            levels = ", ".join(f"{k} {v}" for k, v in sorted(summary["lines_by_level"].items()))
            lines.append(f"  {log:<18} {levels or 'nothing new'}")
            lines += [
                f"      {problem['count']} x {problem['example'][:240]}"
                for problem in summary["top_problems"]
            ]
        for e in self.expectations:
            lines.append(f"  expect {'ok  ' if e.ok else 'FAIL'}    {e.what}: got {e.got}")
        if self.error:
            lines.append(f"  ERROR              {self.error}")
        return "\n".join(lines)


def _show(value: int | None) -> str:
    return "?" if value is None else str(value)


# --- running a scenario -----------------------------------------------------------------------


@dataclass
class Expected:
    """What a scenario's journey must have delivered: key -> channel, and clones by execution."""

    messages: dict[str, str] = field(default_factory=dict)
    clones: set[str] = field(default_factory=set)

    def add(self, execution: str, state: str, channel: str) -> None:
        self.messages[f"{execution}:{state}:1"] = channel


class Soak:
    def __init__(self, stack: Stack, sizes: Sizes) -> None:
        self.stack = stack
        self.sizes = sizes
        self.http = httpx.AsyncClient(
            base_url=stack.api_url,
            headers={"Api-Key": stack.key},
            timeout=httpx.Timeout(120.0, connect=5.0),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )
        self.temporal: Client | None = None
        self.email_template = 0
        self.sms_template = 0
        self.campaign = 0
        self.origin = time.monotonic()  # the current scenario's start: times are shown from it

    def elapsed(self, moment: float | None = None) -> float:
        return (time.monotonic() if moment is None else moment) - self.origin

    async def aclose(self) -> None:
        await self.http.aclose()

    # -- API helpers --

    async def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """A set-up call; retried on 5xx / connection errors for a short while."""
        deadline = time.monotonic() + 60
        while True:
            try:
                response = await self.http.request(method, f"/places/{PLACE}{path}", **kwargs)
                if response.status_code < 500:
                    if response.status_code >= 400:
                        raise StackError(f"{method} {path}: {response.status_code} {response.text}")
                    return response.json() if response.content else None
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise StackError(f"{method} {path} kept failing for 60 s")
            await asyncio.sleep(0.5)

    async def setup(self) -> None:
        email = await self.api(
            "POST",
            "/templates",
            json={
                "name": "Soak email",
                "channel": "email",
                "subject": "Soak {{ event.id }}",
                "body": "Hello {{ customer.email }}, event {{ event.id }}.",
            },
        )
        self.email_template = _only(email, "communication_template")["id"]
        sms = await self.api(
            "POST",
            "/templates",
            json={"name": "Soak SMS", "channel": "sms", "body": "Gold news for {{ customer.id }}"},
        )
        self.sms_template = _only(sms, "communication_template")["id"]
        campaign = await self.api(
            "POST",
            "/campaigns",
            json={"name": "Soak offer", "visibility": "public", "data": {"points": 100}},
        )
        self.campaign = _only(campaign, "campaign")["id"]
        self.temporal = await Client.connect(self.stack.temporal_address)

    async def journey(self, name: str, config: dict[str, Any]) -> int:
        created = await self.api(
            "POST",
            "/journeys",
            json={"name": name, "trigger_event": TRIGGERS[name], "machine_config": config},
        )
        journey_id = int(_only(created, "journey_definition")["id"])
        await self.api("POST", f"/journeys/{journey_id}/start")
        return journey_id

    async def page_all(self, path: str, kind: str, **query: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            body = await self.api("GET", path, params={**query, "per_page": 100, "page": page})
            found = list(body[f"node.{kind}"].values())
            items += found
            if len(found) < 100:
                return items
            page += 1

    async def sent_rows(self, journey_id: int) -> int:
        body = await self.api(
            "GET", "/messages", params={"journey_id": journey_id, "status": "sent", "per_page": 1}
        )
        return int(body["meta"]["total"])

    async def count(self, query: str) -> int | None:
        """A visibility count, or None if Temporal does not answer."""
        for _ in range(3):
            try:
                if self.temporal is None:
                    self.temporal = await Client.connect(self.stack.temporal_address)
                counted = await self.temporal.count_workflows(
                    query, rpc_timeout=timedelta(seconds=10)
                )
                return counted.count
            except Exception:
                self.temporal = None
                await asyncio.sleep(1)
        return None

    async def execution_ids(self, journey_id: int, status: str | None = None) -> list[str] | None:
        assert self.temporal is not None
        try:
            return [
                execution.id
                async for execution in self.temporal.list_workflows(
                    _executions(journey_id, status), rpc_timeout=timedelta(seconds=30)
                )
            ]
        except Exception:
            return None

    def calls(self, expected: Expected, journey_id: int) -> tuple[dict[str, list[Call]], int]:
        """Provider calls of this journey by idempotency key, and calls with keys nobody
        expected (but of this journey)."""
        digests = {
            f"<{key_digest(key)}.journeys@{MESSAGE_ID_DOMAIN}>": key
            for key, channel in expected.messages.items()
            if channel == "email"
        }
        prefix = f"journey-{journey_id}-"
        by_key: dict[str, list[Call]] = {}
        unexpected = 0
        for call in self.stack.smtp.snapshot():
            key = digests.get(call.key)
            if key is not None:
                by_key.setdefault(key, []).append(call)
            elif call.to.endswith(f"@j{journey_id}.soak.example"):
                unexpected += 1
        for call in self.stack.webhook.snapshot():
            if call.key.startswith(prefix):
                if call.key in expected.messages:
                    by_key.setdefault(call.key, []).append(call)
                else:
                    unexpected += 1
        return by_key, unexpected

    async def settle(
        self, journey_id: int, expected: Expected, limit: float, source: Source
    ) -> float:
        """Wait until every expected message has a provider call and a sent row and no
        execution of the journey runs; at most `limit` s, and at most `idle_seconds` without
        progress. The seconds waited."""
        if source.stalled:  # what was accepted had its time meanwhile
            limit = min(limit, 5.0)
        began = moved = time.monotonic()
        want = len(expected.messages)
        seen = (-1, -1)
        while (
            time.monotonic() - began < limit and time.monotonic() - moved < self.sizes.idle_seconds
        ):
            called = len(self.calls(expected, journey_id)[0])
            try:
                sent = await self.sent_rows(journey_id)
            except StackError:
                sent = -1
            if (called, sent) != seen:
                seen, moved = (called, sent), time.monotonic()
            if called >= want and sent >= want:
                running = await self.count(_executions(journey_id, "Running"))
                if running == 0:
                    break
            await asyncio.sleep(1.0)
        return time.monotonic() - began

    async def account(
        self,
        ledger: Ledger,
        journey_id: int,
        expected: Expected,
        source: Source,
        distinct: int,
        kills: list[float] | None = None,
    ) -> None:
        """Fill the ledger from the source, the API's log, Temporal and the providers."""
        if source.stalled:
            top = source.problems.most_common(1)
            ledger.error = (
                f"the API accepted no event for {source.stall:.0f} s; the source gave up"
                + (f" (most frequent answer: {top[0][0]})" if top else "")
            )
        ledger.events_sent = source.events_sent
        ledger.distinct_event_ids = distinct
        ledger.http_requests = source.requests
        ledger.events_gave_up = len(set(source.gave_up) | set(source.refused))
        ledger.answers = dict(source.statuses)
        fives = {int(k): v for k, v in source.statuses.items() if k.isdigit() and int(k) >= 500}
        ledger.answers_503 = fives.get(503, 0)
        ledger.answers_other_5xx = sum(v for k, v in fives.items() if k != 503)
        if source.latencies:
            ordered = sorted(source.latencies)
            ledger.slowest_answer_s = round(ordered[-1], 2)
            ledger.p99_answer_s = round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2)
            ledger.answers_over_10s = sum(1 for t in ordered if t > 10)
        ledger.http_problems = [
            {"count": n, "problem": p} for p, n in source.problems.most_common(5)
        ]
        ledger.executions_reported = len(
            {e for answers in source.answers.values() for each in answers for e in each}
        )
        ledger.executions_in_temporal = await self.count(_executions(journey_id))
        ledger.executions_not_ended = await self.count(_executions(journey_id, "Running"))

        rows = await self.page_all("/messages", "message", journey_id=journey_id)
        ledger.messages = dict(Counter(row["status"] for row in rows))
        ledger.messages_expected = len(expected.messages)
        per_key = Counter(f"{row['executionId']}:{row['state']}:1" for row in rows)
        repeated_rows = [key for key, n in per_key.items() if n > 1]
        ledger.log_duplicates = len(repeated_rows)
        ledger.log_duplicate_examples = [f"{k} x{per_key[k]}" for k in repeated_rows[:5]]
        sent = {f"{row['executionId']}:{row['state']}:1" for row in rows if row["status"] == "sent"}

        by_key, ledger.unexpected_provider_calls = self.calls(expected, journey_id)
        ledger.provider_calls = dict(
            Counter(expected.messages[key] for key, calls in by_key.items() for _ in calls)
        )
        dupes = {key: calls for key, calls in by_key.items() if len(calls) > 1}
        ledger.provider_duplicates = len(dupes)
        ledger.provider_duplicates_by_channel = dict(Counter(expected.messages[k] for k in dupes))
        for key, calls in list(dupes.items())[:8]:
            times = ", ".join(f"{self.elapsed(c.at):.1f}" for c in calls)
            ledger.provider_duplicate_examples.append(f"{key} x{len(calls)} at {times} s")
        if kills is not None and dupes:
            unexplained = [
                key
                for key, calls in dupes.items()
                if not any(calls[0].at <= k <= calls[-1].at for k in kills)
            ]
            ledger.expect(
                "provider duplicates without a worker kill in between",
                len(unexplained),
                not unexplained,
            )
        lost = [key for key in expected.messages if key not in by_key or key not in sent]
        ledger.lost = len(lost)
        if lost and ledger.executions_not_ended:
            running = set(await self.execution_ids(journey_id, "Running") or [])
            ledger.lost_in_running_executions = sum(
                1 for key in lost if key.rsplit(":", 2)[0] in running
            )
        ledger.lost_examples = [
            f"{key} ({'no provider call' if key not in by_key else 'no sent row'})"
            for key in lost[:5]
        ]


def _executions(journey_id: int, status: str | None = None) -> str:
    query = (
        f"WorkflowType = 'JourneyExecution' AND JourneyId = {journey_id} "
        "AND ExecutionStatus != 'ContinuedAsNew'"
    )
    return query if status is None else f"{query} AND ExecutionStatus = '{status}'"


def _only(envelope: dict[str, Any], kind: str) -> dict[str, Any]:
    (item,) = envelope[f"node.{kind}"].values()
    return dict(item)


def _event(
    trigger: str, event_id: str, customer: int, journey_id: int, **profile: Any
) -> dict[str, Any]:
    return {
        "event": TRIGGERS[trigger],
        "customer_id": customer,
        "event_id": event_id,
        "customer": {"email": f"c{customer}@j{journey_id}.soak.example", **profile},
    }


def _common_expectations(ledger: Ledger) -> None:
    ledger.expect("lost = 0", ledger.lost, ledger.lost == 0)
    ledger.expect("log duplicates = 0", ledger.log_duplicates, ledger.log_duplicates == 0)
    ledger.expect(
        "events the source gave up on = 0", ledger.events_gave_up, ledger.events_gave_up == 0
    )
    ledger.expect(
        "executions not ended = 0", ledger.executions_not_ended, ledger.executions_not_ended == 0
    )


# --- scenarios --------------------------------------------------------------------------------


async def scenario_load(soak: Soak, ledger: Ledger) -> None:
    sizes = soak.sizes
    journey_id = await soak.journey("load", one_email(soak.email_template))
    distinct = max(1, round(sizes.load_events * (1 - sizes.repeat_ratio)))
    rng = random.Random(12)
    ids = list(range(distinct)) + [
        rng.randrange(distinct) for _ in range(sizes.load_events - distinct)
    ]
    rng.shuffle(ids)
    bodies = [_event("load", f"load-{i}", 1_000_000 + i, journey_id) for i in ids]
    expected = Expected()
    for i in range(distinct):
        expected.add(f"journey-{journey_id}-event-load-{i}", "send", "email")
    source = Source(soak.http, sizes)
    began = time.monotonic()
    await at_concurrency(bodies, source, sizes.concurrency)
    sent_in = time.monotonic() - began
    ledger.notes.append(
        f"{len(bodies)} events sent in {sent_in:.1f} s ({len(bodies) / sent_in:.0f}/s) "
        f"at concurrency {sizes.concurrency}"
    )
    waited = await soak.settle(journey_id, expected, sizes.settle_seconds, source)
    ledger.notes.append(f"then {waited:.1f} s until every execution ended (or the deadline)")
    await soak.account(ledger, journey_id, expected, source, distinct)
    ledger.expect(
        "provider duplicates = 0", ledger.provider_duplicates, ledger.provider_duplicates == 0
    )
    ledger.expect(
        "5xx answers = 0",
        ledger.answers_503 + ledger.answers_other_5xx,
        ledger.answers_503 + ledger.answers_other_5xx == 0,
    )
    _common_expectations(ledger)


async def scenario_worker_kill(soak: Soak, ledger: Ledger) -> None:
    sizes, stack = soak.sizes, soak.stack
    config = multi_step(soak.email_template, soak.sms_template, soak.campaign, sizes.wait_seconds)
    journey_id = await soak.journey("worker-kill", config)
    expected = Expected()
    bodies = []
    for i in range(sizes.executions):
        customer = 2_000_000 + i
        gold = i % 2 == 0
        profile: dict[str, Any] = {"attributes": {"tier": "gold" if gold else "silver"}}
        if gold:
            profile["phone"] = f"+1555{customer % 10_000_000:07d}"
        bodies.append(_event("worker-kill", f"wk-{i}", customer, journey_id, **profile))
        execution = f"journey-{journey_id}-event-wk-{i}"
        expected.add(execution, "send", "email")
        if gold:
            expected.add(execution, "text", "sms")
        else:
            expected.clones.add(execution)
    batches = [{"events": bodies[i : i + 50]} for i in range(0, len(bodies), 50)]
    source = Source(soak.http, sizes)
    worker = stack.child("worker")
    kills: list[float] = []
    total = len(expected.messages)
    thresholds = [(k + 0.5) / sizes.kills * 0.9 for k in range(sizes.kills)]

    async def killer() -> None:
        last_start = time.monotonic()
        calls_at_start = 0
        for threshold in thresholds:
            waited_from = time.monotonic()
            while True:
                done = len(soak.calls(expected, journey_id)[0])
                progressed = done > calls_at_start and time.monotonic() - last_start > 2
                if progressed and done >= threshold * total:
                    break
                if time.monotonic() - waited_from > 45 and time.monotonic() - last_start > 5:
                    ledger.notes.append(
                        f"kill at {threshold:.0%} forced by time (at {done}/{total})"
                    )
                    break
                await asyncio.sleep(0.05)
            await worker.kill()
            kills.append(time.monotonic())
            ledger.faults.append(
                f"worker SIGKILLed at {soak.elapsed(kills[-1]):.1f} s with {done}/{total} messages "
                "delivered; started again at once"
            )
            worker.start()
            last_start = time.monotonic()
            calls_at_start = len(soak.calls(expected, journey_id)[0])

    killing = asyncio.create_task(killer())
    await at_concurrency(batches, source, 4)
    try:
        await asyncio.wait_for(killing, 60 * sizes.kills)
    except TimeoutError:
        ledger.notes.append(f"only {len(kills)} of {sizes.kills} kills happened")
    waited = await soak.settle(journey_id, expected, sizes.settle_seconds, source)
    clones_ok = await _wait_clones(soak, journey_id, expected, sizes.idle_seconds - waited)
    ledger.notes.append(f"settled {waited:.1f} s after the source finished")
    await soak.account(ledger, journey_id, expected, source, sizes.executions, kills)
    clones = Counter(
        c["executionId"]
        for c in await soak.page_all("/campaigns", "campaign", visibility="private")
        if c["journeyId"] == journey_id
    )
    missing = expected.clones - set(clones)
    doubled = [e for e, n in clones.items() if n > 1]
    ledger.campaigns = {
        "expected": len(expected.clones),
        "found": len(set(clones) & expected.clones),
        "missing": len(missing),
        "doubled": len(doubled),
        "examples": sorted(missing)[:3] + doubled[:3],
        "settled": clones_ok,
    }
    ledger.expect("kills done", len(kills), len(kills) == sizes.kills)
    ledger.expect("campaign clones missing = 0", len(missing), not missing)
    ledger.expect("campaign clones doubled = 0", len(doubled), not doubled)
    ledger.expect(
        "5xx answers = 0",
        ledger.answers_503 + ledger.answers_other_5xx,
        ledger.answers_503 + ledger.answers_other_5xx == 0,
    )
    _common_expectations(ledger)


async def _wait_clones(soak: Soak, journey_id: int, expected: Expected, limit: float) -> bool:
    deadline = time.monotonic() + max(limit, 5)
    while time.monotonic() < deadline:
        listed = await soak.page_all("/campaigns", "campaign", visibility="private")
        if {c["executionId"] for c in listed if c["journeyId"] == journey_id} >= expected.clones:
            return True
        await asyncio.sleep(1)
    return False


Fault = Callable[[Ledger], Awaitable[None]]


async def _under_fault(soak: Soak, ledger: Ledger, name: str, fault: Fault) -> None:
    """Events at a steady rate before, during and after `fault`; then the ledger."""
    sizes = soak.sizes
    config = email_wait_sms(soak.email_template, soak.sms_template, sizes.wait_seconds)
    journey_id = await soak.journey(name, config)
    source = Source(soak.http, sizes)
    stop = asyncio.Event()
    prefix = name.split("-")[0][:4]

    def make(n: int) -> dict[str, Any]:
        customer = 3_000_000 + journey_id * 10_000 + n
        return _event(
            name, f"{prefix}-{n}", customer, journey_id, phone=f"+1666{customer % 10_000_000:07d}"
        )

    async def run_fault() -> None:
        try:
            await asyncio.sleep(sizes.lead_seconds)
            began = soak.elapsed()
            await fault(ledger)
            ledger.faults.append(f"(fault from {began:.1f} s to {soak.elapsed():.1f} s)")
            await asyncio.sleep(sizes.lead_seconds)
        finally:
            stop.set()

    faulting = asyncio.create_task(run_fault())
    sent = await steady(make, source, sizes.fault_rate, stop)
    await faulting
    expected = Expected()
    for n in range(sent):
        execution = f"journey-{journey_id}-event-{prefix}-{n}"
        expected.add(execution, "send", "email")
        expected.add(execution, "text", "sms")
    waited = await soak.settle(journey_id, expected, sizes.settle_seconds, source)
    ledger.notes.append(f"{sent} events at {sizes.fault_rate:g}/s; settled {waited:.1f} s after")
    await soak.account(ledger, journey_id, expected, source, sent)
    _common_expectations(ledger)


async def scenario_temporal_restart(soak: Soak, ledger: Ledger) -> None:
    stack = soak.stack
    temporal = stack.child("temporal")

    async def fault(ledger: Ledger) -> None:
        began = time.monotonic()
        await temporal.stop(grace=30)
        stopped = time.monotonic() - began
        await asyncio.sleep(soak.sizes.temporal_down)
        temporal.start()
        up = await stack.wait_temporal()
        ledger.faults.append(
            f"Temporal: SIGTERM, exited after {stopped:.1f} s, "
            f"down {soak.sizes.temporal_down:g} s, "
            f"started again on the same file, accepting connections {up:.1f} s later"
        )

    await _under_fault(soak, ledger, "temporal-restart", fault)
    ledger.expect("5xx other than 503 = 0", ledger.answers_other_5xx, ledger.answers_other_5xx == 0)


async def scenario_db_down(soak: Soak, ledger: Ledger) -> None:
    stack, seconds = soak.stack, soak.sizes.db_down

    async def fault(ledger: Ledger) -> None:
        if stack.proxy is not None:
            stack.proxy.cut()
            await asyncio.sleep(seconds)
            aborted = stack.proxy.refused
            stack.proxy.restore()
            ledger.faults.append(
                f"PostgreSQL unreachable for {seconds:g} s: the TCP proxy closed its port "
                f"(connections refused) and aborted the live connections ({aborted} so far)"
            )
            return
        assert stack.sqlite_path is not None
        lock = SqliteLock(stack.sqlite_path)
        lock.hold(seconds)
        await lock.wait(seconds + 70)
        ledger.faults.append(
            f"SQLite 'unreachable' EMULATED: another connection held BEGIN EXCLUSIVE for "
            f"{lock.held or 0:.1f} s (after waiting {lock.acquired_after or 0:.1f} s for it)"
            + (f"; lock error: {lock.error}" if lock.error else "")
        )
        ledger.notes.append(
            "SQLite has no network to cut: in WAL mode an exclusive lock blocks writers (the "
            "app begins every transaction IMMEDIATE, so all of them), readers are not blocked"
        )

    await _under_fault(soak, ledger, "db-down", fault)
    ledger.expect("5xx other than 503 = 0", ledger.answers_other_5xx, ledger.answers_other_5xx == 0)


async def scenario_smtp_down(soak: Soak, ledger: Ledger) -> None:
    smtp, seconds = soak.stack.smtp, soak.sizes.smtp_down

    async def fault(ledger: Ledger) -> None:
        smtp.down()
        await asyncio.sleep(seconds)
        smtp.up()
        ledger.faults.append(f"SMTP refused connections for {seconds:g} s (port closed)")

    await _under_fault(soak, ledger, "smtp-down", fault)
    ledger.expect(
        "provider duplicates = 0", ledger.provider_duplicates, ledger.provider_duplicates == 0
    )


async def scenario_api_kill(soak: Soak, ledger: Ledger) -> None:
    sizes, stack = soak.sizes, soak.stack
    journey_id = await soak.journey("api-kill", one_email(soak.email_template))
    api = stack.child("api")
    source = Source(soak.http, sizes)
    expected = Expected()
    distinct = landed = b = 0
    # Kills alternate: once the batch's first execution exists (mid-way through the starts),
    # and 30 ms after the request went out (before the events are committed). A kill that
    # comes after the answer (the batch was quick) is told and made up with another batch.
    while landed < sizes.api_batches and b < sizes.api_batches + 3:
        batch = []
        for i in range(sizes.api_batch_size):
            event_id = f"ak-{b}-{i}"
            batch.append(_event("api-kill", event_id, 4_000_000 + b * 100_000 + i, journey_id))
            expected.add(f"journey-{journey_id}-event-{event_id}", "send", "email")
            distinct += 1
        first = f"journey-{journey_id}-event-{batch[0]['event_id']}"
        mid_starts = landed % 2 == 0 and "WINDOW MISSED" not in "".join(ledger.faults[-2:])
        hit, outcome = await _kill_mid_batch(soak, {"events": batch}, first, mid_starts)
        landed += hit
        b += 1
        ledger.faults.append(f"batch {b} ({len(batch)} events): {outcome}")
        api.start()
        restart = await stack.wait_api()
        ledger.faults.append(f"  API started again, ready after {restart:.1f} s; batch sent again")
        await source.post({"events": batch})
    waited = await soak.settle(journey_id, expected, sizes.settle_seconds, source)
    ledger.notes.append(f"settled {waited:.1f} s after the last batch")
    await soak.account(ledger, journey_id, expected, source, distinct)
    ids = await soak.execution_ids(journey_id)
    want = {key.rsplit(":", 2)[0] for key in expected.messages}
    if ids is None:
        ledger.expect("each event's execution exactly once", "Temporal did not list", False)
    else:
        seen = Counter(ids)
        ledger.executions_repeated = [i for i, n in seen.items() if n > 1]
        wrong = (set(seen) ^ want) | set(ledger.executions_repeated)
        ledger.expect("each event's execution exactly once (Temporal)", len(wrong), not wrong)
    answered = {
        event_id: executions
        for event_id, answers in source.answers.items()
        for executions in answers
    }
    bad = [
        e for e, executions in answered.items() if executions != [f"journey-{journey_id}-event-{e}"]
    ]
    ledger.expect("the API's answers name one execution per event", len(bad), not bad)
    ledger.expect("kills between a batch and its answer", landed, landed == sizes.api_batches)
    ledger.expect(
        "provider duplicates = 0", ledger.provider_duplicates, ledger.provider_duplicates == 0
    )
    _common_expectations(ledger)


async def _kill_mid_batch(
    soak: Soak, body: dict[str, Any], first: str, mid_starts: bool
) -> tuple[bool, str]:
    """POST the batch on a raw connection and SIGKILL the API before reading the answer;
    whether the kill came before the answer, and what happened."""
    stack = soak.stack
    payload = json.dumps(body).encode()
    head = (
        f"POST /places/{PLACE}/events HTTP/1.1\r\nHost: {LOOPBACK}:{stack.api_port}\r\n"
        f"Api-Key: {stack.key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection(LOOPBACK, stack.api_port)
    reading = asyncio.create_task(reader.read())
    writer.write(head + payload)
    await writer.drain()
    sent = time.monotonic()
    started_seen = False
    if mid_starts:
        assert soak.temporal is not None
        handle = soak.temporal.get_workflow_handle(first)
        while time.monotonic() - sent < 10 and not reading.done():
            try:
                await handle.describe(rpc_timeout=timedelta(seconds=2))
                started_seen = True
                break
            except Exception:
                await asyncio.sleep(0.01)
    else:
        await asyncio.sleep(0.03)
    answered_first = reading.done() and bool(reading.result())
    after = time.monotonic() - sent
    await stack.child("api").kill()
    try:
        answer = await asyncio.wait_for(reading, 5)
    except (OSError, TimeoutError):
        answer = b""
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    if answered_first:
        status = answer.split(b"\r\n", 1)[0].decode(errors="replace")
        return False, (
            f"WINDOW MISSED: the API answered ({status}) before the kill at {after * 1000:.0f} ms"
        )
    where = "its first execution had started" if started_seen else "no execution seen yet"
    return True, f"API SIGKILLed {after * 1000:.0f} ms after the request ({where}); no answer read"


RUNNERS: dict[str, Callable[[Soak, Ledger], Awaitable[None]]] = {
    "load": scenario_load,
    "worker-kill": scenario_worker_kill,
    "temporal-restart": scenario_temporal_restart,
    "db-down": scenario_db_down,
    "smtp-down": scenario_smtp_down,
    "api-kill": scenario_api_kill,
}


def scenario_limit(name: str, sizes: Sizes) -> float:
    """A hard bound on one scenario (source, fault, settling and accounting)."""
    fault = {
        "temporal-restart": sizes.temporal_down + 60,
        "db-down": sizes.db_down + 70,
        "smtp-down": sizes.smtp_down,
    }.get(name, 0.0)
    sending = {
        "load": sizes.load_events / 5,
        "worker-kill": sizes.executions / 5 + 60 * sizes.kills,
        "api-kill": sizes.api_batches * 90,
    }.get(name, 2 * sizes.lead_seconds + fault)
    return sending + fault + sizes.settle_seconds + sizes.give_up_seconds + 180


async def run(
    args: argparse.Namespace, sizes: Sizes, run_dir: Path, stack: Stack, ledgers: list[Ledger]
) -> None:
    """Start the stack and run the scenarios, appending each one's ledger to `ledgers`."""
    print(f"run dir: {run_dir} (each process's output: {run_dir}/<name>.log)", flush=True)
    print(f"starting the stack ({stack.backend}, code from {stack.project}) …", flush=True)
    await stack.start()
    print(
        f"stack up in {stack.timings['start']:.1f} s: Temporal {stack.temporal_address}, "
        f"API {stack.api_url}, SMTP :{stack.smtp.port}, SMS webhook {stack.webhook.url}"
        + (f", PostgreSQL via proxy :{stack.proxy.port}" if stack.proxy else ""),
        flush=True,
    )
    soak = Soak(stack, sizes)
    try:
        await soak.setup()
        marks = LogMark(stack.logs())
        for name in args.scenario or SCENARIOS:
            ledger = Ledger(scenario=name, backend=stack.backend)
            print(f"-- {name} …", flush=True)
            marks.mark()
            began = soak.origin = time.monotonic()
            try:
                async with asyncio.timeout(scenario_limit(name, sizes)):
                    await RUNNERS[name](soak, ledger)
            except TimeoutError:
                ledger.error = f"did not finish within {scenario_limit(name, sizes):.0f} s"
            except (StackError, httpx.HTTPError) as error:
                ledger.error = f"{type(error).__name__}: {error}"
            except Exception as error:  # a bug here, or an answer of a shape not foreseen
                traceback.print_exc()
                ledger.error = f"{type(error).__name__}: {error} (traceback on stderr)"
            ledger.seconds = round(time.monotonic() - began, 1)
            try:
                ledger.process_incidents += await stack.ensure_running()
            except StackError as error:
                ledger.process_incidents.append(f"could not restore the stack: {error}")
                ledger.error = ledger.error or str(error)
            ledger.logs = marks.since()
            ledgers.append(ledger)
            print(ledger.render(), flush=True)
            if ledger.error and "could not restore" in " ".join(ledger.process_incidents):
                break
    finally:
        await soak.aclose()


def sizes_from(args: argparse.Namespace) -> Sizes:
    sizes = QUICK if args.quick else Sizes()
    changes = {
        name: value
        for name in Sizes.__dataclass_fields__
        if (value := getattr(args, name, None)) is not None
    }
    return replace(sizes, **changes)


def parser() -> argparse.ArgumentParser:
    doc = __doc__ or ""
    p = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description=doc.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=doc.split("\n\n", 2)[2] if doc.count("\n\n") >= 2 else None,
    )
    p.add_argument("--scenario", action="append", choices=SCENARIOS, help="repeat for several")
    p.add_argument("--quick", action="store_true", help="small sizes (CI): a few minutes")
    p.add_argument("--postgres", metavar="URL", help="PostgreSQL server; a fresh database is used")
    p.add_argument("--json", metavar="PATH", type=Path, help="write the ledgers as JSON")
    p.add_argument("--run-dir", type=Path, help="where logs and databases go (default: a temp dir)")
    p.add_argument(
        "--project",
        type=Path,
        default=ROOT,
        help="run the stack from this checkout (e.g. a `git archive` of a commit); default: "
        "this one",
    )
    sizes = p.add_argument_group("sizes (defaults; --quick lowers them)")
    for name, kind in (
        ("load_events", int),
        ("repeat_ratio", float),
        ("concurrency", int),
        ("executions", int),
        ("kills", int),
        ("wait_seconds", int),
        ("fault_rate", float),
        ("lead_seconds", float),
        ("temporal_down", float),
        ("db_down", float),
        ("smtp_down", float),
        ("api_batches", int),
        ("api_batch_size", int),
        ("settle_seconds", float),
        ("idle_seconds", float),
        ("give_up_seconds", float),
        ("stall_seconds", float),
    ):
        full, quick = getattr(Sizes(), name), getattr(QUICK, name)
        sizes.add_argument(
            f"--{name.replace('_', '-')}", type=kind, help=f"default {full}, quick {quick}"
        )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    sizes = sizes_from(args)
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="journeys-soak-"))
    run_dir = run_dir.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(run_dir, args.postgres, args.project)
    began = time.monotonic()
    ledgers: list[Ledger] = []
    code = 0

    async def main_task() -> None:
        # Ctrl-C or SIGTERM cancels the run; the stack is then closed in order, with both
        # signals ignored meanwhile (every stop in it is bounded).
        nonlocal code
        task, loop = asyncio.current_task(), asyncio.get_running_loop()
        assert task is not None
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await run(args, sizes, run_dir, stack, ledgers)
        except asyncio.CancelledError:
            print("interrupted: stopping the stack", file=sys.stderr, flush=True)
            code = 130
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, lambda: None)
            await stack.close()

    try:
        asyncio.run(main_task())
    except StackError as error:
        print(f"error: the stack could not run: {error}", file=sys.stderr)
        code = 2
    finally:
        stack.close_now()
        if stack.direct_url and stack.postgres:
            with contextlib.suppress(Exception):
                asyncio.run(drop_postgres(stack.direct_url, stack.postgres))
    total = time.monotonic() - began
    if ledgers:
        failed = [ledger.scenario for ledger in ledgers if not ledger.passed]
        print(
            f"\n{len(ledgers)} scenarios on {stack.backend} in {total:.0f} s: "
            + (f"FAILED {', '.join(failed)}" if failed else "all passed")
            + (" (then interrupted)" if code == 130 else "")
            + f"\nlogs: {run_dir}"
        )
        if failed and code == 0:
            code = 1
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "backend": stack.backend,
                    "quick": args.quick,
                    "sizes": asdict(sizes),
                    "seconds": round(total, 1),
                    "run_dir": str(run_dir),
                    "start_seconds": round(stack.timings.get("start", 0.0), 1),
                    "scenarios": [ledger.to_json() for ledger in ledgers],
                    "exit": code,
                    "interrupted": code == 130,
                },
                indent=2,
            )
        )
    return code


if __name__ == "__main__":
    sys.exit(main())
