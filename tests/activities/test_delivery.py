"""The send activity end to end: store → Liquid → provider on loopback → message log."""

import asyncio
import dataclasses
import time
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.delivery import Delivery, SendTiming
from journeys.logs import SENT_LOGGER
from store import customers
from store import messages as messages_store
from store.db import SessionFactory, session_factory
from tests.helpers.api import PLACE
from tests.helpers.providers import (
    FCM_PATH,
    TWILIO_PATH,
    fcm_devices,
    fcm_error,
    fcm_settings,
    smtp_settings,
    twilio_created,
    twilio_settings,
)
from tests.servers import Reply
from workflows.contracts import EventInfo, JourneyInfo, SendInput

ZOE = {
    "email": "zoe@example.com",
    "phone": "+4915112345678",
    "push_tokens": ["device-a", "device-b"],
    "attributes": {"first_name": "Zoë", "points": 120, "account": {"tier": "gold"}},
}


@pytest.fixture
async def delivery(clean_engine, keys, channels, smtp_port, http):
    sessions = session_factory(clean_engine)
    async with sessions() as session:
        await customers.upsert(session, PLACE, 7, ZOE)
        await customers.upsert(session, PLACE, 8, {"attributes": {"first_name": "Nobody"}})
        await session.commit()
    built = channels(**{**smtp_settings(smtp_port), **twilio_settings(http), **fcm_settings(http)})
    return Delivery(sessions, built)


def send(channel, template_id, key="exec-1:step:1", customer_id=7, **fields):
    return SendInput(
        place_id=PLACE,
        customer_id=customer_id,
        channel=channel,
        template_id=template_id,
        idempotency_key=key,
        journey=JourneyInfo(id=101, name="Welcome new members", version=2),
        execution_id="exec-1",
        state="send_welcome",
        event=EventInfo(name="account.created", id="acc-7", data={"source": "app"}),
        **fields,
    )


