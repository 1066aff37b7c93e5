"""SMS through Twilio's Messages API (form-encoded POST, basic auth, idempotency header)."""

import httpx

from activities.channels import web
from activities.channels.base import Accepted, Outgoing, ProviderUnavailable, single_recipient


class TwilioChannel:
    provider = "twilio"
    # Twilio drops a repeated I-Twilio-Idempotency-Token.
    idempotent = True

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        sender: str | None = None,
        messaging_service_sid: str | None = None,
        base_url: str = "https://api.twilio.com",
        timeout_seconds: float = 10.0,
    ) -> None:
        if not (sender or messaging_service_sid):
            raise ValueError("Twilio needs a sender number or a messaging service")
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.auth = httpx.BasicAuth(account_sid, auth_token)
        self.sender = sender
        self.messaging_service_sid = messaging_service_sid
        self.client = web.new_client(timeout_seconds)

    async def send(self, message: Outgoing) -> Accepted:
        form = {"To": single_recipient(message, "an SMS"), "Body": message.body}
        # The messaging service picks the sender itself (pools, sticky sender, short codes).
        if self.messaging_service_sid:
            form["MessagingServiceSid"] = self.messaging_service_sid
        elif self.sender:
            form["From"] = self.sender
        response = await web.post(
            self.client,
            "Twilio",
            self.url,
            data=form,
            auth=self.auth,
            headers={"I-Twilio-Idempotency-Token": message.idempotency_key},
        )
        web.check(response, "Twilio", explain=_twilio_error)
        sid = web.json_object(response).get("sid")
        if not isinstance(sid, str):
            # Accepted but unreadable: retrying is safe thanks to the idempotency token.
            raise ProviderUnavailable(f"Twilio: HTTP {response.status_code} without a message sid")
        return Accepted(self.provider, sid)

    async def aclose(self) -> None:
        await self.client.aclose()


def _twilio_error(response: httpx.Response) -> str:
    """Twilio's error JSON: `{"code": 21211, "message": "...", "more_info": "...", ...}`."""
    body = web.json_object(response)
    message, code = body.get("message"), body.get("code")
    if isinstance(message, str) and message:
        return f"{message} (Twilio error {code})" if code else message
    return web.error_text(response)
