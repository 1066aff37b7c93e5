"""A generic JSON webhook for SMS or push: your own gateway receives each message, signed."""

import hashlib
import hmac
import json

from activities.channels import web
from activities.channels.base import Accepted, Outgoing

SIGNATURE_HEADER = "X-Journeys-Signature"


def signature(secret: bytes, raw_body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of the exact body bytes>`, what a receiver recomputes."""
    return "sha256=" + hmac.new(secret, raw_body, hashlib.sha256).hexdigest()


class WebhookChannel:
    provider = "webhook"
    # The receiver is told the Idempotency-Key and is expected to drop repeats of it.
    idempotent = True

    def __init__(self, *, url: str, secret: str | None = None, timeout_seconds: float = 10.0):
        self.url = url
        self.secret = secret.encode() if secret else None
        self.client = web.new_client(timeout_seconds)

    async def send(self, message: Outgoing) -> Accepted:
        payload = {
            "channel": message.channel,
            "recipients": list(message.recipients),
            "subject": message.subject,
            "title": message.title,
            "body": message.body,
            "data": dict(message.data),
            "idempotencyKey": message.idempotency_key,
        }
        # Serialised here, not by httpx, so the signature covers exactly the bytes sent.
        raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": message.idempotency_key,
        }
        if self.secret:
            headers[SIGNATURE_HEADER] = signature(self.secret, raw)
        response = await web.post(self.client, "webhook", self.url, content=raw, headers=headers)
        web.check(response, "webhook")
        found = web.json_object(response).get("id")
        return Accepted(self.provider, None if found is None else str(found))

    async def aclose(self) -> None:
        await self.client.aclose()
