"""OAuth access tokens for Google APIs: a fixed token, or one minted from a service account."""

import asyncio
import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from activities.channels import web
from activities.channels.base import ProviderUnavailable

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME = 3600  # the longest Google accepts
# Renew this long before expiry, so a token never runs out between cache check and use.
REFRESH_MARGIN = 300.0


class AccessTokens(Protocol):
    async def get(self) -> str: ...

    def invalidate(self) -> None: ...


class StaticToken:
    """An access token given in the settings; it cannot be renewed."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def get(self) -> str:
        return self.token

    def invalidate(self) -> None:
        return None


@dataclass(frozen=True)
class ServiceAccount:
    client_email: str
    private_key: rsa.RSAPrivateKey
    private_key_id: str | None
    token_uri: str
    project_id: str | None


def load_service_account(path: str) -> ServiceAccount:
    """Read a Google service-account JSON key file; ValueError says what is wrong with it."""
    try:
        document = json.loads(Path(path).read_text())
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror or error}") from error
    except ValueError as error:
        raise ValueError(f"{path} is not JSON: {error}") from error
    if not isinstance(document, dict):
        raise ValueError(f"{path} is not a service-account key (not a JSON object)")
    missing = [k for k in ("client_email", "private_key", "token_uri") if not document.get(k)]
    if missing:
        raise ValueError(f"{path} is not a service-account key (no {', '.join(missing)})")
    try:
        key = serialization.load_pem_private_key(document["private_key"].encode(), None)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{path}: private_key is not a PEM key: {error}") from error
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path}: private_key is not an RSA key")
    return ServiceAccount(
        client_email=document["client_email"],
        private_key=key,
        private_key_id=document.get("private_key_id"),
        token_uri=document["token_uri"],
        project_id=document.get("project_id"),
    )


def signed_assertion(account: ServiceAccount, scope: str, now: float) -> str:
    """The RS256 JWT a service account trades for an access token (RFC 7523)."""
    header: dict[str, Any] = {"alg": "RS256", "typ": "JWT"}
    if account.private_key_id:
        header["kid"] = account.private_key_id
    issued = int(now)
    claims = {
        "iss": account.client_email,
        "scope": scope,
        "aud": account.token_uri,
        "iat": issued,
        "exp": issued + ASSERTION_LIFETIME,
    }
    signing_input = f"{_b64(header)}.{_b64(claims)}".encode()
    signature = account.private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input.decode()}.{_b64url(signature)}"


class ServiceAccountTokens:
    """Access tokens from a service account, cached until shortly before they expire."""

    def __init__(
        self,
        account: ServiceAccount,
        client: httpx.AsyncClient,
        scope: str = FCM_SCOPE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.account = account
        self.client = client
        self.scope = scope
        self.clock = clock
        self.token: str | None = None
        self.renew_at = 0.0
        # Concurrent sends (one per push token) share one exchange instead of racing.
        self.lock = asyncio.Lock()

    async def get(self) -> str:
        async with self.lock:
            if self.token is None or self.clock() >= self.renew_at:
                self.token, lifetime = await self._exchange()
                self.renew_at = self.clock() + max(0.0, lifetime - REFRESH_MARGIN)
            return self.token

    def invalidate(self) -> None:
        self.token = None

    async def _exchange(self) -> tuple[str, float]:
        what = f"Google token endpoint {self.account.token_uri}"
        assertion = signed_assertion(self.account, self.scope, self.clock())
        response = await web.post(
            self.client,
            what,
            self.account.token_uri,
            data={"grant_type": JWT_BEARER, "assertion": assertion},
        )
        if not response.is_success:
            # Whatever the status, no customer caused it: a bad key or clock waits for a fix.
            raise ProviderUnavailable(
                f"{what}: HTTP {response.status_code}: {web.error_text(response)}"
            )
        body = web.json_object(response)
        token, lifetime = body.get("access_token"), body.get("expires_in", 3600)
        if not isinstance(token, str) or not isinstance(lifetime, int | float):
            raise ProviderUnavailable(f"{what}: answer without access_token/expires_in")
        return token, float(lifetime)


def _b64(value: dict[str, Any]) -> str:
    return _b64url(json.dumps(value, separators=(",", ":")).encode())


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
