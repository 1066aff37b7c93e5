"""The delivery interface every provider implements, and the two ways a send can fail."""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from workflows.model.machine import ChannelName

# Provider error texts end up in the message log; an HTML error page must not.
REASON_LIMIT = 500


@dataclass(frozen=True)
class Outgoing:
    """One rendered message, ready for a provider."""

    channel: ChannelName
    recipients: tuple[str, ...]  # email: one address; sms: one E.164 phone; push: device tokens
    body: str
    idempotency_key: str  # stable across retries of the same send
    subject: str | None = None  # email
    title: str | None = None  # push
    data: Mapping[str, str] = field(default_factory=dict)  # extra key/values for push/webhook
    headers: Mapping[str, str] = field(default_factory=dict)  # email: e.g. List-Unsubscribe


@dataclass(frozen=True)
class Accepted:
    """What a provider accepted."""

    provider: str  # "smtp" | "twilio" | "fcm" | "webhook" | "outbox"
    provider_message_id: str | None
    note: str | None = None  # e.g. partial success of a push to several devices


class DeliveryError(Exception):
    def __init__(self, reason: str) -> None:
        reason = clip(reason)
        super().__init__(reason)
        self.reason = reason


class Rejected(DeliveryError):
    """Permanent: the provider refused this recipient or message; retrying cannot help."""


class ProviderUnavailable(DeliveryError):
    """Transient: the provider could not be reached or asked us to come back later.

    `uncertain`: the message may have been handed over before the failure (a timeout or a
    dropped connection once it was sent), so only a provider that drops repeats may be asked
    again at once."""

    def __init__(self, reason: str, *, uncertain: bool = False) -> None:
        super().__init__(reason)
        self.uncertain = uncertain


class ChannelConfigError(ValueError):
    """A selected provider lacks settings it needs; raised by `build_channels`."""


class Channel(Protocol):
    provider: str
    # Whether the provider drops a repeat of `Outgoing.idempotency_key`: only then may a send
    # be retried while an earlier attempt may have reached the provider.
    idempotent: bool

    async def send(self, message: Outgoing) -> Accepted: ...

    async def aclose(self) -> None: ...


def clip(text: str, limit: int = REASON_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def key_digest(idempotency_key: str, length: int = 32) -> str:
    """A stable, header- and URL-safe stand-in for an idempotency key of any alphabet."""
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:length]


def single_recipient(message: Outgoing, what: str) -> str:
    """The one recipient an email or SMS goes to; anything else is a caller's data problem."""
    if len(message.recipients) != 1:
        raise Rejected(f"{what} goes to exactly one recipient, got {len(message.recipients)}")
    recipient = message.recipients[0].strip()
    # CR/LF would let a stored address smuggle protocol commands or headers.
    if not recipient or "\r" in recipient or "\n" in recipient:
        raise Rejected(f"invalid {what} recipient {recipient!r}")
    return recipient
