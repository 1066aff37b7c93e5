"""Delivery channels against real servers on loopback: SMTP (aiosmtpd) and HTTP (uvicorn)."""

import base64
import hashlib
import hmac
import json
import socket
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from activities.channels import (
    Accepted,
    Channel,
    ChannelConfigError,
    Outgoing,
    ProviderUnavailable,
    Rejected,
    build_channels,
    close_channels,
)
from journeys.settings import Settings
from tests.fixtures.providers import Build
from tests.helpers.providers import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FCM_PATH,
    SENDER,
    TWILIO_PATH,
    ZOE,
    fcm_devices,
    fcm_error,
    fcm_settings,
    smtp_settings,
    twilio_created,
    twilio_settings,
)
from tests.servers import (
    LOOPBACK,
    HttpServer,
    Mailbox,
    Reply,
    Request,
    accept_login,
    make_tls,
    smtp_server,
)


def email(to: str = ZOE, key: str = "exec-1/welcome/1", **fields: Any) -> Outgoing:
    fields.setdefault("subject", "Willkommen, Zoë")
    fields.setdefault("body", "Hallo Zoë,\n\nschön, dass du da bist! 🎉\nDein Team\n")
    return Outgoing(channel="email", recipients=(to,), idempotency_key=key, **fields)


def sms(to: str = "+4915112345678", key: str = "exec-1/remind/1") -> Outgoing:
    return Outgoing("sms", (to,), "Hi Zoë, 20 % off today only.", key)


def push(*tokens: str, key: str = "exec-1/nudge/1") -> Outgoing:
    return Outgoing(
        "push",
        tokens,
        "Your points expire tomorrow.",
        key,
        title="Don't lose 120 points",
        data={"deeplink": "app://points", "campaign": "7"},
    )


# --- email over SMTP --------------------------------------------------------------------------


async def test_smtp_delivers_a_utf8_message(channels: Build, mailbox: Mailbox, smtp_port: int):
    channel = channels(**smtp_settings(smtp_port))["email"]
    message = email()

    delivery = await channel.send(message)

    (received,) = mailbox.received
    assert received.mail_from == "rewards@example.com"
    assert received.rcpt_tos == [ZOE]
    assert received.raw.isascii()  # 7-bit clean on the wire, whatever the relay supports
    mime = received.message
    assert mime["Subject"] == "Willkommen, Zoë"
    assert mime["From"] == SENDER
    assert mime["To"] == ZOE
    assert mime.get_content_type() == "text/plain"
    assert mime.get_content_charset() == "utf-8"
    # SMTP carries CRLF line ends; the text is the same.
    assert mime.get_content().replace("\r\n", "\n") == message.body
    assert abs(parsedate_to_datetime(mime["Date"]).timestamp() - time.time()) < 60
    assert delivery == Accepted("smtp", mime["Message-ID"])
    assert mime["Message-ID"].startswith("<") and mime["Message-ID"].endswith("@example.com>")


async def test_smtp_message_id_follows_the_idempotency_key(
    channels: Build, mailbox: Mailbox, smtp_port: int
):
    channel = channels(**smtp_settings(smtp_port))["email"]

    first = await channel.send(email(key="exec-1/welcome/1"))
    retry = await channel.send(email(key="exec-1/welcome/1"))
    other = await channel.send(email(key="exec-2/welcome/1"))

    assert first.provider_message_id == retry.provider_message_id
    assert first.provider_message_id != other.provider_message_id
    ids = [received.message["Message-ID"] for received in mailbox.received]
    assert ids == [first.provider_message_id, first.provider_message_id, other.provider_message_id]


async def test_smtp_multiline_subject_becomes_one_header(
    channels: Build, mailbox: Mailbox, smtp_port: int
):
    channel = channels(**smtp_settings(smtp_port))["email"]

    await channel.send(email(subject="Hallo\r\nBcc: everyone@example.com"))

    mime = mailbox.received[0].message
    assert mime["Subject"] == "Hallo Bcc: everyone@example.com"
    assert mime["Bcc"] is None
    assert mailbox.received[0].rcpt_tos == [ZOE]


