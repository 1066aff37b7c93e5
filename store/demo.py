"""Demo content for the demo place: the templates, segments and campaign that the
specification's examples refer to by id, so those examples run verbatim against `journeys dev`,
and a few customers for them to reach.
"""

from typing import Any

from sqlalchemy import text
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from store.clock import now
from store.tables import Campaign, Customer, Segment, Template

_GREETING = "{{ customer.first_name | default: 'there' }}"

TEMPLATES: list[dict[str, Any]] = [
    {
        "id": 5,
        "channel": "email",
        "name": "Welcome email",
        "subject": "Welcome to {{ place.name }}, " + _GREETING + "!",
        "body": "Hi " + _GREETING + ",\n\nThanks for joining {{ place.name }}'s loyalty "
        "programme. Your first reward is waiting for you.\n",
    },
    {
        "id": 8,
        "channel": "push",
        "name": "Points update",
        "title": "Your points",
        "body": "Hi " + _GREETING + ", you have {{ customer.points | default: 0 }} points.",
    },
    {
        "id": 9,
        "channel": "push",
        "name": "Promo blast",
        "title": "Today only",
        "body": "Double points on every order today, " + _GREETING + "!",
    },
    {
        "id": 12,
        "channel": "sms",
        "name": "Reminder SMS",
        "body": "{{ place.name }}: " + _GREETING + ", your reward expires soon.",
    },
    {
        "id": 20,
        "channel": "email",
        "name": "VIP email",
        "subject": "An exclusive offer for our VIPs",
        "body": "Dear " + _GREETING + ",\n\nAs a VIP you get early access this week.\n",
    },
    {
        "id": 21,
        "channel": "email",
        "name": "Standard email",
        "subject": "Something new at {{ place.name }}",
        "body": "Hi " + _GREETING + ",\n\nHave a look at what's new this week.\n",
    },
    {
        "id": 30,
        "channel": "email",
        "name": "Win-back email",
        "subject": "We miss you, " + _GREETING,
        "body": "Hi " + _GREETING + ",\n\nIt's been a while. Here is 20% off your next order.\n",
    },
    {
        "id": 31,
        "channel": "sms",
        "name": "Win-back SMS",
        "body": "{{ place.name }}: your 20% off ends in 2 days, " + _GREETING + ".",
    },
]


def _segment(segment_id: int, name: str, attribute: str, value: str) -> dict[str, Any]:
    return {
        "id": segment_id,
        "name": name,
        "kind": "rule",
        "match": "all",
        "conditions": [{"attribute": attribute, "operator": "eq", "value": value}],
    }


SEGMENTS: list[dict[str, Any]] = [
    _segment(3, "Inactive", "account.classification", "inactive"),
    _segment(4, "VIP", "account.classification", "vip"),
    _segment(6, "Churned", "account.classification", "churned"),
    _segment(12, "Gold tier", "account.tier", "gold"),
    _segment(15, "Platinum tier", "account.tier", "platinum"),
]

CAMPAIGNS: list[dict[str, Any]] = [
    {
        "id": 55,
        "name": "Birthday reward",
        "visibility": "public",
        "data": {"reward": "free dessert", "validDays": 30},
    },
]


def _customer(
    customer_id: int, name: str, classification: str, tier: str, points: int, *, phone: bool = True
) -> dict[str, Any]:
    handle = name.lower().replace("é", "e")
    return {
        "id": customer_id,
        "email": f"{handle}@example.com",
        "phone": f"+1555010{customer_id:04d}" if phone else None,
        "push_tokens": [f"demo-device-{handle}"],
        "attributes": {
            "first_name": name,
            "points": points,
            "account": {"classification": classification, "tier": tier},
        },
    }


# A few customers for `journeys dev`, so the examples have someone to reach: the VIP
# segment (4) and the VIP branch pick Ana and Eva, the churned segment (6) Chloé, the gold
# tier (12) Ana and Chloé. The suite's places start without them.
CUSTOMERS: list[dict[str, Any]] = [
    _customer(1, "Ana", "vip", "gold", 1200),
    _customer(2, "Ben", "new", "silver", 40),
    _customer(3, "Chloé", "churned", "gold", 310),
    _customer(4, "Dev", "inactive", "platinum", 90, phone=False),
    _customer(5, "Eva", "vip", "platinum", 5400),
    _customer(6, "Finn", "active", "silver", 150),
]


async def seed_customers(session: AsyncSession, place_id: int) -> None:
    """Create the demo customers whose ids the place doesn't have yet."""
    stamp = now()
    for row in CUSTOMERS:
        if await session.get(Customer, (place_id, row["id"])) is None:
            session.add(Customer(**row, place_id=place_id, created=stamp, updated=stamp))
    await session.flush()


async def seed(session: AsyncSession, place_id: int) -> None:
    """Create the demo rows whose ids are still free (ids are global, not per place)."""
    stamp = now()
    for model, rows in ((Template, TEMPLATES), (Segment, SEGMENTS), (Campaign, CAMPAIGNS)):
        for row in rows:
            if await session.get(model, row["id"]) is None:
                session.add(model(**row, place_id=place_id, created=stamp, updated=stamp))
        await session.flush()
        await _advance_sequence(session, model)


async def _advance_sequence(session: AsyncSession, model: type[SQLModel]) -> None:
    # PostgreSQL's sequence doesn't see explicit ids; SQLite's AUTOINCREMENT does by itself.
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return
    table: str = model.__table__.name  # type: ignore[attr-defined]
    connection = await session.connection()
    await connection.execute(
        text(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"GREATEST((SELECT MAX(id) FROM {table}), 1))"
        )
    )
