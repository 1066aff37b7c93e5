"""Push through Firebase Cloud Messaging HTTP v1: one request per device token."""

import asyncio
from typing import Any

import httpx

from activities.channels import web
from activities.channels.base import (
    Accepted,
    Outgoing,
    ProviderUnavailable,
    Rejected,
    key_digest,
)
from activities.channels.google_auth import AccessTokens


class FcmChannel:
    provider = "fcm"
    # FCM has no idempotency key: a repeat is a second notification.
    idempotent = False

    def __init__(
        self,
        *,
        project_id: str,
        tokens: AccessTokens,
        client: httpx.AsyncClient,
        base_url: str = "https://fcm.googleapis.com",
    ) -> None:
        self.url = f"{base_url.rstrip('/')}/v1/projects/{project_id}/messages:send"
        self.tokens = tokens
        self.client = client

    async def send(self, message: Outgoing) -> Accepted:
        devices = [token for token in message.recipients if token.strip()]
        if not devices:
            raise Rejected("a push needs at least one device token, got none")
        outcomes = await asyncio.gather(
            *(self._send_one(device, message) for device in devices), return_exceptions=True
        )
        sent: list[str] = []
        rejected: list[str] = []
        unavailable: list[str] = []
        for device, outcome in zip(devices, outcomes, strict=True):
            if isinstance(outcome, Rejected):
                rejected.append(f"{_short(device)}: {outcome.reason}")
            elif isinstance(outcome, ProviderUnavailable):
                unavailable.append(f"{_short(device)}: {outcome.reason}")
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                sent.append(outcome)
        count = len(devices)
        if sent:
            # Reaching some of the customer's devices is a delivered push. Retrying for the
            # rest would notify the reached devices again, and FCM has no idempotency key.
            notes = [
                f"{len(failed)} of {count} push tokens {verdict}: {'; '.join(failed)}"
                for verdict, failed in (("rejected", rejected), ("unreachable", unavailable))
                if failed
            ]
            return Accepted(self.provider, ",".join(sent), " | ".join(notes) or None)
        if unavailable:
            uncertain = any(isinstance(o, ProviderUnavailable) and o.uncertain for o in outcomes)
            raise ProviderUnavailable(
                f"{len(unavailable)} of {count} push tokens unreachable: " + "; ".join(unavailable),
                uncertain=uncertain,
            )
        raise Rejected(f"all {count} push tokens rejected: " + "; ".join(rejected))

    async def _send_one(self, device: str, message: Outgoing) -> str:
        access_token = await self.tokens.get()
        response = await web.post(
            self.client,
            "FCM",
            self.url,
            json={"message": self.payload(device, message)},
            headers={"Authorization": f"Bearer {access_token}"},
        )
        if response.status_code == 401:
            # Expired or revoked: mint a new one on the retry.
            self.tokens.invalidate()
        web.check(response, "FCM", explain=_fcm_error)
        name = web.json_object(response).get("name")
        if not isinstance(name, str):
            raise ProviderUnavailable(
                f"FCM: HTTP {response.status_code} without a message name", uncertain=True
            )
        return name

    @staticmethod
    def payload(device: str, message: Outgoing) -> dict[str, Any]:
        notification = {"body": message.body}
        if message.title:
            notification["title"] = message.title
        payload: dict[str, Any] = {"token": device, "notification": notification}
        if message.data:
            payload["data"] = dict(message.data)
        # A retried send replaces the notification already on the device instead of adding a
        # second one: Android's notification tag and the APNs collapse id do exactly that.
        collapse = key_digest(message.idempotency_key)
        payload["android"] = {"notification": {"tag": collapse}}
        payload["apns"] = {"headers": {"apns-collapse-id": collapse}}
        return payload

    async def aclose(self) -> None:
        await self.client.aclose()


def _fcm_error(response: httpx.Response) -> str:
    """`{"error": {"status": "NOT_FOUND", "message": "...", "details": [{"errorCode": ...}]}}`."""
    error = web.json_object(response).get("error")
    if not isinstance(error, dict):
        return web.error_text(response)
    code = error.get("status")
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("errorCode"):
            code = detail["errorCode"]  # UNREGISTERED, INVALID_ARGUMENT, QUOTA_EXCEEDED, ...
    message = error.get("message") or ""
    return f"{code}: {message}" if code else str(message)


def _short(device: str) -> str:
    # Tokens are ~160 characters; a prefix identifies one in the log.
    return device if len(device) <= 16 else device[:12] + "…"
