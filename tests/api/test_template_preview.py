"""Previewing a template for a customer through the HTTP API: rendered as a journey would
send it, for every channel, nothing sent or stored."""

from tests.helpers.api import ANA, PLACE

TEMPLATES = f"/places/{PLACE}/templates"


async def preview(api, template_id, body):
    return await api.post(f"{TEMPLATES}/{template_id}/preview", json=body)


def problems(response):
    assert response.status_code == 422, response.text
    return {d["path"]: d["message"] for d in response.json()["error"]["details"]}


async def test_every_channel_renders_for_a_stored_customer(api):
    assert (await api.put(f"/places/{PLACE}/customers/7", json=ANA)).status_code == 200
    email = await preview(api, 5, {"customer_id": 7})
    assert email.status_code == 200, email.text
    shown = email.json()
    assert (shown["templateId"], shown["channel"], shown["category"]) == (5, "email", "marketing")
    assert shown["to"] == ["ana@example.com"]
    assert shown["subject"] == "Welcome to Place 42, Ana!"
    assert shown["body"].startswith("Hi Ana,")
    sms = (await preview(api, 12, {"customer_id": 7})).json()
    assert (sms["to"], sms["body"]) == (
        ["+14155550123"],
        "Place 42: Ana, your reward expires soon.",
    )
    push = (await preview(api, 8, {"customer_id": 7})).json()
    assert (push["to"], push["title"]) == (["device-1"], "Your points")
    assert push["body"] == "Hi Ana, you have 1200 points."
    # Nothing was sent or logged.
    assert (await api.get(f"/places/{PLACE}/messages")).json()["meta"]["total"] == 0


async def test_a_described_customer_and_an_event(api):
    created = await api.post(
        TEMPLATES,
        json={
            "name": "Points",
            "channel": "email",
            "subject": "{{ customer.first_name | default: 'Hi there' }}, you have "
            "{{ customer.points }} points",
            "body": "{% if event.data.total > 100 %}Thanks for the big order!{% endif %}",
        },
    )
    template_id = next(iter(created.json()["node.communication_template"]))
    body = {
        "customer": {"attributes": {"first_name": "Zoë", "points": 120}},
        "event": {"name": "order.created", "data": {"total": 140}},
    }
    shown = (await preview(api, template_id, body)).json()
    assert shown["subject"] == "Zoë, you have 120 points"
    assert shown["body"] == "Thanks for the big order!"
    assert shown["to"] == []  # no address given: a journey would skip it


async def test_bad_previews_name_the_field(api):
    assert "customer_id" in problems(await preview(api, 5, {}))
    both = {"customer_id": 7, "customer": {"email": "a@example.com"}}
    assert "customer_id" in problems(await preview(api, 5, both))
    missing = problems(await preview(api, 5, {"customer_id": 999}))
    assert missing["customer_id"] == "customer 999 does not exist in this place"
    assert (await preview(api, 99_999, {"customer_id": 7})).status_code == 404
    created = await api.post(
        TEMPLATES,
        json={"name": "Bad", "channel": "sms", "body": "{{ customer.points | divided_by: 0 }}"},
    )
    template_id = next(iter(created.json()["node.communication_template"]))
    broken = problems(await preview(api, template_id, {"customer": {"attributes": {"points": 3}}}))
    assert broken["body"].startswith("does not render:")
