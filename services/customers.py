"""Customers: profiles upserted from the API, imports and events; a change wakes the
customer's executions that wait on a condition."""

import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, JsonValue
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from journeys.errors import Invalid, Issue
from journeys.local_time import zone_name
from journeys.schemas import Request, at_most_bytes
from orchestration import waking
from store import crud
from store import customers as store
from store.consent import Status
from store.customers import get as get
from store.db import SessionFactory
from store.tables import Customer
from workflows.model.machine import MAX_ID

MAX_IMPORT = 10_000
# A customer's attributes, as given in one request and as stored after merging.
MAX_ATTRIBUTES_BYTES = store.MAX_ATTRIBUTES_BYTES

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")
# Device tokens are opaque, but never hold whitespace or control characters.
_PUSH_TOKEN = re.compile(r"^[^\s\x00-\x1f\x7f]{1,4096}$")
# What each channel's recipient must look like, and what to say when it doesn't.
_ADDRESSES = {
    "email": (_EMAIL, "must be an email address such as ana@example.com"),
    "sms": (PHONE, "must be an E.164 phone number such as +14155550123"),
    "push": (_PUSH_TOKEN, "must be a push token: 1 to 4096 characters, no spaces"),
}


def recipient_problem(channel: str, value: str) -> str | None:
    """What is wrong with `value` as a recipient on `channel`, or None if nothing is."""
    pattern, problem = _ADDRESSES[channel]
    return None if pattern.match(value) else problem


def _recipient(channel: str) -> AfterValidator:
    def check(value: str | None) -> str | None:
        problem = recipient_problem(channel, value) if value is not None else None
        if problem:
            raise ValueError(problem)
        return value

    return AfterValidator(check)


Email = Annotated[str | None, Field(max_length=320), _recipient("email")]
Phone = Annotated[str | None, _recipient("sms")]
PushTokens = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=4096)]], Field(max_length=100)
]
TimeZone = Annotated[str | None, Field(max_length=64), AfterValidator(zone_name)]
Subscriptions = dict[Literal["email", "sms", "push"], Status]


class CustomerProfile(Request):
    """Fields given replace the stored ones; `attributes` merge at the top level, and an
    attribute set to null is removed; `subscriptions` set the channels given (the others
    keep theirs)."""

    email: Email = None
    phone: Phone = None
    push_tokens: PushTokens | None = None
    attributes: Annotated[dict[str, JsonValue] | None, at_most_bytes(MAX_ATTRIBUTES_BYTES)] = None
    # IANA zone for quiet hours; null: the place's.
    timezone: TimeZone = None
    subscriptions: Subscriptions | None = None


class ImportedCustomer(CustomerProfile):
    id: Annotated[int, Field(ge=1, le=MAX_ID)]


def profile(body: CustomerProfile) -> dict[str, Any]:
    """The fields the request actually gave (so absent ones are left alone)."""
    return body.model_dump(include=body.model_fields_set - {"id"})


async def chosen(
    session: AsyncSession,
    place_id: int,
    customer_id: int | None,
    described: CustomerProfile | None,
) -> Customer:
    """The customer a preview or a simulation is for: the stored one (`customer_id`) or one
    described in the request, exactly one of them (`Invalid` at customer_id otherwise, or when
    there is no such customer)."""
    if (customer_id is None) == (described is None):
        raise Invalid([Issue("customer_id", "give customer_id or customer, not both nor neither")])
    if described is not None:
        return store.described(place_id, profile(described))
    assert customer_id is not None
    stored = await session.get(Customer, (place_id, customer_id))
    if stored is None:
        raise Invalid(
            [Issue("customer_id", f"customer {customer_id} does not exist in this place")]
        )
    return stored


async def page(
    session: AsyncSession, place_id: int, offset: int, limit: int
) -> tuple[list[Customer], int]:
    """The place's customers by id, and how many there are."""
    conditions = [Customer.place_id == place_id]
    return await crud.page(session, Customer, conditions, offset=offset, limit=limit)


async def import_many(
    session: AsyncSession,
    sessions: SessionFactory,
    temporal: Client,
    place_id: int,
    body: Sequence[ImportedCustomer],
) -> dict[str, int]:
    """Upsert customers that each carry their id; all or nothing. Commits, then wakes the
    waiting executions of the changed customers whose condition now holds."""
    seen: dict[int, int] = {}
    issues = []
    for index, item in enumerate(body):
        if item.id in seen:
            issues.append(
                Issue(f"{index}.id", f"customer {item.id} is also at index {seen[item.id]}")
            )
        seen.setdefault(item.id, index)
    if issues:
        raise Invalid(issues)
    results = await store.upsert_many(
        session,
        place_id,
        [(item.id, profile(item)) for item in body],
        lambda i: f"{i}.attributes",
        source="import",
    )
    await session.commit()
    changed = [r.customer.id for r in results if r.changed]
    waking.notify_customers_changed(temporal, sessions, place_id, changed)
    created = sum(1 for result in results if result.created)
    return {"imported": len(results), "created": created, "updated": len(results) - created}


async def upsert(
    session: AsyncSession,
    sessions: SessionFactory,
    temporal: Client,
    place_id: int,
    customer_id: int,
    body: CustomerProfile,
) -> Customer:
    """Create or update a customer. Commits, then wakes its waiting executions whose
    condition now holds (one created by an event may already have some)."""
    customer, _, changed = await store.upsert(session, place_id, customer_id, profile(body))
    await session.commit()
    if changed:
        waking.notify_customers_changed(temporal, sessions, place_id, [customer_id])
    return customer


async def delete(session: AsyncSession, place_id: int, customer_id: int) -> None:
    await crud.delete(session, await get(session, place_id, customer_id))
