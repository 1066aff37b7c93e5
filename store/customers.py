"""Customers of a place, keyed by the platform's customer id."""

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from journeys.errors import Invalid, Issue, NotFound
from journeys.schemas import json_size
from store import consent, crud
from store.clock import now
from store.consent import Source
from store.tables import Customer

PROFILE_FIELDS = ("email", "phone", "push_tokens", "timezone")
# A customer's attributes as stored (after merging), as JSON: templates and conditions read
# them, so they stay small.
MAX_ATTRIBUTES_BYTES = 64 * 1024
# Rows per statement when importing: well under SQLite's 32 766 bound parameters.
BATCH = 500


def merge_attributes(old: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level merge; a key set to null is removed (as in Customer.io's identify)."""
    merged = dict(old)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


class Upserted(NamedTuple):
    customer: Customer
    created: bool
    changed: bool  # created, or a field now differs from what was stored


def _apply(customer: Customer, profile: Mapping[str, Any], source: Source, stamp: int) -> bool:
    """Apply the profile's fields; whether any of them changed."""
    changes: dict[str, Any] = {}
    if profile.get("subscriptions"):
        subscriptions = consent.changed(customer, profile["subscriptions"], source, stamp)
        if subscriptions is not None:
            changes["subscriptions"] = subscriptions
    for field in PROFILE_FIELDS:
        if field in profile:
            value = profile[field]
            changes[field] = list(value or []) if field == "push_tokens" else value
    if "attributes" in profile:
        changes["attributes"] = merge_attributes(customer.attributes, profile["attributes"] or {})
    changed = False
    for field, value in changes.items():
        if not crud.same(getattr(customer, field), value):
            setattr(customer, field, value)
            changed = True
    return changed


async def get(session: AsyncSession, place_id: int, customer_id: int) -> Customer:
    customer = await session.get(Customer, (place_id, customer_id))
    if customer is None:
        raise NotFound(f"Customer {customer_id} was not found in place {place_id}.")
    return customer


async def upsert(
    session: AsyncSession,
    place_id: int,
    customer_id: int,
    profile: Mapping[str, Any],
    source: Source = "api",
) -> Upserted:
    """Create or update one customer from the fields in `profile`."""
    return (await upsert_many(session, place_id, [(customer_id, profile)], source=source))[0]


async def _rows(session: AsyncSession, place_id: int, ids: list[int]) -> dict[int, Customer]:
    """The customers with these ids, locked until the transaction ends (in id order, so two
    upserts take their locks alike): concurrent merges of one customer's attributes queue
    instead of the last one overwriting the others."""
    query = (
        select(Customer)
        .where(Customer.place_id == place_id, col(Customer.id).in_(ids))
        .order_by(col(Customer.id))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {c.id: c for c in await session.exec(query)}


async def _insert_missing(
    session: AsyncSession, place_id: int, ids: list[int], stamp: int
) -> set[int]:
    """Create the customers with these ids that nobody has created meanwhile; the ids this
    transaction created. Two requests creating one customer at once then both succeed (the
    second waits for the first and updates its row) instead of one failing on the key."""
    rows = [
        {
            "place_id": place_id,
            "id": customer_id,
            "push_tokens": [],
            "attributes": {},
            "subscriptions": {},
            "created": stamp,
            "updated": stamp,
        }
        for customer_id in ids
    ]
    return set(await crud.insert_new(session, Customer, rows, "id"))


async def ensure(session: AsyncSession, place_id: int, ids: Iterable[int]) -> set[int]:
    """Create the customers with these ids that don't exist yet, with empty profiles (one
    statement, nothing read back); the ids created. For events that carry no profile: their
    customers need only exist."""
    return await _insert_missing(session, place_id, sorted(set(ids)), now())


def _attributes_path(index: int) -> str:
    return "attributes"


async def upsert_many(
    session: AsyncSession,
    place_id: int,
    profiles: Sequence[tuple[int, Mapping[str, Any]]],
    path: Callable[[int], str] = _attributes_path,
    *,
    source: Source = "api",
) -> list[Upserted]:
    """Upsert customers in batches: one read and one flush per batch of rows. Merged
    attributes past the limit are `Invalid` at `path(index of the profile)`."""
    results: list[Upserted] = []
    stamp = now()
    for start in range(0, len(profiles), BATCH):
        batch = profiles[start : start + BATCH]
        ids = [customer_id for customer_id, _ in batch]
        existing = await _rows(session, place_id, ids)
        # In key order, as every writer does: two batches never wait on each other's keys.
        missing = sorted({i for i in ids if i not in existing})
        fresh = await _insert_missing(session, place_id, missing, stamp)
        if missing:
            # Ours, or created meanwhile by a transaction we waited for.
            existing.update(await _rows(session, place_id, missing))
        for index, (customer_id, profile) in enumerate(batch, start):
            customer = existing[customer_id]
            created = customer_id in fresh
            fresh.discard(customer_id)
            changed = _apply(customer, profile, source, stamp) or created
            if changed and "attributes" in profile:
                size = json_size(customer.attributes)
                if size > MAX_ATTRIBUTES_BYTES:
                    raise Invalid(
                        [
                            Issue(
                                path(index),
                                f"would make the customer's attributes {size} bytes as JSON; "
                                f"at most {MAX_ATTRIBUTES_BYTES} bytes",
                            )
                        ]
                    )
            if changed:
                customer.updated = stamp
            results.append(Upserted(customer, created, changed))
        await session.flush()
    return results


def apply_profile(customer: Customer, profile: Mapping[str, Any]) -> bool:
    """Apply the profile's fields to a customer held in memory and never stored (a
    simulation's); whether any changed."""
    return _apply(customer, profile, "api", now())


def described(place_id: int, profile: Mapping[str, Any]) -> Customer:
    """A customer that exists only in a request (a preview, a simulation): id 0, with the
    profile's fields applied as an upsert would apply them. Never stored."""
    customer = Customer(place_id=place_id, id=0, push_tokens=[], attributes={}, subscriptions={})
    _apply(customer, profile, "api", now())
    return customer


def recipients(channel: str, customer: Customer) -> tuple[tuple[str, ...], str | None]:
    """Where a message on `channel` goes for the customer, or why there is no one."""
    if channel == "email":
        return (
            ((customer.email,), None) if customer.email else ((), "customer has no email address")
        )
    if channel == "sms":
        return ((customer.phone,), None) if customer.phone else ((), "customer has no phone number")
    tokens = tuple(customer.push_tokens)
    return (tokens, None) if tokens else ((), "customer has no push token")
