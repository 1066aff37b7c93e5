"""The marketing controls' fields through the HTTP API: place settings, customers' consent
and time zone, template categories, journeys' entry and exit rules and goal. Bad values are
a 422 naming the field; absent ones are the specification's behaviour."""

from tests.helpers.api import OTHER_PLACE, PLACE, import_customers, only

SETTINGS = f"/places/{PLACE}/settings"
CUSTOMERS = f"/places/{PLACE}/customers"
JOURNEYS = f"/places/{PLACE}/journeys"


def paths(response):
    assert response.status_code == 422, response.text
    return {detail["path"]: detail["message"] for detail in response.json()["error"]["details"]}


async def test_place_settings_default_then_change_field_by_field(api):
    shown = only((await api.get(SETTINGS)).json(), "place_settings")
    assert shown == {
        "id": PLACE,
        "timezone": "UTC",
        "quietHours": None,
        "frequencyCaps": {},
        "updated": 0,
    }
    body = {
        "timezone": "Europe/Berlin",
        "quiet_hours": {"start": "21:00", "end": "08:00"},
        "frequency_caps": {"email": {"max": 3, "per_days": 7}},
    }
    put = await api.put(SETTINGS, json=body)
    assert put.status_code == 200, put.text
    shown = only(put.json(), "place_settings")
    assert shown["frequencyCaps"] == {"email": {"max": 3, "perDays": 7}}
    assert shown["quietHours"] == {"start": "21:00", "end": "08:00"}

    # Fields given replace; the others stay; null quiet hours turn them off.
    put = await api.put(SETTINGS, json={"quietHours": None})
    shown = only(put.json(), "place_settings")
    assert (shown["timezone"], shown["quietHours"]) == ("Europe/Berlin", None)
    assert shown["frequencyCaps"] == {"email": {"max": 3, "perDays": 7}}
    assert only((await api.get(SETTINGS)).json(), "place_settings") == shown
    # Another place's are its own.
    other = await api.get(f"/places/{OTHER_PLACE}/settings")
    assert other.status_code == 403


async def test_bad_place_settings_name_the_field_and_change_nothing(api):
    body = {
        "timezone": "Mars/Olympus_Mons",
        "quiet_hours": {"start": "25:00", "end": "8:00"},
        "frequency_caps": {"email": {"max": -1, "per_days": 0}, "fax": {"max": 1, "per_days": 1}},
    }
    problems = paths(await api.put(SETTINGS, json=body))
    assert "IANA time zone" in problems["timezone"]
    assert problems["quiet_hours.start"] == "must be a local time HH:MM, 00:00 to 23:59"
    assert "quiet_hours.end" in problems
    assert problems["frequency_caps.email.max"] == "must be 0 or more"
    assert problems["frequency_caps.email.per_days"] == "must be 1 or more"
    assert problems["frequency_caps.fax"] == "is not a known field"
    assert paths(await api.put(SETTINGS, json={"timezone": "../../etc/passwd"}))["timezone"]
    assert only((await api.get(SETTINGS)).json(), "place_settings")["timezone"] == "UTC"


async def test_consent_and_time_zone_of_customers(api):
    put = await api.put(f"{CUSTOMERS}/7", json={"email": "ana@example.com"})
    shown = only(put.json(), "customer")
    assert shown["subscriptions"] == {
        "email": "subscribed",
        "sms": "subscribed",
        "push": "subscribed",
    }
    assert (shown["subscriptionChanges"], shown["timezone"]) == ({}, None)

    body = {"timezone": "America/New_York", "subscriptions": {"sms": "unsubscribed"}}
    shown = only((await api.put(f"{CUSTOMERS}/7", json=body)).json(), "customer")
    assert shown["timezone"] == "America/New_York"
    assert shown["subscriptions"]["sms"] == "unsubscribed"
    change = shown["subscriptionChanges"]["sms"]
    assert (change["status"], change["source"]) == ("unsubscribed", "api")
    assert change["at"] > 0
    # Setting what it already is keeps when and how it last changed.
    again = only((await api.put(f"{CUSTOMERS}/7", json=body)).json(), "customer")
    assert again["subscriptionChanges"] == shown["subscriptionChanges"]

    await import_customers(api, [{"id": 8, "subscriptions": {"email": "unsubscribed"}}])
    imported = only((await api.get(f"{CUSTOMERS}/8")).json(), "customer")
    assert imported["subscriptionChanges"]["email"]["source"] == "import"

    problems = paths(
        await api.put(
            f"{CUSTOMERS}/7",
            json={"timezone": "Nowhere/City", "subscriptions": {"email": "maybe"}},
        )
    )
    assert "IANA time zone" in problems["timezone"]
    assert problems["subscriptions.email"] == "must be 'subscribed' or 'unsubscribed'"
    assert only((await api.get(f"{CUSTOMERS}/7")).json(), "customer")["subscriptions"] == {
        "email": "subscribed",
        "sms": "unsubscribed",
        "push": "subscribed",
    }