async def test_smtp_refused_connection_is_unavailable(channels: Build, closed_port: int):
    channel = channels(**smtp_settings(closed_port))["email"]

    with pytest.raises(ProviderUnavailable, match=f"SMTP 127.0.0.1:{closed_port}"):
        await channel.send(email())


async def test_smtp_silent_server_is_unavailable_after_the_timeout(channels: Build):
    # The kernel completes the handshake from the backlog; no greeting ever comes.
    with socket.socket() as silent:
        silent.bind((LOOPBACK, 0))
        silent.listen()
        port = silent.getsockname()[1]
        channel = channels(**smtp_settings(port, smtp_timeout_seconds=0.3))["email"]
        started = time.monotonic()

        with pytest.raises(ProviderUnavailable, match=r"(?i)time"):
            await channel.send(email())

    assert time.monotonic() - started < 3


async def test_smtp_550_for_the_recipient_is_rejected_with_the_server_text(
    channels: Build, mailbox: Mailbox, smtp_port: int
):
    mailbox.refuse["gone@example.com"] = "550 5.1.1 <gone@example.com>: User unknown"
    channel = channels(**smtp_settings(smtp_port))["email"]

    with pytest.raises(Rejected) as refused:
        await channel.send(email(to="gone@example.com"))

    assert "550" in refused.value.reason
    assert "User unknown" in refused.value.reason
    assert mailbox.received == []


async def test_smtp_4xx_for_the_recipient_is_unavailable(
    channels: Build, mailbox: Mailbox, smtp_port: int
):
    mailbox.refuse[ZOE] = "451 4.7.1 Greylisted, try again later"
    channel = channels(**smtp_settings(smtp_port))["email"]

    with pytest.raises(ProviderUnavailable, match=r"451 .*Greylisted"):
        await channel.send(email())


async def test_smtp_requiring_starttls_never_falls_back_to_plain_text(
    channels: Build, mailbox: Mailbox, smtp_port: int
):
    channel = channels(**smtp_settings(smtp_port, smtp_security="starttls"))["email"]

    with pytest.raises(ProviderUnavailable, match=r"(?i)starttls"):
        await channel.send(email())

    assert mailbox.received == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_smtp_over_tls_with_login(channels: Build, tmp_path: Path, security: str):
    tls = make_tls(tmp_path)
    mailbox = Mailbox()
    options: dict[str, Any] = {
        "authenticator": accept_login("journeys", "s3cret"),
        "auth_required": True,
    }
    if security == "starttls":
        options |= {"tls_context": tls.server_context, "require_starttls": True}
    else:
        # Implicit TLS: aiosmtpd only counts STARTTLS as TLS for its AUTH check.
        options |= {"ssl_context": tls.server_context, "auth_require_tls": False}
    controller = smtp_server(mailbox, **options)
    try:
        channel = channels(
            **smtp_settings(
                controller.port,
                smtp_security=security,
                smtp_username="journeys",
                smtp_password="s3cret",
                smtp_ca_file=str(tls.ca_file),
            )
        )["email"]

        await channel.send(email())

        (received,) = mailbox.received
        assert received.login == "journeys"
        assert received.message["Subject"] == "Willkommen, Zoë"
        if security == "starttls":
            assert received.tls

        # A wrong password is our configuration, not the customer's: retry, don't fail.
        wrong = channels(
            **smtp_settings(
                controller.port,
                smtp_security=security,
                smtp_username="journeys",
                smtp_password="wrong",
                smtp_ca_file=str(tls.ca_file),
            )
        )["email"]
        with pytest.raises(ProviderUnavailable, match="535"):
            await wrong.send(email())
    finally:
        controller.stop()


