"""Consent, end to end through the HTTP API: unsubscribed customers get no marketing, the
one-click link in a sent email's headers unsubscribes, a forged link fails cleanly, and STOP
replied to an SMS unsubscribes the phone."""

import base64
import hashlib
import hmac
import re
from urllib.parse import urlencode

import pytest

from tests.fixtures.database import one_backend
from tests.helpers.api import PLACE, only
from tests.helpers.journeys import send_event, started_journey

pytestmark = [pytest.mark.e2e, one_backend]

TEMPLATES = f"/places/{PLACE}/templates"
CUSTOMERS = f"/places/{PLACE}/customers"


async def template(api, **fields):
    body = {"name": "t", "channel": "email", "subject": "Hi", "body": "Hello", **fields}
    response = await api.post(TEMPLATES, json=body)
    assert response.status_code == 200, response.text
    return only(response.json(), "communication_template")["id"]


def sends(*template_ids):
    states = {}
    for i, template_id in enumerate(template_ids):
        following = f"send{i + 1}" if i + 1 < len(template_ids) else "done"
        states[f"send{i}"] = {
            "meta": {"type": "send_email", "templateId": template_id},
            "on": {"DONE": following},
        }
    return {"initial": "send0", "states": {**states, "done": {"type": "final"}}}


async def customer(api, customer_id):
    response = await api.get(f"{CUSTOMERS}/{customer_id}")
    assert response.status_code == 200, response.text
    return only(response.json(), "customer")


async def test_an_unsubscribed_customer_gets_transactional_email_but_no_marketing(
    engine_under_test, mailbox
):
    engine = engine_under_test
    promo = await template(engine.api, subject="Double points", body="Promo")
    receipt = await template(engine.api, subject="Your receipt", category="transactional")
    create = {"name": "Order", "trigger_event": "order.created"}
    await started_journey(engine.api, create, sends(promo, receipt))
    profile = {"email": "ana@example.com", "subscriptions": {"email": "unsubscribed"}}
    put = await engine.api.put(f"{CUSTOMERS}/7", json=profile)
    assert put.status_code == 200, put.text
    shown = only(put.json(), "customer")
    assert shown["subscriptions"] == {
        "email": "unsubscribed",
        "sms": "subscribed",
        "push": "subscribed",
    }
    assert shown["subscriptionChanges"]["email"]["source"] == "api"

    (execution_id,) = await send_event(engine, "order.created", 7, "order-1")
    await engine.execution_result(execution_id)

    messages = {m["templateId"]: m for m in await engine.messages(execution_id=execution_id)}
    assert (messages[promo]["status"], messages[promo]["reason"]) == ("skipped", "unsubscribed")
    assert messages[receipt]["status"] == "sent"
    (received,) = mailbox.received
    assert received.message["Subject"] == "Your receipt"
    # Transactional mail carries no unsubscribe header.
    assert received.message["List-Unsubscribe"] is None


