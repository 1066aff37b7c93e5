"""The outbox: records nothing beyond the message log and contacts no one (`journeys dev`)."""

import logging

from activities.channels.base import Accepted, Outgoing, key_digest

log = logging.getLogger(__name__)


class OutboxChannel:
    provider = "outbox"
    idempotent = True  # it contacts no one

    async def send(self, message: Outgoing) -> Accepted:
        # A log line so that someone running `journeys dev` can see what would have gone out.
        log.info(
            "outbox %s to %s: %s",
            message.channel,
            ", ".join(message.recipients),
            message.subject or message.title or message.body[:60],
        )
        return Accepted(self.provider, f"outbox-{key_digest(message.idempotency_key, 16)}")

    async def aclose(self) -> None:
        return None