async def test_smtp_untrusted_certificate_is_unavailable(channels: Build, tmp_path: Path):
    tls = make_tls(tmp_path)
    mailbox = Mailbox()
    controller = smtp_server(mailbox, tls_context=tls.server_context, require_starttls=True)
    try:
        # No smtp_ca_file: the system trust store does not know the test CA.
        channel = channels(**smtp_settings(controller.port, smtp_security="starttls"))["email"]
        with pytest.raises(ProviderUnavailable, match=r"(?i)certificate"):
            await channel.send(email())
        assert mailbox.received == []
    finally:
        controller.stop()


# --- SMS over Twilio --------------------------------------------------------------------------


async def test_twilio_posts_the_messages_api_shape(channels: Build, http: HttpServer):
    http.route("POST", TWILIO_PATH, twilio_created)
    channel = channels(**twilio_settings(http))["sms"]

    delivery = await channel.send(sms())

    (request,) = http.requests
    assert (request.method, request.path) == ("POST", TWILIO_PATH)
    expected_auth = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected_auth}"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["i-twilio-idempotency-token"] == "exec-1/remind/1"
    assert request.form() == {
        "To": "+4915112345678",
        "From": "+15005550006",
        "Body": "Hi Zoë, 20 % off today only.",
    }
    assert delivery.provider == "twilio"
    assert delivery.provider_message_id is not None
    assert delivery.provider_message_id.startswith("SM")


async def test_twilio_messaging_service_replaces_the_sender(channels: Build, http: HttpServer):
    http.route("POST", TWILIO_PATH, twilio_created)
    channel = channels(
        **twilio_settings(http, twilio_from=None, twilio_messaging_service_sid="MG123")
    )["sms"]

    await channel.send(sms())

    form = http.requests[0].form()
    assert form["MessagingServiceSid"] == "MG123"
    assert "From" not in form


async def test_twilio_error_json_is_rejected_with_its_message(channels: Build, http: HttpServer):
    error = {
        "code": 21211,
        "message": "The 'To' number +4900 is not a valid phone number.",
        "more_info": "https://www.twilio.com/docs/errors/21211",
        "status": 400,
    }
    http.route("POST", TWILIO_PATH, Reply(400, error))
    channel = channels(**twilio_settings(http))["sms"]

    with pytest.raises(Rejected) as refused:
        await channel.send(sms(to="+4900"))

    assert "The 'To' number +4900 is not a valid phone number." in refused.value.reason
    assert "21211" in refused.value.reason


@pytest.mark.parametrize("status", [500, 503, 429, 408, 401])
async def test_twilio_retryable_statuses_are_unavailable(
    channels: Build, http: HttpServer, status: int
):
    http.route("POST", TWILIO_PATH, Reply(status, {"code": 20000 + status, "message": "nope"}))
    channel = channels(**twilio_settings(http))["sms"]

    with pytest.raises(ProviderUnavailable, match=f"HTTP {status}"):
        await channel.send(sms())


async def test_twilio_timeout_is_unavailable(channels: Build, http: HttpServer):
    http.route("POST", TWILIO_PATH, Reply(201, {"sid": "SMlate"}, delay=1.0))
    channel = channels(**twilio_settings(http, http_timeout_seconds=0.2))["sms"]

    with pytest.raises(ProviderUnavailable, match="timed out"):
        await channel.send(sms())


async def test_twilio_unreachable_is_unavailable(channels: Build, closed_port: int):
    channel = channels(
        sms_provider="twilio",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_from="+15005550006",
        twilio_base_url=f"http://{LOOPBACK}:{closed_port}",
    )["sms"]

    with pytest.raises(ProviderUnavailable, match="ConnectError"):
        await channel.send(sms())


# --- push over FCM ----------------------------------------------------------------------------


