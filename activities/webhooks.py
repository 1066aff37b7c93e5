"""The `webhook` step's call: one HTTP request per attempt to a checked address, carrying
the step's idempotency key, so a receiver that honours `Idempotency-Key` acts once however
often a lost answer makes us ask again.

An answer retrying can change (no connection, a timeout, 408, 429, 5xx) is retried like a
send, with backoff, for the step's retry budget; then, or on any other answer (3xx are not
followed, 4xx), the step leaves by FAILED, saying why. A call is never made to an address
the outbound policy refuses (`journeys.outbound`): the host is resolved, every address
checked, and the connection made to the checked one.
"""

import asyncio
from urllib.parse import urlunsplit

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.delivery import budget_spent
from activities.scopes import step_scope
from journeys import outbound, rendering
from journeys.settings import Settings
from store.db import SessionFactory, read_only
from store.tables import Customer, Place
from workflows.contracts import WebhookInput, WebhookResult
from workflows.visibility import CALL_WEBHOOK

USER_AGENT = "journeys-webhook/1"
# Of the answer, what the step's detail keeps.
KEPT_BYTES = 1024
RETRYABLE = frozenset({408, 429})


class Webhooks:
    def __init__(self, sessions: SessionFactory, settings: Settings) -> None:
        self.sessions = sessions
        self.policy = outbound.Outbound.of(settings)
        self.timeout = settings.http_timeout_seconds

    @activity.defn(name=CALL_WEBHOOK)
    async def call_webhook(self, request: WebhookInput) -> WebhookResult:
        try:
            body = await self._body(request)
        except rendering.TemplateError as error:
            return WebhookResult(delivered=False, detail=f"not called: body {error}")
        try:
            parts = outbound.parsed(request.url, self.policy)
            assert parts.hostname is not None
            port = outbound.port_of(parts)
            addresses = await outbound.resolve(parts.hostname, port, self.policy)
        except ValueError as error:
            return WebhookResult(delivered=False, detail=f"not called: {request.url} {error}")
        except OSError as error:
            return self._again(f"{parts.hostname} does not resolve: {error}")
        address = addresses[0]
        host = f"[{address}]" if address.version == 6 else str(address)
        pinned = urlunsplit(parts._replace(netloc=f"{host}:{port}"))
        try:
            name = parts.hostname.encode("idna").decode()
        except UnicodeError as error:
            return WebhookResult(delivered=False, detail=f"not called: the host {error}")
        headers = {
            **request.headers,
            "Host": f"[{name}]" if ":" in name else name,
            "Idempotency-Key": request.idempotency_key,
            "User-Agent": USER_AGENT,
            # The detail keeps the answer's first KB as sent: no compressed bomb to unpack.
            "Accept-Encoding": "identity",
        }
        if parts.port:
            headers["Host"] += f":{parts.port}"
        if body is not None and not any(h.lower() == "content-type" for h in headers):
            headers["Content-Type"] = "application/json"
        try:
            # One bound for the whole call (httpx's timeouts are per read): an answer that
            # trickles can't keep the attempt alive past its activity's timeout.
            async with (
                asyncio.timeout(self.timeout),
                # No proxy from the environment: it would connect by name, not to the
                # address checked, and verify the certificate against that address.
                httpx.AsyncClient(
                    timeout=self.timeout, follow_redirects=False, trust_env=False
                ) as client,
                client.stream(
                    request.method,
                    pinned,
                    headers=headers,
                    content=body.encode() if body is not None else None,
                    # TLS checks the certificate against the host, not the address.
                    extensions={"sni_hostname": name},
                ) as answer,
            ):
                kept = await _start_of(answer)
        except (httpx.HTTPError, TimeoutError) as error:
            return self._again(f"{type(error).__name__}: {error}")
        except (ValueError, httpx.InvalidURL) as error:
            # What no retry changes (a header or URL httpx can't send): FAILED now.
            return WebhookResult(delivered=False, detail=f"not called: {error}")
        said = f"HTTP {answer.status_code}: {kept}" if kept else f"HTTP {answer.status_code}"
        if answer.is_success:
            return WebhookResult(delivered=True, detail=said)
        if answer.status_code >= 500 or answer.status_code in RETRYABLE:
            return self._again(said)
        return WebhookResult(delivered=False, detail=said)

    async def _body(self, request: WebhookInput) -> str | None:
        if request.body is None:
            return None
        async with self.sessions() as session:
            await read_only(session)
            customer = await session.get(Customer, (request.place_id, request.customer_id))
            place = await session.get(Place, request.place_id)
        if customer is None:
            customer = Customer(place_id=request.place_id, id=request.customer_id, attributes={})
        scope = step_scope(request.place_id, place, customer, request.event, request.journey)
        return rendering.render(request.body, scope)

    def _again(self, reason: str) -> WebhookResult:
        """Retried (with backoff) while the step's budget lasts; then FAILED."""
        if budget_spent():
            return WebhookResult(delivered=False, detail=f"gave up, still failing: {reason}")
        raise ApplicationError(f"webhook: {reason}", type="WebhookUnavailable")


async def _start_of(answer: httpx.Response) -> str:
    """The answer's first KB, as text: no more of it is read (it may be endless)."""
    kept = b""
    async for chunk in answer.aiter_raw():
        kept += chunk
        if len(kept) >= KEPT_BYTES:
            break
    return kept[:KEPT_BYTES].decode(errors="replace").strip()