def environment(budget=timedelta(hours=24), scheduled=None):
    """An activity environment whose attempt was scheduled now (or at `scheduled`) with the
    step's retry budget, as a worker would run it."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info,
        scheduled_time=scheduled or datetime.now(UTC),
        schedule_to_close_timeout=budget,
        heartbeat_timeout=timedelta(seconds=10),
    )
    return env


async def run(delivery, request):
    return await environment().run(delivery.send_message, request)


async def messages(api, **query):
    response = await api.get("/places/42/messages", params=query)
    assert response.status_code == 200
    return list(response.json()["node.message"].values())


async def test_personalised_email_is_delivered_once_per_key(api, delivery, mailbox, caplog):
    caplog.set_level("INFO", logger=SENT_LOGGER)
    first = await run(delivery, send("email", 5))
    again = await run(delivery, send("email", 5))
    assert first == again
    assert first.status == "sent"

    (received,) = mailbox.received  # the second call reached no provider
    assert received.rcpt_tos == ["zoe@example.com"]
    assert received.message["Subject"] == "Welcome to Place 42, Zoë!"
    body = received.message.get_content().replace("\r\n", "\n")
    assert body.startswith("Hi Zoë,\n\nThanks for joining Place 42's loyalty programme.")

    (logged,) = await messages(api, customer_id=7)
    assert logged["status"] == "sent"
    assert logged["channel"] == "email"
    assert logged["templateId"] == 5
    assert logged["to"] == "zoe@example.com"
    assert logged["subject"] == "Welcome to Place 42, Zoë!"
    assert logged["provider"] == "smtp"
    assert logged["providerMessageId"] == received.message["Message-ID"]
    assert logged["journeyId"] == 101
    assert logged["executionId"] == "exec-1"
    # The worker's log says a message went out, but not to whom or what: no personal data
    # leaves the message log (only the outbox, which reaches no one, names them).
    (line,) = [r.getMessage() for r in caplog.records if r.name == SENT_LOGGER]
    assert line == f"email message {logged['id']} via smtp"


async def test_sms_through_twilio_once(api, delivery, http):
    http.route("POST", TWILIO_PATH, twilio_created)
    result = await run(delivery, send("sms", 12, key="k-sms"))
    await run(delivery, send("sms", 12, key="k-sms"))
    (request,) = http.received(TWILIO_PATH)
    assert request.form()["To"] == "+4915112345678"
    assert request.form()["Body"] == "Place 42: Zoë, your reward expires soon."
    assert request.headers["i-twilio-idempotency-token"] == "k-sms"
    (logged,) = await messages(api, channel="sms")
    assert logged["id"] == result.message_id
    assert logged["providerMessageId"].startswith("SM")


async def test_push_through_fcm_to_every_token(api, delivery, http):
    http.route("POST", FCM_PATH, fcm_devices())
    result = await run(delivery, send("push", 8, key="k-push"))
    assert result.status == "sent"
    requests = http.received(FCM_PATH)
    assert sorted(r.json()["message"]["token"] for r in requests) == ["device-a", "device-b"]
    notification = requests[0].json()["message"]["notification"]
    assert notification == {"title": "Your points", "body": "Hi Zoë, you have 120 points."}


async def test_rejected_recipient_is_a_failed_message_with_the_providers_reason(
    api, delivery, mailbox
):
    mailbox.refuse["zoe@example.com"] = "550 5.1.1 <zoe@example.com>: User unknown"
    result = await run(delivery, send("email", 5))
    assert result.status == "failed"
    assert "User unknown" in result.reason
    (logged,) = await messages(api, status="failed")
    assert "User unknown" in logged["reason"]
    assert mailbox.received == []


async def test_provider_down_raises_to_retry_then_sends_once(api, delivery, http):
    http.route("POST", TWILIO_PATH, Reply(503, {"code": 20503, "message": "down"}))
    with pytest.raises(ApplicationError) as raised:
        await run(delivery, send("sms", 12, key="k-down"))
    assert not raised.value.non_retryable
    (pending,) = await messages(api, channel="sms")
    assert pending["status"] == "pending"
    assert pending["attempts"] == 1

    http.route("POST", TWILIO_PATH, twilio_created)
    result = await run(delivery, send("sms", 12, key="k-down"))
    assert result.status == "sent"
    (sent,) = await messages(api, channel="sms")
    assert (sent["status"], sent["attempts"], sent["id"]) == ("sent", 2, pending["id"])


async def test_every_push_token_rejected_is_failed(api, delivery, http):
    gone = fcm_error(404, "UNREGISTERED", "Requested entity was not found.")
    http.route("POST", FCM_PATH, fcm_devices(**{"device-a": gone, "device-b": gone}))
    result = await run(delivery, send("push", 9, key="k-gone"))
    assert result.status == "failed"


@pytest.mark.parametrize(
    ("channel", "template_id", "customer_id", "reason"),
    [
        ("email", 5, 8, "customer has no email address"),
        ("sms", 12, 8, "customer has no phone number"),
        ("push", 9, 8, "customer has no push token"),
        ("email", 5, 999, "customer 999 does not exist"),
        ("email", 4242, 7, "template 4242 no longer exists"),
        ("sms", 5, 7, "template 5 is now an email template, not sms"),
    ],
)
async def test_per_customer_problems_are_skipped(
    api, delivery, mailbox, channel, template_id, customer_id, reason
):
    result = await run(delivery, send(channel, template_id, customer_id=customer_id))
    assert (result.status, result.reason) == ("skipped", reason)
    (logged,) = await messages(api)
    assert (logged["status"], logged["reason"]) == ("skipped", reason)
    assert mailbox.received == []


async def test_a_template_that_fails_to_render_is_failed(api, delivery, mailbox):
    created = await api.post(
        "/places/42/templates",
        json={"name": "bad", "channel": "sms", "body": "{{ customer.points | divided_by: 0 }}"},
    )
    template_id = int(next(iter(created.json()["node.communication_template"])))
    result = await run(delivery, send("sms", template_id, key="k-bad"))
    assert result.status == "failed"
    assert "divided_by" in result.reason


async def test_event_and_journey_are_in_scope(api, delivery, mailbox):
    created = await api.post(
        "/places/42/templates",
        json={
            "name": "scope",
            "channel": "email",
            "subject": "{{ journey.name }} v{{ journey.version }}",
            "body": "{{ event.name }} {{ event.data.source }} {{ customer.account.tier }} "
            "{{ customer.id }} {{ place.id }}",
        },
    )
    template_id = int(next(iter(created.json()["node.communication_template"])))
    await run(delivery, send("email", template_id, key="k-scope"))
    (received,) = mailbox.received
    assert received.message["Subject"] == "Welcome new members v2"
    assert received.message.get_content().strip() == "account.created app gold 7 42"


async def test_the_readme_worked_example(api, delivery, mailbox):
    created = await api.post(
        "/places/42/templates",
        json={
            "name": "Points",
            "channel": "email",
            "subject": "{{ customer.first_name | default: 'Hi there' }}, you have "
            "{{ customer.points }} points",
            "body": "Your {{ customer.account.tier | capitalize }} status is waiting.\n"
            "{% if event.data.total > 100 %}Thanks for the big order!{% endif %}",
        },
    )
    template_id = int(next(iter(created.json()["node.communication_template"])))
    request = send("email", template_id, key="k-readme")
    request.event = EventInfo(name="order.created", id="o-1", data={"total": 140})
    await run(delivery, request)
    (received,) = mailbox.received
    assert received.message["Subject"] == "Zoë, you have 120 points"
    body = received.message.get_content().replace("\r\n", "\n")
    assert body.rstrip("\n") == "Your Gold status is waiting.\nThanks for the big order!"


class SlowSessions:
    """Real sessions, each opened after a delay: a database the activity has to wait for."""

    def __init__(self, sessions, *delays):
        self.sessions = sessions
        self.delays = list(delays)

    def __call__(self):
        return _Delayed(self.sessions(), self.delays.pop(0) if self.delays else 0.0)


def slow_sessions(sessions, *delays) -> SessionFactory:
    return cast(SessionFactory, SlowSessions(sessions, *delays))


class _Delayed:
    def __init__(self, session, delay):
        self.session = session
        self.delay = delay

    async def __aenter__(self):
        await asyncio.sleep(self.delay)
        return await self.session.__aenter__()

    async def __aexit__(self, *exc):
        return await self.session.__aexit__(*exc)


async def until(condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def cancelled_mid_send(env, delivery, request, server, path):
    """Run an attempt and cancel it (as Temporal does when it gives up on an attempt) once
    its request has reached the provider, before the provider has answered."""
    before = len(server.received(path))
    attempt = asyncio.ensure_future(env.run(delivery.send_message, request))
    await until(lambda: len(server.received(path)) > before)
    env.cancel()
    with pytest.raises(BaseException):  # noqa: B017 - cancelled, whatever the SDK wraps it in
        await attempt


async def test_the_activity_heartbeats_while_it_waits_for_the_database(api, delivery, mailbox):
    beats = []
    env = environment()
    env.on_heartbeat = lambda *details: beats.append(time.monotonic())
    slow = Delivery(slow_sessions(delivery.sessions, 5.0), delivery.channels)
    started = time.monotonic()
    result = await env.run(slow.send_message, send("email", 5, key="k-slow-db"))
    assert result.status == "sent"
    # Beats every 2 s from the start, so a 10 s heartbeat timeout never fires meanwhile.
    assert len([b for b in beats if b - started < 5.0]) >= 2
    assert len(mailbox.received) == 1


async def test_no_resend_through_fcm_while_an_earlier_attempt_may_be_in_flight(api, delivery, http):
    delivery = Delivery(delivery.sessions, delivery.channels, timing=SendTiming(1.5, 0.25, 0.25))
    http.route("POST", FCM_PATH, Reply(200, {"name": "projects/p/messages/1"}, delay=1.0))
    request = send("push", 8, key="k-fcm-flight", customer_id=7)
    await cancelled_mid_send(environment(), delivery, request, http, FCM_PATH)
    sent_by_first = len(http.received(FCM_PATH))

    with pytest.raises(ApplicationError) as raised:
        await run(delivery, request)
    assert raised.value.type == "SendInFlight"
    assert not raised.value.non_retryable
    assert raised.value.next_retry_delay is not None
    assert len(http.received(FCM_PATH)) == sent_by_first  # nothing sent meanwhile
    (pending,) = await messages(api, channel="push")
    assert pending["status"] == "pending"

    await asyncio.sleep(2.5)  # the first attempt's lease runs out: it is surely over
    result = await run(delivery, request)
    assert result.status == "sent"
    assert "may get it twice" in result.reason
    (logged,) = await messages(api, channel="push")
    assert (logged["status"], logged["attempts"]) == ("sent", 2)
    assert "may get it twice" in logged["reason"]


async def test_a_resend_through_twilio_relies_on_its_idempotency_token(api, delivery, http):
    http.route("POST", TWILIO_PATH, Reply(201, {"sid": "SM1"}, delay=1.0))
    request = send("sms", 12, key="k-twilio-flight")
    await cancelled_mid_send(environment(), delivery, request, http, TWILIO_PATH)

    http.route("POST", TWILIO_PATH, twilio_created)
    result = await run(delivery, request)
    assert result.status == "sent"
    tokens = [r.headers["i-twilio-idempotency-token"] for r in http.received(TWILIO_PATH)]
    assert tokens == ["k-twilio-flight", "k-twilio-flight"]
    (logged,) = await messages(api, channel="sms")
    assert "deduplicates" in logged["reason"]


async def test_what_the_provider_answered_is_recorded_even_if_the_attempt_is_cancelled(
    api, delivery, http
):
    # The answer arrives, then recording it waits on the database; Temporal cancels the
    # attempt meanwhile. The answer must still reach the log, or a retry would send again.
    http.route("POST", TWILIO_PATH, twilio_created)
    slow = Delivery(slow_sessions(delivery.sessions, 0.0, 2.0), delivery.channels)
    env = environment()
    attempt = asyncio.ensure_future(env.run(slow.send_message, send("sms", 12, key="k-rec")))
    await until(lambda: len(http.received(TWILIO_PATH)) == 1)
    await asyncio.sleep(0.3)
    env.cancel()
    with pytest.raises(BaseException):  # noqa: B017
        await attempt
    (logged,) = await messages(api, channel="sms")
    assert logged["status"] == "sent"

    again = await run(delivery, send("sms", 12, key="k-rec"))
    assert again.status == "sent"
    assert len(http.received(TWILIO_PATH)) == 1


async def test_a_provider_down_past_the_retry_budget_fails_the_message(api, delivery, http):
    http.route("POST", TWILIO_PATH, Reply(503, {"code": 20503, "message": "down"}))
    nearly_spent = datetime.now(UTC) - timedelta(hours=24) + timedelta(minutes=2)
    result = await environment(scheduled=nearly_spent).run(
        delivery.send_message, send("sms", 12, key="k-budget")
    )
    assert result.status == "failed"
    assert "gave up" in result.reason and "down" in result.reason


async def test_a_push_whose_answer_never_came_is_not_sent_again_at_once(
    api, delivery, http, channels
):
    # FCM got the request but its answer didn't come in time: the push may be out. FCM
    # can't drop a repeat, so the retry waits until the attempt's claim has run out.
    impatient = channels(**{**fcm_settings(http), "http_timeout_seconds": 0.3})
    slow = Delivery(delivery.sessions, impatient)
    http.route("POST", FCM_PATH, Reply(200, {"name": "projects/p/messages/1"}, delay=1.0))
    request = send("push", 8, key="k-fcm-timeout")
    with pytest.raises(ApplicationError) as first:
        await run(slow, request)
    assert first.value.type == "ProviderUnavailable"
    with pytest.raises(ApplicationError) as second:
        await run(slow, request)
    assert second.value.type == "SendInFlight"
    assert len(http.received(FCM_PATH)) == 2  # the first attempt's two devices, once each


async def test_a_claim_that_lost_the_race_for_a_new_key_gives_way_to_the_winners_row(
    api, delivery, mailbox, monkeypatch
):
    """Two attempts at one new message that both found no row (possible on PostgreSQL, which
    locks rows, not the database): the one whose insert finds the other's row writes nothing
    and is retried, and the retry judges that row as any attempt does. Here the winner has
    already sent: the loser neither overwrites its row nor sends again."""
    winner = await run(delivery, send("email", 5, key="race-1"))
    assert winner.status == "sent"
    found = messages_store.by_key

    async def before_the_winner_committed(session, key, *, lock=False):
        monkeypatch.setattr(messages_store, "by_key", found)
        return None

    monkeypatch.setattr(messages_store, "by_key", before_the_winner_committed)
    with pytest.raises(ApplicationError) as gave_way:
        await run(delivery, send("email", 5, key="race-1"))
    assert gave_way.value.type == "ClaimedMeanwhile"
    assert not gave_way.value.non_retryable
    assert await run(delivery, send("email", 5, key="race-1")) == winner
    assert len(mailbox.received) == 1
    (logged,) = await messages(api, customer_id=7)
    assert (logged["id"], logged["status"], logged["attempts"]) == (winner.message_id, "sent", 1)
