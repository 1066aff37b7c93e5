"""Unsubscribe links: a token that names a place, a customer and a channel, signed so that
it can be neither forged nor guessed for another customer (HMAC-SHA256 over the three)."""

import base64
import hashlib
import hmac
import re
from typing import NamedTuple

from journeys.settings import Settings

PATH = "/unsubscribe"
_TOKEN = re.compile(r"^v1\.([0-9]{1,19})\.([0-9]{1,19})\.(email|sms|push)\.([A-Za-z0-9_-]{43})$")


class Unsubscriber(NamedTuple):
    place_id: int
    customer_id: int
    channel: str


# Far above a real token's length (about 70): a longer one is refused before any parsing.
MAX_LENGTH = 200


class BadToken(ValueError):
    """A token that is malformed, or not signed by any of our secrets."""


def _mac(secret: str, place_id: int, customer_id: int, channel: str) -> str:
    text = f"v1.{place_id}.{customer_id}.{channel}".encode()
    digest = hmac.new(secret.encode(), text, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _secrets(settings: Settings) -> list[str]:
    given = (settings.unsubscribe_secret, settings.unsubscribe_previous_secret)
    # An empty secret signs nothing: anyone could forge with it.
    return [secret.get_secret_value() for secret in given if secret and secret.get_secret_value()]


def configured(settings: Settings) -> str | None:
    """Why unsubscribe links can't be made with these settings, or None if they can."""
    missing = [
        name
        for name, value in (
            ("JOURNEYS_PUBLIC_URL", settings.public_url),
            ("JOURNEYS_UNSUBSCRIBE_SECRET", settings.unsubscribe_secret),
        )
        if not value
    ]
    return f"no unsubscribe link can be made: set {' and '.join(missing)}" if missing else None


def token(settings: Settings, place_id: int, customer_id: int, channel: str) -> str:
    secret = settings.unsubscribe_secret
    assert secret is not None, "checked by `configured`"
    mac = _mac(secret.get_secret_value(), place_id, customer_id, channel)
    return f"v1.{place_id}.{customer_id}.{channel}.{mac}"


def url(settings: Settings, place_id: int, customer_id: int, channel: str) -> str:
    assert settings.public_url is not None, "checked by `configured`"
    base = settings.public_url.rstrip("/")
    return f"{base}{PATH}/{token(settings, place_id, customer_id, channel)}"


def verify(settings: Settings, given: str) -> Unsubscriber:
    """Who the token unsubscribes from what (`BadToken` unless one of our secrets signed it)."""
    match = _TOKEN.match(given) if len(given) <= MAX_LENGTH else None
    if match is None:
        raise BadToken("this unsubscribe link is malformed")
    place, customer, channel, mac = match.groups()
    who = Unsubscriber(int(place), int(customer), channel)
    for secret in _secrets(settings):
        if hmac.compare_digest(mac, _mac(secret, *who)):
            return who
    raise BadToken("this unsubscribe link is not valid")
