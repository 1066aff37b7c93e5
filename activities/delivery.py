"""The send activity: render a template for a customer and deliver it, exactly once per key.

Per-customer problems (no address, template deleted, a template that fails to render, a
provider refusing the recipient) end as a `skipped` or `failed` message and the journey moves
on; a provider that is down raises, so Temporal retries the activity, until the step's retry
budget is nearly spent: then the message is `failed` with the provider's last answer.

Exactly once at the provider: an attempt claims the message (status `pending`, a lease)
in a short transaction, asks the provider with no transaction open, and records the answer
(shielded from cancellation, retried while the database is briefly away). The activity
heartbeats for its whole life, so a slow database never makes Temporal give up on an attempt
that is still alive. A retry that finds an unexpired lease knows an earlier attempt may
still be talking to the provider: through a provider that drops repeats of the idempotency
key (Twilio, webhooks) it sends anyway and says so in the log; through one that can't (SMTP,
FCM) it waits for the lease to run out, and sends again only once that attempt is surely
over — then the log says the recipient may get the message twice.

A test send (`send_test_message`: a template the API rendered, to an operator's address)
goes through the same claim, send and record, marked `test`.
"""

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import marketing
from activities.channels import Channel, Outgoing, ProviderUnavailable, Rejected
from activities.scopes import step_scope
from journeys import rendering, unsubscribe
from journeys.logs import SENT_LOGGER
from journeys.settings import Settings
from store import customers, messages
from store.db import SessionFactory
from store.messages import FINAL
from store.tables import Customer, Message, Template
from workflows.contracts import SendInput, SendResult, SendTestInput
from workflows.visibility import SEND_MESSAGE, SEND_TEST_MESSAGE

T = TypeVar("T")
# One line per message handed to a provider: `journeys dev` shows these in its terminal.
sent_log = logging.getLogger(SENT_LOGGER)


def sent_line(message: Outgoing, provider: str, message_id: int) -> str:
    """`email to ana@example.com via outbox: Welcome to Demo, Ana!` for the outbox, which
    reaches no one (`journeys dev` shows these); for a real provider no personal data, only
    `email message 12 via smtp`."""
    if provider != "outbox":
        return f"{message.channel} message {message_id} via {provider}"
    about = message.subject or message.title or message.body
    about = " ".join(about.split())
    if len(about) > 80:
        about = about[:79] + "…"
    return f"{message.channel} to {', '.join(message.recipients)} via {provider}: {about}"


HEARTBEAT_EVERY = 2.0
# Past this lease a claim is surely over: Temporal's start-to-close of a send
# (workflows.journey.SEND_TIMEOUT, 150 s) gives up on a live attempt only after it.
MAX_LEASE_SECONDS = 120


@dataclass(frozen=True)
class SendTiming:
    """How long a send may take, and so how long its claim is held.

    A claim lasts past the longest an attempt can take from claiming to recording: the send
    (`deadline`: the provider's whole answer — connect, TLS, login, hand-over), then
    recording the answer, tried again while the database is away (`window`) until
    `record_margin` before the lease ends, which is one try's bound (the write queue, the
    lock, a statement) and some slack."""

    deadline: float = 30.0
    window: float = 5.0
    record_margin: float = 25.0

    @property
    def lease(self) -> int:
        return math.ceil(self.deadline + self.window + self.record_margin)

    @classmethod
    def of(cls, settings: Settings) -> "SendTiming":
        timing = cls(
            deadline=settings.send_deadline_seconds,
            record_margin=settings.database_timeout_seconds
            + settings.database_statement_timeout_seconds
            + 10.0,
        )
        if timing.lease > MAX_LEASE_SECONDS:
            raise ValueError(
                f"a send's claim would last {timing.lease} s, over {MAX_LEASE_SECONDS} s: "
                "lower JOURNEYS_SEND_DEADLINE_SECONDS or the database timeouts"
            )
        return timing


# Give up on an unavailable provider when less than this is left of the step's budget:
# the next retry (backoff up to 5 minutes) and its send would not fit.
LAST_CHANCE = timedelta(minutes=6)


@dataclass(frozen=True)
class _Claim:
    """A message this attempt may hand to the provider."""

    message_id: int
    outgoing: Outgoing
    note: str | None  # what the log should say about an earlier attempt
    lease_until: int


