"""Email over SMTP (aiosmtplib): one connection per message, a deterministic Message-ID."""

from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Literal

import aiosmtplib

from activities.channels.base import (
    Accepted,
    Outgoing,
    ProviderUnavailable,
    Rejected,
    key_digest,
    single_recipient,
)

Security = Literal["none", "starttls", "tls"]
DEFAULT_PORTS: dict[Security, int] = {"none": 25, "starttls": 587, "tls": 465}

# 5xx replies that are about our own login, not about the message: an operator fixes them, so
# the sends wait (retry) instead of failing for every customer.
AUTH_REPLY_CODES = frozenset({530, 534, 535, 538})


class SmtpChannel:
    provider = "smtp"
    # SMTP has no idempotency: a message handed over twice is delivered twice.
    idempotent = False

    def __init__(
        self,
        *,
        host: str,
        sender: str,
        port: int | None = None,
        security: Security = "starttls",
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
        timeout_seconds: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port or DEFAULT_PORTS[security]
        self.security = security
        self.username = username
        self.password = password
        self.ca_file = ca_file
        self.timeout_seconds = timeout_seconds
        self.sender = sender
        self.envelope_sender = parseaddr(sender)[1]
        _, _, domain = self.envelope_sender.rpartition("@")
        self.message_id_domain = domain or "journeys.invalid"

    def message_id(self, idempotency_key: str) -> str:
        # Deterministic, so a retried send carries the same Message-ID and receiving systems
        # (and the log) can tell it is the same message.
        return f"<{key_digest(idempotency_key)}.journeys@{self.message_id_domain}>"

    def compose(self, message: Outgoing, recipient: str) -> EmailMessage:
        mime = EmailMessage()
        if message.subject:
            # A rendered subject may span lines; a header may not.
            mime["Subject"] = " ".join(message.subject.split())
        mime["From"] = self.sender
        mime["To"] = recipient
        mime["Date"] = formatdate(usegmt=True)
        mime["Message-ID"] = self.message_id(message.idempotency_key)
        for name, value in message.headers.items():
            mime[name] = value
        # Quoted-printable keeps non-ASCII bodies 7-bit clean for relays without 8BITMIME.
        cte = None if message.body.isascii() else "quoted-printable"
        mime.set_content(message.body, subtype="plain", charset="utf-8", cte=cte)
        return mime

    async def send(self, message: Outgoing) -> Accepted:
        recipient = single_recipient(message, "an email")
        mime = self.compose(message, recipient)
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.security == "tls",
            # True, not None: a relay that stops offering STARTTLS must not get plain text.
            start_tls=self.security == "starttls",
            cert_bundle=self.ca_file,
            timeout=self.timeout_seconds,
        )
        try:
            try:
                await client.connect()
            except (aiosmtplib.SMTPException, OSError) as error:
                # Refused or dropped connections, timeouts, TLS or login failures, a relay that
                # turns us away: all about the relay or our settings, none about this message.
                raise ProviderUnavailable(
                    f"SMTP {self.host}:{self.port}: {_describe(error)}"
                ) from error
            try:
                await client.send_message(mime, sender=self.envelope_sender, recipients=[recipient])
            except aiosmtplib.SMTPRecipientsRefused as error:
                raise _from_reply(error.recipients[0], recipient) from error
            except aiosmtplib.SMTPResponseException as error:
                raise _from_reply(error, recipient) from error
            except (aiosmtplib.SMTPException, OSError) as error:
                # Dropped or timed out mid-conversation: the relay may have taken the message.
                raise ProviderUnavailable(
                    f"SMTP {self.host}:{self.port}: {_describe(error)}", uncertain=True
                ) from error
        finally:
            await _quit(client)
        return Accepted(self.provider, str(mime["Message-ID"]))

    async def aclose(self) -> None:
        return None


def _from_reply(error: aiosmtplib.SMTPResponseException, recipient: str) -> Exception:
    reason = f"SMTP {error.code} {error.message} (to {recipient})"
    if error.code >= 500 and error.code not in AUTH_REPLY_CODES:
        return Rejected(reason)
    return ProviderUnavailable(reason)


def _describe(error: Exception) -> str:
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return f"{error.code} {error.message}"
    return str(error) or type(error).__name__


async def _quit(client: aiosmtplib.SMTP) -> None:
    """Say goodbye, but never turn a message the relay accepted into a failure."""
    if not client.is_connected:
        return
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        client.close()
