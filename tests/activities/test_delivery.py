"""The send activity end to end: store → Liquid → provider on loopback → message log."""

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.delivery import Delivery
from store import customers
from store.db import session_factory
from tests.activities.test_channels import (
    FCM_PATH,
    TWILIO_PATH,
    fcm_devices,
    fcm_error,
    fcm_settings,
    smtp_settings,
    twilio_created,
    twilio_settings,
)
from tests.conftest import PLACE
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


async def run(delivery, request):
    return await ActivityEnvironment().run(delivery.send_message, request)


async def messages(api, **query):
    response = await api.get("/places/42/messages", params=query)
    assert response.status_code == 200
    return list(response.json()["node.message"].values())


async def test_personalised_email_is_delivered_once_per_key(api, delivery, mailbox):
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