async def test_fcm_posts_the_v1_shape(channels: Build, http: HttpServer):
    http.route("POST", FCM_PATH, fcm_devices())
    channel = channels(**fcm_settings(http))["push"]

    delivery = await channel.send(push("device-a"))

    (request,) = http.requests
    assert (request.method, request.path) == ("POST", FCM_PATH)
    assert request.headers["authorization"] == "Bearer static-token"
    assert request.headers["content-type"] == "application/json"
    body = request.json()["message"]
    assert body["token"] == "device-a"
    assert body["notification"] == {
        "title": "Don't lose 120 points",
        "body": "Your points expire tomorrow.",
    }
    assert body["data"] == {"deeplink": "app://points", "campaign": "7"}
    # A retried send replaces the notification on the device instead of adding one.
    assert body["android"]["notification"]["tag"] == body["apns"]["headers"]["apns-collapse-id"]
    assert delivery == Accepted("fcm", "projects/demo-project/messages/device-a")


async def test_fcm_some_tokens_rejected_is_a_delivery_with_a_note(
    channels: Build, http: HttpServer
):
    http.route(
        "POST",
        FCM_PATH,
        fcm_devices(
            gone=fcm_error(404, "UNREGISTERED", "Requested entity was not found."),
            garbled=fcm_error(400, "INVALID_ARGUMENT", "The registration token is not valid"),
        ),
    )
    channel = channels(**fcm_settings(http))["push"]

    delivery = await channel.send(push("gone", "device-a", "garbled"))

    assert sorted(r.json()["message"]["token"] for r in http.requests) == [
        "device-a",
        "garbled",
        "gone",
    ]
    assert delivery.provider_message_id == "projects/demo-project/messages/device-a"
    assert delivery.note is not None
    assert delivery.note.startswith("2 of 3 push tokens rejected")
    assert "UNREGISTERED" in delivery.note
    assert "INVALID_ARGUMENT" in delivery.note


async def test_fcm_every_token_rejected_is_rejected(channels: Build, http: HttpServer):
    gone = fcm_error(404, "UNREGISTERED", "Requested entity was not found.")
    http.route("POST", FCM_PATH, fcm_devices(old=gone, older=gone))
    channel = channels(**fcm_settings(http))["push"]

    with pytest.raises(Rejected, match=r"all 2 push tokens rejected.*UNREGISTERED"):
        await channel.send(push("old", "older"))


@pytest.mark.parametrize(
    "reply",
    [
        fcm_error(503, "UNAVAILABLE", "The service is currently unavailable."),
        fcm_error(500, "INTERNAL", "Internal error."),
        fcm_error(429, "QUOTA_EXCEEDED", "Sending limit exceeded."),
    ],
    ids=["503", "500", "429"],
)
async def test_fcm_outage_is_unavailable(channels: Build, http: HttpServer, reply: Reply):
    http.route("POST", FCM_PATH, fcm_devices(**{"device-a": reply}))
    channel = channels(**fcm_settings(http))["push"]

    with pytest.raises(ProviderUnavailable, match=f"HTTP {reply.status}"):
        await channel.send(push("device-a"))


async def test_fcm_partial_outage_after_some_delivered_is_not_retried(
    channels: Build, http: HttpServer
):
    unavailable = fcm_error(503, "UNAVAILABLE", "The service is currently unavailable.")
    http.route("POST", FCM_PATH, fcm_devices(tablet=unavailable))
    channel = channels(**fcm_settings(http))["push"]

    delivery = await channel.send(push("phone", "tablet"))

    assert delivery.provider_message_id == "projects/demo-project/messages/phone"
    assert delivery.note is not None
    assert delivery.note.startswith("1 of 2 push tokens unreachable")


async def test_fcm_timeout_is_unavailable(channels: Build, http: HttpServer):
    http.route("POST", FCM_PATH, Reply(200, {"name": "late"}, delay=1.0))
    channel = channels(**fcm_settings(http, http_timeout_seconds=0.2))["push"]

    with pytest.raises(ProviderUnavailable, match="timed out"):
        await channel.send(push("device-a"))


# --- FCM with a service account ---------------------------------------------------------------


