"""Consent changes that come from customers themselves: the one-click unsubscribe link in a
marketing email, and an opt-out (or back in) replied to an SMS."""

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from journeys.errors import NotFound
from journeys.settings import Settings
from journeys.unsubscribe import Unsubscriber, verify
from services.customers import PHONE
from store import consent
from store.consent import Status
from store.tables import Customer

# Twilio's standard opt-out and opt-in keywords (Advanced Opt-Out defaults), matched against
# the whole message, trimmed, in any case.
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT", "CANCEL", "OPTOUT", "REVOKE"}
START_WORDS = {"START", "UNSTOP", "YES"}


async def unsubscriber(
    session: AsyncSession, settings: Settings, token: str, *, lock: bool = False
) -> tuple[Unsubscriber, Customer]:
    """Whom a link unsubscribes from what (`BadToken` if forged, `NotFound` if the customer
    is gone); `lock` holds the customer until the transaction ends."""
    who = verify(settings, token)
    customer = await session.get(
        Customer, (who.place_id, who.customer_id), with_for_update=lock, populate_existing=lock
    )
    if customer is None:
        raise NotFound("This unsubscribe link is for a customer who no longer exists.")
    return who, customer


async def unsubscribe(session: AsyncSession, settings: Settings, token: str) -> Unsubscriber:
    """Unsubscribe the link's customer from its channel (again is fine: nothing changes)."""
    who, customer = await unsubscriber(session, settings, token, lock=True)
    await consent.set_status(session, [customer], who.channel, "unsubscribed", "unsubscribe_link")
    return who


@dataclass(frozen=True)
class Reply:
    keyword: Status | None  # what the message asked for, if it was a keyword
    customers: int  # customers with the sender's number whose SMS consent changed


def keyword(body: str) -> Status | None:
    word = body.strip().upper()
    if word in STOP_WORDS:
        return "unsubscribed"
    if word in START_WORDS:
        return "subscribed"
    return None


async def sms_reply(session: AsyncSession, place_id: int, sender: str, body: str) -> Reply:
    """An SMS the place's number received: STOP and its synonyms unsubscribe every customer
    of the place with the sender's number from SMS, START resubscribes them."""
    wanted = keyword(body)
    sender = sender.strip()
    if wanted is None or not PHONE.match(sender):
        return Reply(wanted, 0)  # not a keyword, or no customer can have that number
    found = await consent.with_phone(session, place_id, sender)
    changed = await consent.set_status(session, found, "sms", wanted, "sms_reply")
    return Reply(wanted, len(changed))


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """Twilio's `X-Twilio-Signature`: base64 HMAC-SHA1 of the URL followed by each POST
    parameter's name and value, in name order."""
    text = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    digest = hmac.new(auth_token.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()
