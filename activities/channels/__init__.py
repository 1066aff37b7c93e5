"""Delivery channels: one provider per channel (email, sms, push), chosen by settings.

A channel hands one rendered message to a provider and says what became of it: an `Accepted`,
`Rejected` (permanent, the message is logged failed) or `ProviderUnavailable` (retry later).
"""

from collections.abc import Callable, Mapping
from email.utils import parseaddr

from pydantic import SecretStr

from activities.channels.base import (
    Accepted,
    Channel,
    ChannelConfigError,
    DeliveryError,
    Outgoing,
    ProviderUnavailable,
    Rejected,
)
from activities.channels.fcm import FcmChannel
from activities.channels.google_auth import (
    AccessTokens,
    ServiceAccountTokens,
    StaticToken,
    load_service_account,
)
from activities.channels.outbox import OutboxChannel
from activities.channels.smtp import SmtpChannel
from activities.channels.twilio import TwilioChannel
from activities.channels.web import new_client
from activities.channels.webhook import WebhookChannel
from journeys.settings import Settings
from workflows.model.machine import ChannelName

__all__ = [
    "Accepted",
    "Channel",
    "ChannelConfigError",
    "ChannelName",
    "DeliveryError",
    "Outgoing",
    "ProviderUnavailable",
    "Rejected",
    "build_channels",
    "close_channels",
    "env_name",
]

Factory = Callable[[], Channel]


def build_channels(settings: Settings) -> dict[str, Channel]:
    """The configured channel for "email", "sms" and "push"; close them with `close_channels`.

    Every misconfiguration is reported at once, naming the environment variables, before any
    client is opened.
    """
    factories: dict[str, Factory] = {}
    problems: list[str] = []
    for name, plan in (("email", _email), ("sms", _sms), ("push", _push)):
        try:
            factories[name] = plan(settings)
        except ChannelConfigError as error:
            problems.append(str(error))
    if problems:
        raise ChannelConfigError("; ".join(problems))
    return {name: make() for name, make in factories.items()}


async def close_channels(channels: Mapping[str, Channel]) -> None:
    for channel in channels.values():
        await channel.aclose()


def env_name(field: str) -> str:
    """The environment variable that sets a `Settings` field."""
    return f"{Settings.model_config.get('env_prefix', '')}{field}".upper()


class _Needs:
    """Collects what one provider lacks, so a single error names every variable to set."""

    def __init__(self, settings: Settings, selector: str) -> None:
        self.settings = settings
        self.selector = selector
        self.missing: list[str] = []
        self.problems: list[str] = []

    def value(self, field: str) -> str:
        found = _text(getattr(self.settings, field))
        if found is None:
            self.missing.append(env_name(field))
            return ""
        return found

    def optional(self, field: str) -> str | None:
        return _text(getattr(self.settings, field))

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def check(self) -> None:
        problems = [f"needs {', '.join(self.missing)}"] if self.missing else []
        problems += self.problems
        if problems:
            chosen = getattr(self.settings, self.selector)
            raise ChannelConfigError(f"{env_name(self.selector)}={chosen} " + "; ".join(problems))


def _text(value: str | SecretStr | None) -> str | None:
    """A setting's text; unset and blank (an empty environment variable) are the same."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None:
        return None
    return value.strip() or None


def _email(settings: Settings) -> Factory:
    if settings.email_provider == "outbox":
        return OutboxChannel
    needs = _Needs(settings, "email_provider")
    host = needs.value("smtp_host")
    sender = needs.value("email_from")
    if sender and "@" not in parseaddr(sender)[1]:
        needs.problem(f"{env_name('email_from')}={sender!r} is not an email address")
    username, password = needs.optional("smtp_username"), needs.optional("smtp_password")
    if bool(username) != bool(password):
        needs.problem(f"{env_name('smtp_username')} and {env_name('smtp_password')} go together")
    needs.check()
    return lambda: SmtpChannel(
        host=host,
        port=settings.smtp_port,
        security=settings.smtp_security,
        username=username,
        password=password,
        ca_file=needs.optional("smtp_ca_file"),
        sender=sender,
        timeout_seconds=settings.smtp_timeout_seconds,
    )


def _sms(settings: Settings) -> Factory:
    if settings.sms_provider == "outbox":
        return OutboxChannel
    needs = _Needs(settings, "sms_provider")
    if settings.sms_provider == "webhook":
        return _webhook(settings, needs, "sms_webhook_url")
    account_sid = needs.value("twilio_account_sid")
    auth_token = needs.value("twilio_auth_token")
    sender = needs.optional("twilio_from")
    service = needs.optional("twilio_messaging_service_sid")
    if not (sender or service):
        needs.problem(
            f"needs {env_name('twilio_from')} or {env_name('twilio_messaging_service_sid')}"
        )
    needs.check()
    return lambda: TwilioChannel(
        account_sid=account_sid,
        auth_token=auth_token,
        sender=sender,
        messaging_service_sid=service,
        base_url=settings.twilio_base_url,
        timeout_seconds=settings.http_timeout_seconds,
    )


def _push(settings: Settings) -> Factory:
    if settings.push_provider == "outbox":
        return OutboxChannel
    needs = _Needs(settings, "push_provider")
    if settings.push_provider == "webhook":
        return _webhook(settings, needs, "push_webhook_url")
    access_token = needs.optional("fcm_access_token")
    account_file = needs.optional("fcm_service_account_file")
    project_id = needs.optional("fcm_project_id")
    account = None
    if access_token and account_file:
        needs.problem(
            f"set {env_name('fcm_service_account_file')} or {env_name('fcm_access_token')}, "
            "not both"
        )
    elif account_file:
        try:
            account = load_service_account(account_file)
        except ValueError as error:
            needs.problem(f"{env_name('fcm_service_account_file')}: {error}")
        else:
            project_id = project_id or account.project_id
    elif not access_token:
        needs.problem(
            f"needs {env_name('fcm_service_account_file')} or {env_name('fcm_access_token')}"
        )
    if not project_id and not needs.problems:
        needs.value("fcm_project_id")
    needs.check()

    def make() -> Channel:
        client = new_client(settings.http_timeout_seconds)
        tokens: AccessTokens = (
            ServiceAccountTokens(account, client) if account else StaticToken(access_token or "")
        )
        return FcmChannel(
            project_id=project_id or "",
            tokens=tokens,
            client=client,
            base_url=settings.fcm_base_url,
        )

    return make


def _webhook(settings: Settings, needs: _Needs, url_field: str) -> Factory:
    url = needs.value(url_field)
    if url and not url.startswith(("http://", "https://")):
        needs.problem(f"{env_name(url_field)}={url!r} is not an http(s) URL")
    needs.check()
    return lambda: WebhookChannel(
        url=url,
        secret=needs.optional("webhook_secret"),
        timeout_seconds=settings.http_timeout_seconds,
    )