class TokenEndpoint:
    """Google's OAuth token endpoint: checks the service account's JWT with its public key."""

    def __init__(self, public_key: rsa.RSAPublicKey, audience: str, lifetime: int = 3600):
        self.public_key = public_key
        self.audience = audience
        self.lifetime = lifetime
        self.claims: list[dict[str, Any]] = []
        self.minted: list[str] = []

    def __call__(self, request: Request) -> Reply:
        form = request.form()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return Reply(400, {"error": "unsupported_grant_type"})
        header_b64, claims_b64, signature_b64 = form["assertion"].split(".")
        header, claims = _unb64_json(header_b64), _unb64_json(claims_b64)
        try:
            self.public_key.verify(
                _unb64(signature_b64),
                f"{header_b64}.{claims_b64}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except Exception:
            return Reply(
                400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
            )
        if header.get("alg") != "RS256" or claims.get("aud") != self.audience:
            return Reply(400, {"error": "invalid_grant", "error_description": "Bad header or aud."})
        self.claims.append(claims)
        self.minted.append(f"ya29.minted-{len(self.minted) + 1}")
        return Reply(
            200,
            {"access_token": self.minted[-1], "expires_in": self.lifetime, "token_type": "Bearer"},
        )


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _unb64_json(text: str) -> dict[str, Any]:
    decoded = json.loads(_unb64(text))
    assert isinstance(decoded, dict)
    return decoded


@pytest.fixture
def service_account(
    channels: Build, http: HttpServer, tmp_path: Path
) -> Callable[..., tuple[Channel, TokenEndpoint]]:
    """An FCM channel authenticated by a fresh service-account key file pointing at loopback."""

    def setup(lifetime: int = 3600) -> tuple[Channel, TokenEndpoint]:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        token_uri = f"{http.url}/token"
        endpoint = TokenEndpoint(key.public_key(), token_uri, lifetime)
        http.route("POST", "/token", endpoint)
        account = {
            "type": "service_account",
            "project_id": "demo-project",
            "private_key_id": "key-1",
            "private_key": key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode(),
            "client_email": "journeys@demo-project.iam.gserviceaccount.com",
            "token_uri": token_uri,
        }
        path = tmp_path / "service-account.json"
        path.write_text(json.dumps(account))
        channel = channels(
            **fcm_settings(
                http,
                fcm_project_id=None,  # taken from the key file
                fcm_access_token=None,
                fcm_service_account_file=str(path),
            )
        )["push"]
        return channel, endpoint

    return setup


async def test_fcm_service_account_token_is_minted_once_and_reused(
    http: HttpServer, service_account: Callable[..., tuple[Channel, TokenEndpoint]]
):
    http.route("POST", FCM_PATH, fcm_devices())
    channel, endpoint = service_account()

    await channel.send(push("phone", "tablet", key="one"))
    await channel.send(push("phone", key="two"))

    assert len(http.received("/token")) == 1
    (claims,) = endpoint.claims
    assert claims["iss"] == "journeys@demo-project.iam.gserviceaccount.com"
    assert claims["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
    assert claims["aud"] == f"{http.url}/token"
    assert claims["exp"] - claims["iat"] == 3600
    assert abs(claims["iat"] - time.time()) < 60
    sends = http.received(FCM_PATH)
    assert len(sends) == 3
    assert {r.headers["authorization"] for r in sends} == {"Bearer ya29.minted-1"}


async def test_fcm_short_lived_token_is_renewed(
    http: HttpServer, service_account: Callable[..., tuple[Channel, TokenEndpoint]]
):
    http.route("POST", FCM_PATH, fcm_devices())
    channel, endpoint = service_account(lifetime=60)  # inside the renewal margin

    await channel.send(push("phone", key="one"))
    await channel.send(push("phone", key="two"))

    assert endpoint.minted == ["ya29.minted-1", "ya29.minted-2"]
    assert [r.headers["authorization"] for r in http.received(FCM_PATH)] == [
        "Bearer ya29.minted-1",
        "Bearer ya29.minted-2",
    ]


async def test_fcm_401_drops_the_cached_token(
    http: HttpServer, service_account: Callable[..., tuple[Channel, TokenEndpoint]]
):
    channel, endpoint = service_account()

    def revoke_first(request: Request) -> Reply:
        if request.headers["authorization"] == "Bearer ya29.minted-1":
            return Reply(401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}})
        return Reply(200, {"name": "projects/demo-project/messages/1"})

    http.route("POST", FCM_PATH, revoke_first)

    with pytest.raises(ProviderUnavailable, match="HTTP 401"):
        await channel.send(push("phone"))
    delivery = await channel.send(push("phone"))

    assert delivery.provider_message_id == "projects/demo-project/messages/1"
    assert endpoint.minted == ["ya29.minted-1", "ya29.minted-2"]