async def test_an_events_profile_sets_consent(api):
    event = {
        "event": "account.updated",
        "customer_id": 9,
        "customer": {"subscriptions": {"push": "unsubscribed"}, "timezone": "Asia/Tokyo"},
    }
    assert (await api.post(f"/places/{PLACE}/events", json=event)).status_code == 202
    shown = only((await api.get(f"{CUSTOMERS}/9")).json(), "customer")
    assert shown["subscriptions"]["push"] == "unsubscribed"
    assert shown["subscriptionChanges"]["push"]["source"] == "event"
    assert shown["timezone"] == "Asia/Tokyo"


async def test_templates_are_marketing_unless_said_otherwise(api):
    base = {"name": "T", "channel": "sms", "body": "Hi"}
    made = only(
        (await api.post(f"/places/{PLACE}/templates", json=base)).json(), "communication_template"
    )
    assert made["category"] == "marketing"
    url = f"/places/{PLACE}/templates/{made['id']}"
    updated = await api.put(url, json={"category": "transactional"})
    assert only(updated.json(), "communication_template")["category"] == "transactional"
    assert paths(await api.put(url, json={"category": "spam"}))["category"]
    assert paths(await api.put(url, json={"category": None}))["category"]


async def test_journey_rules_in_snake_case_out_in_camel_case(api):
    create = {
        "name": "Welcome",
        "trigger_event": "account.created",
        "entry_rules": {"reentry": {"after_seconds": 86_400}},
        "exit_rules": {"events": ["order.created", "account.tier.upgraded"]},
        "goal": {"event": "order.created", "within_days": 7},
    }
    made = await api.post(JOURNEYS, json=create)
    assert made.status_code == 200, made.text
    journey = only(made.json(), "journey_definition")
    assert journey["entryRules"] == {"reentry": {"afterSeconds": 86_400}}
    assert journey["exitRules"] == {"events": ["order.created", "account.tier.upgraded"]}
    assert journey["goal"] == {"event": "order.created", "withinDays": 7}

    url = f"{JOURNEYS}/{journey['id']}"
    put = await api.put(url, json={"entry_rules": {"reentry": "never"}, "goal": None})
    journey = only(put.json(), "journey_definition")
    assert journey["entryRules"] == {"reentry": "never"} and "goal" not in journey
    assert journey["exitRules"] == {"events": ["order.created", "account.tier.upgraded"]}
    assert journey["version"] == 1  # rules are not steps: no new version

    plain = only(
        (await api.post(JOURNEYS, json={"name": "P", "trigger_event": "order.created"})).json(),
        "journey_definition",
    )
    # Absent rules are not shown: such a journey answers as the specification's do.
    assert not {"entryRules", "exitRules", "goal"} & set(plain)


async def test_bad_journey_rules_name_the_field(api):
    create = {
        "name": "Bad",
        "trigger_event": "account.created",
        "entry_rules": {"reentry": {"after_seconds": 0}},
        "exit_rules": {"events": ["manual"]},
        "goal": {"event": "order.shipped", "within_days": 0},
    }
    problems = paths(await api.post(JOURNEYS, json=create))
    assert problems["entry_rules.reentry"].startswith("must be 'always', 'never', 'after_exit' or")
    assert problems["exit_rules.events.0"] == "manual is not an event"
    assert "goal.event" in problems
    assert problems["goal.within_days"] == "must be 1 or more"
    twice = {
        "name": "T",
        "trigger_event": "account.created",
        "exit_rules": {"events": ["order.created"] * 2},
    }
    assert (
        paths(await api.post(JOURNEYS, json=twice))["exit_rules.events"]
        == "must not name an event twice"
    )
    empty = {"name": "E", "trigger_event": "account.created", "exit_rules": {"events": []}}
    assert "exit_rules.events" in paths(await api.post(JOURNEYS, json=empty))
    assert (await api.get(JOURNEYS)).json()["meta"]["total"] == 0


async def test_unsigned_inbound_sms_are_refused_without_a_provider_secret(api):
    """This API has no Twilio token and no webhook secret: nothing it can check a signature
    against, so it takes nothing."""
    await api.put(f"{CUSTOMERS}/7", json={"phone": "+14155550123"})
    answer = await api.post(
        f"/inbound/sms/{PLACE}",
        content="From=%2B14155550123&Body=STOP",
        headers={"Api-Key": "", "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 403
    assert "JOURNEYS_WEBHOOK_SECRET" in answer.json()["error"]["message"]
    shown = only((await api.get(f"{CUSTOMERS}/7")).json(), "customer")
    assert shown["subscriptions"]["sms"] == "subscribed"
