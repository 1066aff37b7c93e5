"""Sending a template once to an operator's own address through the HTTP API: the worker
sends it through the real providers on loopback, the message log shows it as a test, and no
statistics or frequency cap counts it, nor do consent or quiet hours hold it."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers.api import ANA, PLACE, only
from tests.helpers.providers import FCM_PATH, TWILIO_PATH, fcm_devices, twilio_created
from tests.servers import Reply
from tests.spec_examples import WELCOME_CONFIG, WELCOME_CREATE

TEMPLATES = f"/places/{PLACE}/templates"
ME = "me@example.com"


async def send_test(api, template_id, body):
    return await api.post(f"{TEMPLATES}/{template_id}/test", json=body)


def sent(response):
    assert response.status_code == 200, response.text
    return only(response.json(), "message")


def problems(response):
    assert response.status_code == 422, response.text
    return {d["path"]: d["message"] for d in response.json()["error"]["details"]}


@pytest.mark.e2e
async def test_an_email_test_goes_once_to_the_operator_whatever_consent_and_quiet_hours_say(
    engine_under_test, mailbox
):
    engine = engine_under_test
    api = engine.api
    # Ana has unsubscribed from email, and the place is inside its quiet hours right now:
    # a journey would send her nothing. The test goes to the operator.
    unsubscribed = {**ANA, "subscriptions": {"email": "unsubscribed"}}
    assert (await api.put(f"/places/{PLACE}/customers/7", json=unsubscribed)).status_code == 200
    now = datetime.now(UTC)
    quiet = {
        "start": (now - timedelta(hours=1)).strftime("%H:%M"),
        "end": (now + timedelta(hours=1)).strftime("%H:%M"),
    }
    put = await api.put(f"/places/{PLACE}/settings", json={"quiet_hours": quiet})
    assert put.status_code == 200, put.text

    body = {"to": ME, "customer_id": 7, "idempotency_key": "welcome-test-1"}
    message = sent(await send_test(api, 5, body))
    assert (message["status"], message["test"], message["to"]) == ("sent", True, ME)
    assert (message["templateId"], message["customerId"], message["journeyId"]) == (5, 7, None)
    assert message["subject"] == "Welcome to Place 42, Ana!"
    assert message["body"].startswith("Hi Ana,")
    assert message["provider"] == "smtp" and message["providerMessageId"]
    (mail,) = mailbox.received
    assert mail.rcpt_tos == [ME]
    assert mail.message["Subject"] == "Welcome to Place 42, Ana!"
    # A click in a test must not unsubscribe Ana.
    assert mail.message["List-Unsubscribe"] is None

    # The same request again (a client's retry) answers the same message, sending nothing.
    assert sent(await send_test(api, 5, body)) == message
    assert len(mailbox.received) == 1
    assert [m["id"] for m in await engine.messages(test="true")] == [message["id"]]
    assert await engine.messages(test="false") == []


@pytest.mark.e2e
async def test_tests_count_in_no_journey_statistics_and_no_frequency_cap(
    engine_under_test, mailbox
):
    engine = engine_under_test
    api = engine.api
    assert (await api.put(f"/places/{PLACE}/customers/7", json=ANA)).status_code == 200
    caps = {"frequency_caps": {"email": {"max": 1, "per_days": 1}}}
    assert (await api.put(f"/places/{PLACE}/settings", json=caps)).status_code == 200
    # Two tests rendered for Ana (no key: two presses of the button, two sends).
    for _ in range(2):
        assert sent(await send_test(api, 5, {"to": ME, "customer_id": 7}))["status"] == "sent"

    created = await api.post(
        f"/places/{PLACE}/journeys", json={**WELCOME_CREATE, "machine_config": WELCOME_CONFIG}
    )
    journey_id = only(created.json(), "journey_definition")["id"]
    assert (await api.post(f"/places/{PLACE}/journeys/{journey_id}/start")).status_code == 200
    event = {"event": "account.created", "customer_id": 7, "event_id": "joined-7"}
    response = await api.post(f"/places/{PLACE}/events", json=event)
    assert response.status_code == 202, response.text
    (execution_id,) = response.json()["executions"]
    assert (await engine.execution_result(execution_id)).final_state == "done"

    # Ana's one marketing email a day is the journey's: the tests took none of her cap.
    (journey_message,) = await engine.messages(journey_id=journey_id)
    assert (journey_message["status"], journey_message["reason"]) == ("sent", None)
    assert sorted(m.rcpt_tos[0] for m in mailbox.received) == ["ana@example.com", ME, ME]
    stats = await api.get(f"/places/{PLACE}/journeys/{journey_id}/stats")
    assert stats.status_code == 200, stats.text
    counts = only(stats.json(), "journey_stats")["states"]["send_welcome"]["messages"]
    assert counts == {"sent": 1, "skipped": 0, "failed": 0}
    # Her log shows all three, the tests marked as such.
    logged = await engine.messages(customer_id=7)
    assert sorted((m["test"], m["to"]) for m in logged) == [
        (False, "ana@example.com"),
        (True, ME),
        (True, ME),
    ]


@pytest.mark.e2e
async def test_sms_and_push_tests_reach_their_provider_once(engine_under_test, http):
    api = engine_under_test.api
    http.route("POST", TWILIO_PATH, twilio_created)
    http.route("POST", FCM_PATH, fcm_devices())

    # No customer: rendered for an empty one.
    sms = sent(await send_test(api, 12, {"to": "+14155550100"}))
    assert (sms["status"], sms["test"], sms["customerId"]) == ("sent", True, None)
    assert sms["body"] == "Place 42: there, your reward expires soon."
    assert sms["provider"] == "twilio" and sms["providerMessageId"].startswith("SM")
    (request,) = http.received(TWILIO_PATH)
    assert (request.form()["To"], request.form()["Body"]) == ("+14155550100", sms["body"])

    described = {"attributes": {"first_name": "Zoë", "points": 5}}
    push = sent(await send_test(api, 8, {"to": "operator-device", "customer": described}))
    assert (push["status"], push["to"], push["provider"]) == ("sent", "operator-device", "fcm")
    (request,) = http.received(FCM_PATH)
    payload = request.json()["message"]
    assert payload["token"] == "operator-device"
    assert payload["notification"] == {"title": "Your points", "body": "Hi Zoë, you have 5 points."}


@pytest.mark.e2e
async def test_a_provider_down_is_a_503_and_the_same_request_later_sends_once(
    engine_under_test, http
):
    engine = engine_under_test
    api = engine.api
    http.route("POST", TWILIO_PATH, Reply(503, {"message": "down for maintenance"}))
    body = {"to": "+14155550100", "idempotency_key": "sms-test-1"}

    down = await send_test(api, 12, body)
    assert down.status_code == 503, down.text
    assert down.headers["Retry-After"]
    assert "down for maintenance" in down.json()["error"]["message"]
    assert len(http.received(TWILIO_PATH)) == 3  # tried briefly, then given up
    (pending,) = await engine.messages(test="true")
    assert pending["status"] == "pending" and "down for maintenance" in pending["reason"]

    http.route("POST", TWILIO_PATH, twilio_created)
    message = sent(await send_test(api, 12, body))
    assert (message["id"], message["status"], message["attempts"]) == (pending["id"], "sent", 4)
    assert len(http.received(TWILIO_PATH)) == 4
    # Sent: repeats answer it without asking Twilio again; the key is not for another test.
    assert sent(await send_test(api, 12, body)) == message
    assert len(http.received(TWILIO_PATH)) == 4
    elsewhere = await send_test(api, 12, {**body, "to": "+14155550199"})
    assert elsewhere.status_code == 409, elsewhere.text
    assert len(await engine.messages()) == 1


async def test_bad_tests_name_the_field_and_send_nothing(api):
    wrong_to = {
        5: ("+14155550100", "must be an email address such as ana@example.com"),
        12: ("ana@example.com", "must be an E.164 phone number such as +14155550123"),
        8: ("two words", "must be a push token"),
    }
    for template_id, (to, message) in wrong_to.items():
        found = problems(await send_test(api, template_id, {"to": to}))
        assert found["to"].startswith(message), found
    assert problems(await send_test(api, 5, {}))["to"] == "is required"
    both = {"to": ME, "customer_id": 7, "customer": {"email": "a@example.com"}}
    assert "customer_id" in problems(await send_test(api, 5, both))
    missing = problems(await send_test(api, 5, {"to": ME, "customer_id": 999}))
    assert missing["customer_id"] == "customer 999 does not exist in this place"
    key = problems(await send_test(api, 5, {"to": ME, "idempotency_key": "has space"}))
    assert "idempotency_key" in key
    assert (await send_test(api, 99_999, {"to": ME})).status_code == 404
    created = await api.post(
        TEMPLATES,
        json={"name": "Bad", "channel": "sms", "body": "{{ customer.points | divided_by: 0 }}"},
    )
    template_id = only(created.json(), "communication_template")["id"]
    broken = problems(
        await send_test(
            api, template_id, {"to": "+14155550100", "customer": {"attributes": {"points": 3}}}
        )
    )
    assert broken["body"].startswith("does not render:")
    assert (await api.get(f"/places/{PLACE}/messages")).json()["meta"]["total"] == 0


async def test_temporal_down_is_a_503_within_seconds(temporal_down):
    started = time.monotonic()
    response = await send_test(temporal_down, 5, {"to": ME})
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"]
    assert time.monotonic() - started < 10
