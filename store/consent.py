"""Customers' consent per channel: who may be sent marketing messages.

A customer is subscribed to every channel until told otherwise; `Customer.subscriptions`
keeps only channels whose consent changed, with when and by what."""

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from store.clock import now
from store.tables import Customer

CHANNELS = ("email", "sms", "push")
Status = Literal["subscribed", "unsubscribed"]
# What changed a customer's consent: the customers API, an import, an event's profile, the
# link in an email, a reply to an SMS.
Source = Literal["api", "import", "event", "unsubscribe_link", "sms_reply"]


def status(customer: Customer, channel: str) -> Status:
    entry = customer.subscriptions.get(channel) or {}
    return "unsubscribed" if entry.get("status") == "unsubscribed" else "subscribed"


def statuses(customer: Customer) -> dict[str, Status]:
    return {channel: status(customer, channel) for channel in CHANNELS}


def changed(
    customer: Customer, wanted: Mapping[str, Status], source: Source, at: int
) -> dict[str, Any] | None:
    """The customer's subscriptions with `wanted` applied, or None if nothing changes (a
    channel set to what it already is keeps its history)."""
    updated = dict(customer.subscriptions)
    for channel, value in wanted.items():
        if status(customer, channel) != value:
            updated[channel] = {"status": value, "at": at, "source": source}
    return None if updated == customer.subscriptions else updated


async def set_status(
    session: AsyncSession,
    customers: Iterable[Customer],
    channel: str,
    value: Status,
    source: Source,
) -> list[Customer]:
    """Set one channel's consent of these (locked) customers; the ones it changed."""
    stamp = now()
    done = []
    for customer in customers:
        subscriptions = changed(customer, {channel: value}, source, stamp)
        if subscriptions is not None:
            customer.subscriptions = subscriptions
            customer.updated = stamp
            session.add(customer)
            done.append(customer)
    await session.flush()
    return done


async def with_phone(session: AsyncSession, place_id: int, phone: str) -> list[Customer]:
    """The place's customers with this phone number, locked until the transaction ends."""
    query = select(Customer).where(Customer.place_id == place_id, Customer.phone == phone)
    query = query.order_by(col(Customer.id)).with_for_update()
    return list(await session.exec(query.execution_options(populate_existing=True)))
