"""Customers of a place, keyed by the platform's customer id."""

from collections.abc import Mapping, Sequence
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from errors import NotFound
from store.clock import now
from store.tables import Customer

PROFILE_FIELDS = ("email", "phone", "push_tokens")
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


def _apply(customer: Customer, profile: Mapping[str, Any]) -> None:
    for field in PROFILE_FIELDS:
        if field in profile:
            value = profile[field]
            setattr(customer, field, list(value or []) if field == "push_tokens" else value)
    if "attributes" in profile:
        customer.attributes = merge_attributes(customer.attributes, profile["attributes"] or {})


async def get(session: AsyncSession, place_id: int, customer_id: int) -> Customer:
    customer = await session.get(Customer, (place_id, customer_id))
    if customer is None:
        raise NotFound(f"Customer {customer_id} was not found in place {place_id}.")
    return customer


async def upsert(
    session: AsyncSession, place_id: int, customer_id: int, profile: Mapping[str, Any]
) -> tuple[Customer, bool]:
    """Create or update one customer from the fields in `profile`; True if it was created."""
    return (await upsert_many(session, place_id, [(customer_id, profile)]))[0]


async def upsert_many(
    session: AsyncSession, place_id: int, profiles: Sequence[tuple[int, Mapping[str, Any]]]
) -> list[tuple[Customer, bool]]:
    """Upsert customers in batches: one read and one flush per batch of rows."""
    results: list[tuple[Customer, bool]] = []
    stamp = now()
    for start in range(0, len(profiles), BATCH):
        batch = profiles[start : start + BATCH]
        ids = [customer_id for customer_id, _ in batch]
        existing = {
            c.id: c
            for c in await session.exec(
                select(Customer).where(Customer.place_id == place_id, col(Customer.id).in_(ids))
            )
        }
        for customer_id, profile in batch:
            customer = existing.get(customer_id)
            created = customer is None
            if customer is None:
                customer = Customer(place_id=place_id, id=customer_id, created=stamp)
                existing[customer_id] = customer
                session.add(customer)
            _apply(customer, profile)
            customer.updated = stamp
            results.append((customer, created))
        await session.flush()
    return results