class Delivery:
    """Activities that deliver messages; holds the store and the configured channels."""

    def __init__(
        self,
        sessions: SessionFactory,
        channels: Mapping[str, Channel],
        gate: AbstractAsyncContextManager[Any] | None = None,
        timing: SendTiming | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.sessions = sessions
        self.channels = channels
        # The unsubscribe links' base URL and secret.
        self.settings = settings or Settings()
        self.timing = timing or SendTiming()
        # Every send writes twice (claim, answer): see `store.db.write_gate`.
        self.gate = gate or contextlib.nullcontext()

    @activity.defn(name=SEND_MESSAGE)
    async def send_message(self, request: SendInput) -> SendResult:
        async with _heartbeating():
            claim = await self._claim(request)
            if isinstance(claim, SendResult):
                return claim
            return await self._deliver(claim)

    @activity.defn(name=SEND_TEST_MESSAGE)
    async def send_test_message(self, request: SendTestInput) -> SendResult:
        """A template the API rendered, to an operator's own address: claimed, sent and
        recorded as any message is (so a repeat never sends twice), marked `test`. No
        consent, quiet hours or cap applies, and no unsubscribe header goes with it: a click
        in a test must not unsubscribe the customer it was rendered for."""
        async with _heartbeating():
            key = request.idempotency_key
            async with self.gate, self.sessions() as session:
                done = await self._earlier(session, key, request.channel)
                if isinstance(done, SendResult):
                    return done
                message, note = done
                # The rest of the input is the row's: place, template, content, customer.
                fields = {**request.model_dump(exclude={"to", "idempotency_key"}), "test": True}
                claim = await self._pending(session, key, message, fields, (request.to,), {}, note)
            return await self._deliver(claim)

    async def _deliver(self, claim: _Claim) -> SendResult:
        """Hand a claimed message to its provider and record the answer."""
        channel = self.channels[claim.outgoing.channel]
        try:
            async with asyncio.timeout(self.timing.deadline):
                delivered = await channel.send(claim.outgoing)
        except Rejected as rejected:
            return await self._finish(claim, "failed", rejected.reason, channel.provider)
        except (ProviderUnavailable, TimeoutError) as down:
            reason = (
                down.reason
                if isinstance(down, ProviderUnavailable)
                else f"no answer within {self.timing.deadline:g} s"
            )
            uncertain = not isinstance(down, ProviderUnavailable) or down.uncertain
            if budget_spent():
                return await self._finish(
                    claim, "failed", f"gave up, still unavailable: {reason}", channel.provider
                )
            # A message that may have been handed over keeps its claim: a provider that
            # can't drop repeats is asked again only once this attempt is surely over.
            keep = uncertain and not channel.idempotent
            await self._finish(claim, "pending", reason, channel.provider, keep_lease=keep)
            raise ApplicationError(
                f"{channel.provider} is unavailable: {reason}", type="ProviderUnavailable"
            ) from down
        note = "; ".join(n for n in (claim.note, delivered.note) if n) or None
        result = await self._finish(
            claim, "sent", note, delivered.provider, delivered.provider_message_id
        )
        sent_log.info("%s", sent_line(claim.outgoing, delivered.provider, claim.message_id))
        return result

    async def _earlier(
        self, session: AsyncSession, key: str, channel: str
    ) -> SendResult | tuple[Message | None, str | None]:
        """The message's final result if an earlier attempt got one; else its row (locked
        until the claim commits, so two attempts take turns) and what the log should say
        about an earlier attempt."""
        done = await messages.by_key(session, key, lock=True)
        if done is not None and done.status in FINAL:
            return _result(done)
        return done, _earlier_attempt(done, self.channels[channel])

    async def _pending(
        self,
        session: AsyncSession,
        key: str,
        done: Message | None,
        fields: dict[str, Any],
        recipients: tuple[str, ...],
        headers: dict[str, str],
        note: str | None,
    ) -> _Claim:
        """Claim the message for this attempt: its row (`fields`, the rendered content among
        them) `pending` under a lease, committed."""
        lease_until = int(time.time()) + self.timing.lease
        message_id = await messages.record(
            session,
            key,
            done,
            {
                **fields,
                "recipient": ", ".join(recipients),
                "status": "pending",
                "attempts": (done.attempts if done is not None else 0) + 1,
                "lease_until": lease_until,
            },
        )
        message_id = _claimed(message_id, key)
        await session.commit()
        outgoing = Outgoing(
            channel=fields["channel"],
            recipients=recipients,
            body=fields["body"],
            idempotency_key=key,
            subject=fields.get("subject"),
            title=fields.get("title"),
            headers=headers,
        )
        return _Claim(message_id=message_id, outgoing=outgoing, note=note, lease_until=lease_until)

    async def _claim(self, request: SendInput) -> SendResult | _Claim:
        """The message's final result if it has one; else this attempt's claim on it (a
        `pending` row with a lease), or a skipped/failed result for a per-customer problem."""
        key = request.idempotency_key
        async with self.gate, self.sessions() as session:
            earlier = await self._earlier(session, key, request.channel)
            if isinstance(earlier, SendResult):
                return earlier
            done, note = earlier
            base: dict[str, Any] = {
                "place_id": request.place_id,
                "customer_id": request.customer_id,
                "journey_id": request.journey.id if request.journey else None,
                "execution_id": request.execution_id,
                "state": request.state,
                "channel": request.channel,
                "template_id": request.template_id,
                "lease_until": None,
            }
            customer, template, place = await messages.sources(
                session, request.place_id, request.customer_id, request.template_id
            )
            problem = _problem(request, customer, template)
            headers: dict[str, str] = {}
            if problem is None:
                assert customer is not None and template is not None
                if done is None:
                    verdict = await marketing.admit(session, request, customer, template)
                    if verdict.hold_until is not None:
                        # Nothing recorded: the workflow waits out the quiet hours, then
                        # sends with the same key.
                        return SendResult(
                            message_id=None, status="held", held_until=verdict.hold_until
                        )
                    problem = verdict.problem
            if problem is None:
                assert customer is not None and template is not None
                link, headers, unlinked = self._unsubscribe(request, template)
                note = "; ".join(n for n in (note, unlinked) if n) or None
                try:
                    scope = step_scope(
                        request.place_id, place, customer, request.event, request.journey, link
                    )
                    content = _render(template, scope)
                except rendering.TemplateError as error:
                    problem = "failed", f"template {error}"
            if template is not None:
                base["category"] = template.category
            if problem is not None:
                status, reason = problem
                message_id = await messages.record(
                    session, key, done, {**base, "status": status, "reason": reason}
                )
                message_id = _claimed(message_id, key)
                await session.commit()
                return _counted(
                    request.channel, SendResult(message_id=message_id, status=status, reason=reason)
                )
            assert customer is not None
            recipients, _ = customers.recipients(request.channel, customer)
            fields = {**base, **content}
            return await self._pending(session, key, done, fields, recipients, headers, note)

    def _unsubscribe(
        self, request: SendInput, template: Template
    ) -> tuple[str, dict[str, str], str | None]:
        """The customer's unsubscribe link for this channel, the RFC 8058 one-click headers a
        marketing email carries, and a note for the log when no link can be made."""
        problem = unsubscribe.configured(self.settings)
        if problem is not None:
            note = f"sent without an unsubscribe link ({problem})"
            marketing_email = template.category == "marketing" and request.channel == "email"
            return "", {}, note if marketing_email else None
        link = unsubscribe.url(
            self.settings, request.place_id, request.customer_id, request.channel
        )
        if template.category != "marketing" or request.channel != "email":
            return link, {}, None
        one_click = {
            "List-Unsubscribe": f"<{link}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
        return link, one_click, None

    async def _finish(
        self,
        claim: _Claim,
        status: str,
        reason: str | None,
        provider: str,
        provider_message_id: str | None = None,
        *,
        keep_lease: bool = False,
    ) -> SendResult:
        """Record what the provider said and release the claim (unless `keep_lease`).
        Cancelling the activity (its worker stopping, Temporal giving up on it) does not
        interrupt this: an answer the provider gave must reach the log, or the next attempt
        would send again. It is tried until shortly before the claim's lease runs out."""

        changes: dict[str, Any] = {
            "status": status,
            "reason": reason,
            "provider": provider,
            "provider_message_id": provider_message_id,
        }
        if not keep_lease:
            changes["lease_until"] = None

        async def record() -> None:
            async with self.gate, self.sessions() as session:
                await messages.answer(session, claim.message_id, changes)
                await session.commit()

        window = claim.lease_until - self.timing.record_margin - time.time()
        await _shielded(_retrying_database(record, window))
        result = SendResult(message_id=claim.message_id, status=status, reason=reason)
        return _counted(claim.outgoing.channel, result) if status in FINAL else result


def _earlier_attempt(message: Message | None, channel: Channel) -> str | None:
    """What an unfinished earlier attempt means for this one: a note for the log, or
    `SendInFlight` (retried) while it may still be talking to a provider that can't tell
    a repeat."""
    if message is None or message.lease_until is None:
        return None  # the first attempt, or one that ended with the provider unavailable
    if channel.idempotent:
        return (
            f"attempt {message.attempts} may have reached {channel.provider}; sent again "
            "with the same idempotency key, which the provider deduplicates"
        )
    left = message.lease_until - time.time()
    if left > 0:
        raise ApplicationError(
            f"attempt {message.attempts} may still be sending through {channel.provider}; "
            f"trying again in {left:.0f} s, once it is surely over",
            type="SendInFlight",
            next_retry_delay=timedelta(seconds=left + 1),
        )
    return (
        f"attempt {message.attempts} may have reached {channel.provider} (it timed out, was cut "
        "off, or its worker was lost before recording the answer); sent again, so the "
        "recipient may get it twice"
    )


def budget_spent() -> bool:
    """Whether another retry would outlive the step's retry budget (schedule-to-close)."""
    info = activity.info()
    budget = info.schedule_to_close_timeout
    if not budget:
        return False
    left = info.scheduled_time + budget - datetime.now(UTC)
    return left < LAST_CHANCE


@contextlib.asynccontextmanager
async def _heartbeating() -> AsyncIterator[None]:
    """Tell Temporal every few seconds that this attempt is alive, whatever it is waiting on
    (the database included): only a dead worker's attempt is timed out and retried."""

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(HEARTBEAT_EVERY)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _shielded(work: Awaitable[T]) -> T:
    """Await `work` to its end even if the caller is cancelled meanwhile (then re-raise)."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await task
        raise


async def _retrying_database(work: Callable[[], Awaitable[T]], window: float) -> T:
    """`work()`, tried again every second while the database is unreachable or busy."""
    deadline = time.monotonic() + window
    while True:
        try:
            return await work()
        except (DBAPIError, OSError, TimeoutError):
            if time.monotonic() >= deadline:
                raise
            activity.logger.warning("database unavailable while recording a send; retrying")
            await asyncio.sleep(1.0)


def _problem(
    request: SendInput, customer: Customer | None, template: Template | None
) -> tuple[str, str] | None:
    if customer is None:
        return "skipped", f"customer {request.customer_id} does not exist"
    if template is None:
        return "skipped", f"template {request.template_id} no longer exists"
    if template.channel != request.channel:
        return "skipped", (
            f"template {request.template_id} is now an {template.channel} template, "
            f"not {request.channel}"
        )
    _, missing = customers.recipients(request.channel, customer)
    return ("skipped", missing) if missing else None


def _render(template: Template, scope: Mapping[str, Any]) -> dict[str, str]:
    return rendering.render_message(template.subject, template.title, template.body, scope)


def _claimed(message_id: int | None, key: str) -> int:
    """The id of the row this attempt wrote; if another attempt created it first (both found
    none), this one gives way: retried, it reads that row and judges it as any attempt does
    (final: its result; claimed under a lease: wait), so nothing is sent twice."""
    if message_id is None:
        raise ApplicationError(
            f"another attempt created message {key} meanwhile; this one will look again",
            type="ClaimedMeanwhile",
        )
    return message_id


def _counted(channel: str, result: SendResult) -> SendResult:
    """The result of a message that has just reached its final status, counted by channel
    and status on the worker's metrics (once: a retry finds it final and returns early)."""
    counter = activity.metric_meter().create_counter(
        "journeys_messages", "Messages by channel and final status (sent, skipped, failed)."
    )
    counter.add(1, {"channel": channel, "status": result.status})
    return result


def _result(message: Message) -> SendResult:
    assert message.id is not None
    return SendResult(message_id=message.id, status=message.status, reason=message.reason)