async def test_the_one_click_link_in_a_sent_email_unsubscribes(engine_under_test, mailbox):
    engine = engine_under_test
    promo = await template(engine.api, body="Promo. Unsubscribe: {{ unsubscribe_url }}")
    create = {"name": "Order", "trigger_event": "order.created"}
    await started_journey(engine.api, create, sends(promo))
    ana = {"email": "ana@example.com"}
    (first,) = await send_event(engine, "order.created", 7, "order-1", customer=ana)
    await engine.execution_result(first)

    (received,) = mailbox.received
    header = received.message["List-Unsubscribe"]
    assert received.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    match = re.fullmatch(r"<(https?://[^>]+)>", header)
    assert match is not None, header
    link = match.group(1)
    assert link.startswith(f"{engine.settings.public_url}/unsubscribe/")
    assert link in received.message.get_content()  # `{{ unsubscribe_url }}` in the body

    page = await engine.api.get(link)
    assert page.status_code == 200
    assert "<form" in page.text and "marketing emails" in page.text
    assert (await customer(engine.api, 7))["subscriptions"]["email"] == "subscribed"

    # What a mail client sends (RFC 8058): no Api-Key, the form body.
    clicked = await engine.api.post(
        link,
        content="List-Unsubscribe=One-Click",
        headers={"Api-Key": "", "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert clicked.status_code == 200, clicked.text
    assert "unsubscribed" in clicked.text
    shown = await customer(engine.api, 7)
    assert shown["subscriptions"]["email"] == "unsubscribed"
    assert shown["subscriptionChanges"]["email"]["source"] == "unsubscribe_link"
    # Again is fine.
    assert (await engine.api.post(link)).status_code == 200

    (second,) = await send_event(engine, "order.created", 7, "order-2")
    await engine.execution_result(second)
    (message,) = await engine.messages(execution_id=second)
    assert (message["status"], message["reason"]) == ("skipped", "unsubscribed")
    assert len(mailbox.received) == 1


async def test_a_forged_or_stale_link_fails_cleanly(engine_under_test, mailbox):
    engine = engine_under_test
    promo = await template(engine.api)
    await started_journey(engine.api, {"name": "O", "trigger_event": "order.created"}, sends(promo))
    ana = {"email": "ana@example.com"}
    (execution_id,) = await send_event(engine, "order.created", 7, "order-1", customer=ana)
    await engine.execution_result(execution_id)
    link = mailbox.received[0].message["List-Unsubscribe"].strip("<>")
    token = link.rsplit("/", 1)[1]
    version, place, customer_id, channel, mac = token.split(".")

    forged = [
        f"{version}.{place}.8.{channel}.{mac}",  # another customer, same signature
        f"{version}.{place}.{customer_id}.sms.{mac}",  # another channel
        f"{version}.{place}.{customer_id}.{channel}.{mac[:-2]}AA",  # tampered signature
        "not-a-token",
        "v1." + "9" * 30 + ".1.email." + "A" * 43,
        f"{token}{'A' * 300}",  # far too long
    ]
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    for bad in forged:
        for method in ("GET", "POST"):
            answer = await engine.api.request(method, f"/unsubscribe/{bad}", headers=browser)
            assert answer.status_code == 400, (bad, answer.text)
            assert answer.headers["content-type"].startswith("text/html")
            assert "not valid" in answer.text or "malformed" in answer.text
            # Any other client gets the API's error body.
            plain = await engine.api.request(method, f"/unsubscribe/{bad}")
            assert plain.status_code == 400
            assert plain.json()["error"]["code"] == "invalid_link"
    assert (await customer(engine.api, 7))["subscriptions"]["email"] == "subscribed"

    # A genuine link whose customer was deleted since.
    assert (await engine.api.delete(f"{CUSTOMERS}/7")).status_code == 204
    gone = await engine.api.post(link, headers=browser)
    assert gone.status_code == 404
    assert gone.headers["content-type"].startswith("text/html")
    assert (await engine.api.post(link)).json()["error"]["code"] == "not_found"


def twilio_signature(token, url, params):
    # Twilio's algorithm, written out here rather than taken from the product.
    text = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), text.encode(), hashlib.sha1).digest()).decode()


async def test_stop_replied_to_an_sms_unsubscribes_the_phone(engine_under_test):
    engine = engine_under_test
    phone = "+14155550123"
    for customer_id in (7, 8):
        assert (
            await engine.api.put(f"{CUSTOMERS}/{customer_id}", json={"phone": phone})
        ).status_code == 200
    assert (
        await engine.api.put(f"{CUSTOMERS}/9", json={"phone": "+14155550999"})
    ).status_code == 200
    path = f"/inbound/sms/{PLACE}"
    url = f"{engine.settings.public_url}{path}"
    token = engine.settings.twilio_auth_token.get_secret_value()

    async def reply(body, signature=None, sender=phone):
        params = {"From": sender, "To": "+15005550006", "Body": body, "MessageSid": "SM1"}
        signed = signature or twilio_signature(token, url, params)
        return await engine.api.post(
            path,
            content=urlencode(params),
            headers={
                "Api-Key": "",
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": signed,
            },
        )

    refused = await reply("STOP", signature="bm90IGEgc2lnbmF0dXJl")
    assert refused.status_code == 403
    assert (await customer(engine.api, 7))["subscriptions"]["sms"] == "subscribed"

    answer = await reply("  stop ")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/xml")
    for customer_id in (7, 8):
        shown = await customer(engine.api, customer_id)
        assert shown["subscriptions"]["sms"] == "unsubscribed"
        assert shown["subscriptionChanges"]["sms"]["source"] == "sms_reply"
        assert shown["subscriptions"]["email"] == "subscribed"
    assert (await customer(engine.api, 9))["subscriptions"]["sms"] == "subscribed"

    assert (await reply("When is my reward due?")).status_code == 200
    # A sender no customer can have (not E.164, a NUL) changes nothing.
    assert (await reply("START", sender="\x00")).status_code == 200
    assert (await customer(engine.api, 7))["subscriptions"]["sms"] == "unsubscribed"
    assert (await reply("START")).status_code == 200
    assert (await customer(engine.api, 7))["subscriptions"]["sms"] == "subscribed"
