"""What a marketing send obeys before it is claimed: the customer's consent, the quiet hours
of their local time, and the place's frequency caps. Transactional sends obey none."""

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from journeys import local_time
from store import consent, messages, place_settings
from store.clock import DAY
from store.tables import Customer, Template
from workflows.contracts import SendInput


@dataclass(frozen=True)
class Verdict:
    """Send now, end the message (`problem`: its status and reason) or hold it until
    `hold_until`."""

    problem: tuple[str, str] | None = None
    hold_until: datetime | None = None


SEND = Verdict()


async def admit(
    session: AsyncSession,
    request: SendInput,
    customer: Customer,
    template: Template,
) -> Verdict:
    """The verdict on a first claim of a message, in the claim's transaction: the frequency
    cap's count holds a lock on the customer until the claim's `pending` row is written, so
    two sends to one customer at once can't both slip under the cap."""
    if template.category != "marketing":
        return SEND
    if consent.status(customer, request.channel) == "unsubscribed":
        return Verdict(problem=("skipped", "unsubscribed"))
    rules = await place_settings.get(session, request.place_id)
    if request.quiet_hours_at is not None and rules.quiet_hours:
        where = customer.timezone or rules.timezone
        # The later of the step's time and now: a send that ran late (a backlog, an outage
        # before its claim) is judged by when it would go out.
        moment = max(request.quiet_hours_at, datetime.now(UTC))
        until = local_time.quiet_until(
            moment, where, rules.quiet_hours["start"], rules.quiet_hours["end"]
        )
        if until is not None:
            return Verdict(hold_until=until)
    cap = rules.frequency_caps.get(request.channel)
    if cap:
        # The customer's row is the lock every capped send to them takes (PostgreSQL; SQLite
        # has one writer, and this transaction began as it).
        await session.get(Customer, (request.place_id, request.customer_id), with_for_update=True)
        since = int(time.time()) - cap["per_days"] * DAY
        count = await messages.marketing_sent_since(
            session, request.place_id, request.customer_id, request.channel, since
        )
        if count >= cap["max"]:
            return Verdict(problem=("skipped", "frequency_cap"))
    return SEND
