"""Who is using the console: a place's manager API key, exchanged once at sign-in for a signed
session cookie. The cookie holds no key, only the key's digest (checked again on each request:
a revoked key signs its sessions out within the key cache's half minute), the place, when it
expires and a nonce its CSRF tokens derive from.

A token is `<base64url JSON>.<base64url HMAC-SHA256>` under the console secret
(`JOURNEYS_CONSOLE_SECRET`); comparing signatures takes constant time.
"""

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from journeys.errors import Unauthorized
from services.auth import KeyCache, Manager
from store import places
from store.db import SessionFactory, read_only

SESSION_COOKIE = "journeys_console"
# Before sign-in: the double-submit token of the sign-in form (no session exists yet).
SIGN_IN_COOKIE = "journeys_console_sign_in"


@dataclass(frozen=True)
class Operator:
    """A signed-in console user: the place their key is for."""

    place_id: int
    user_id: int
    key_digest: str
    expires: int
    nonce: str


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())


def issue(secret: str, manager: Manager, key_digest: str, hours: int) -> str:
    """A session token for the manager, valid for `hours`."""
    body = {
        "p": manager.place_id,
        "u": manager.user_id,
        "k": key_digest,
        "e": int(time.time()) + hours * 3600,
        "n": secrets.token_urlsafe(16),
    }
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"{payload}.{_sign(secret, payload)}"


def read(secret: str, token: str | None) -> Operator | None:
    """The operator a token names, if it is ours, intact and unexpired."""
    if not token or token.count(".") != 1:
        return None
    payload, signature = token.split(".")
    if not _same(signature, _sign(secret, payload)):
        return None
    try:
        body = json.loads(_unb64(payload))
        operator = Operator(
            place_id=int(body["p"]),
            user_id=int(body["u"]),
            key_digest=str(body["k"]),
            expires=int(body["e"]),
            nonce=str(body["n"]),
        )
    except (ValueError, KeyError, TypeError):
        return None
    return operator if operator.expires > time.time() else None


def csrf_token(secret: str, nonce: str) -> str:
    """The token every changing form of a session (or of the sign-in form) carries."""
    return _sign(secret, f"csrf:{nonce}")


def csrf_ok(secret: str, nonce: str, given: str | None) -> bool:
    return given is not None and _same(given, csrf_token(secret, nonce))


def _same(given: str, expected: str) -> bool:
    """Constant-time, and False (not an error) for text that is no token at all."""
    return hmac.compare_digest(given.encode(errors="replace"), expected.encode())


async def sign_in(sessions: SessionFactory, api_key: str) -> tuple[Manager, str]:
    """The manager of a key, and its digest; `Unauthorized` if it is no manager key."""
    async with sessions() as session:
        await read_only(session)
        key = await places.find_key(session, api_key.strip())
    if key is None:
        raise Unauthorized("That is not a manager API key.")
    return Manager(place_id=key.place_id, user_id=key.user_id), places.hash_key(api_key.strip())


async def still_valid(sessions: SessionFactory, cache: KeyCache, operator: Operator) -> bool:
    """Whether the session's key still exists (remembered for the key cache's while)."""
    known = cache.get(operator.key_digest)
    if known is not None:
        return known.place_id == operator.place_id
    async with sessions() as session:
        await read_only(session)
        key = await places.key_by_digest(session, operator.key_digest)
    if key is None:
        return False
    cache.put(operator.key_digest, Manager(place_id=key.place_id, user_id=key.user_id))
    return key.place_id == operator.place_id
