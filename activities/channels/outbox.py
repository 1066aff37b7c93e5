"""The outbox: records nothing beyond the message log and contacts no one (`journeys dev`);
like every send, its message gets a line in the worker's log (`activities.delivery`)."""

from activities.channels.base import Accepted, Outgoing, key_digest


class OutboxChannel:
    provider = "outbox"
    idempotent = True  # it contacts no one

    async def send(self, message: Outgoing) -> Accepted:
        return Accepted(self.provider, f"outbox-{key_digest(message.idempotency_key, 16)}")

    async def aclose(self) -> None:
        return None