async def test_fcm_token_endpoint_refusal_is_unavailable(
    http: HttpServer, service_account: Callable[..., tuple[Channel, TokenEndpoint]]
):
    channel, _ = service_account()
    http.route(
        "POST",
        "/token",
        Reply(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
    )

    with pytest.raises(ProviderUnavailable, match="Invalid JWT Signature"):
        await channel.send(push("phone"))
    assert http.received(FCM_PATH) == []


# --- webhook ----------------------------------------------------------------------------------


async def test_webhook_body_is_signed_over_the_raw_bytes(channels: Build, http: HttpServer):
    http.route("POST", "/hooks/push", Reply(202, {"id": "gw-77"}))
    channel = channels(
        push_provider="webhook",
        push_webhook_url=f"{http.url}/hooks/push",
        webhook_secret="hook-secret",
    )["push"]

    delivery = await channel.send(push("phone", "tablet"))

    (request,) = http.requests
    expected = hmac.new(b"hook-secret", request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-journeys-signature"] == f"sha256={expected}"
    assert request.headers["idempotency-key"] == "exec-1/nudge/1"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "channel": "push",
        "recipients": ["phone", "tablet"],
        "subject": None,
        "title": "Don't lose 120 points",
        "body": "Your points expire tomorrow.",
        "data": {"deeplink": "app://points", "campaign": "7"},
        "idempotencyKey": "exec-1/nudge/1",
    }
    assert delivery == Accepted("webhook", "gw-77")


async def test_webhook_without_secret_or_id(channels: Build, http: HttpServer):
    http.route("POST", "/hooks/sms", Reply(204))
    channel = channels(sms_provider="webhook", sms_webhook_url=f"{http.url}/hooks/sms")["sms"]

    delivery = await channel.send(sms())

    (request,) = http.requests
    assert "x-journeys-signature" not in request.headers
    assert request.json()["recipients"] == ["+4915112345678"]
    assert request.json()["body"] == "Hi Zoë, 20 % off today only."
    assert delivery == Accepted("webhook", None)


@pytest.mark.parametrize(
    ("status", "error"),
    [(422, Rejected), (404, Rejected), (502, ProviderUnavailable), (429, ProviderUnavailable)],
)
async def test_webhook_status_decides_rejected_or_unavailable(
    channels: Build, http: HttpServer, status: int, error: type[Exception]
):
    http.route("POST", "/hooks/sms", Reply(status, {"message": "gateway says no"}))
    channel = channels(sms_provider="webhook", sms_webhook_url=f"{http.url}/hooks/sms")["sms"]

    with pytest.raises(error, match=f"HTTP {status}: gateway says no"):
        await channel.send(sms())


# --- outbox and configuration -----------------------------------------------------------------


async def test_outbox_is_the_default_for_every_channel(channels: Build):
    built = channels()

    assert {name: channel.provider for name, channel in built.items()} == {
        "email": "outbox",
        "sms": "outbox",
        "push": "outbox",
    }
    first = await built["email"].send(email(key="k-1"))
    again = await built["email"].send(email(key="k-1"))
    other = await built["sms"].send(sms(key="k-2"))
    assert first == again
    assert first.provider == "outbox"
    assert first.provider_message_id is not None
    assert first.provider_message_id.startswith("outbox-")
    assert other.provider_message_id != first.provider_message_id


async def test_settings_come_from_journeys_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
):
    environment = {
        "JOURNEYS_EMAIL_PROVIDER": "smtp",
        "JOURNEYS_SMTP_HOST": "smtp.example.com",
        "JOURNEYS_SMTP_SECURITY": "tls",
        "JOURNEYS_SMTP_USERNAME": "mailer",
        "JOURNEYS_SMTP_PASSWORD": "pw",
        "JOURNEYS_EMAIL_FROM": SENDER,
        "JOURNEYS_SMS_PROVIDER": "twilio",
        "JOURNEYS_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "JOURNEYS_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "JOURNEYS_TWILIO_MESSAGING_SERVICE_SID": "MG1",
        "JOURNEYS_PUSH_PROVIDER": "webhook",
        "JOURNEYS_PUSH_WEBHOOK_URL": "https://push.example.com/send",
        "JOURNEYS_WEBHOOK_SECRET": "s",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    settings = Settings()
    built = build_channels(settings)
    await close_channels(built)

    assert {name: channel.provider for name, channel in built.items()} == {
        "email": "smtp",
        "sms": "twilio",
        "push": "webhook",
    }
    assert built["email"].port == 465  # type: ignore[attr-defined]
    assert "pw" not in repr(settings)  # secrets stay out of logs


@pytest.mark.parametrize(
    ("fields", "names"),
    [
        ({"email_provider": "smtp"}, ["JOURNEYS_SMTP_HOST", "JOURNEYS_EMAIL_FROM"]),
        (
            {"email_provider": "smtp", "smtp_host": "h", "email_from": "x", "smtp_username": "u"},
            ["JOURNEYS_EMAIL_FROM='x' is not an email address", "JOURNEYS_SMTP_PASSWORD"],
        ),
        (
            {"sms_provider": "twilio", "twilio_account_sid": "AC1"},
            ["JOURNEYS_TWILIO_AUTH_TOKEN", "JOURNEYS_TWILIO_FROM", "JOURNEYS_TWILIO_MESSAGING"],
        ),
        ({"sms_provider": "webhook"}, ["JOURNEYS_SMS_WEBHOOK_URL"]),
        (
            {"push_provider": "webhook", "push_webhook_url": "ftp://x"},
            ["JOURNEYS_PUSH_WEBHOOK_URL"],
        ),
        (
            {"push_provider": "fcm"},
            ["JOURNEYS_FCM_SERVICE_ACCOUNT_FILE", "JOURNEYS_FCM_ACCESS_TOKEN"],
        ),
        ({"push_provider": "fcm", "fcm_access_token": "t"}, ["JOURNEYS_FCM_PROJECT_ID"]),
        (
            {"push_provider": "fcm", "fcm_service_account_file": "/nonexistent/sa.json"},
            ["JOURNEYS_FCM_SERVICE_ACCOUNT_FILE: cannot read /nonexistent/sa.json"],
        ),
        (
            {"email_provider": "smtp", "sms_provider": "webhook", "push_provider": "fcm"},
            ["JOURNEYS_SMTP_HOST", "JOURNEYS_SMS_WEBHOOK_URL", "JOURNEYS_FCM_ACCESS_TOKEN"],
        ),
    ],
    ids=[
        "smtp-missing",
        "smtp-bad-from-and-half-login",
        "twilio-missing",
        "sms-webhook-missing",
        "push-webhook-not-http",
        "fcm-no-credentials",
        "fcm-no-project",
        "fcm-unreadable-key-file",
        "all-at-once",
    ],
)
def test_missing_settings_fail_at_build_naming_the_variables(
    fields: dict[str, Any], names: list[str]
):
    with pytest.raises(ChannelConfigError) as failure:
        build_channels(Settings(**fields))

    for name in names:
        assert name in str(failure.value)


def test_service_account_file_that_is_not_a_key_is_reported(tmp_path: Path):
    path = tmp_path / "sa.json"
    path.write_text(json.dumps({"type": "service_account", "client_email": "a@b"}))

    with pytest.raises(ChannelConfigError, match="no private_key, token_uri"):
        build_channels(Settings(push_provider="fcm", fcm_service_account_file=str(path)))
