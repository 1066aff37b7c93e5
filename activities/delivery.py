"""The send activity: render a template for a customer and deliver it, exactly once per key.

Per-customer problems (no address, template deleted, a template that fails to render, a
provider refusing the recipient) end as a `skipped` or `failed` message and the journey moves
on; a provider that is down raises, so Temporal retries the activity.
"""

import asyncio
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

import rendering
from activities.channels import Channel, Outgoing, Rejected, Unavailable
from store import messages, templates
from store.db import SessionFactory
from store.messages import FINAL
from store.tables import Customer, Message, Place, Template
from workflows.contracts import SendInput, SendResult

T = TypeVar("T")
HEARTBEAT_EVERY = 2.0


def _recipients(channel: str, customer: Customer) -> tuple[tuple[str, ...], str | None]:
    """Who to send to, or why there is no one."""
    if channel == "email":
        return (
            ((customer.email,), None) if customer.email else ((), "customer has no email address")
        )
    if channel == "sms":
        return ((customer.phone,), None) if customer.phone else ((), "customer has no phone number")
    tokens = tuple(customer.push_tokens)
    return (tokens, None) if tokens else ((), "customer has no push token")


def _scope(place: Place | None, customer: Customer, request: SendInput) -> Mapping[str, Any]:
    event = request.event
    return {
        "customer": rendering.customer_scope(
            customer.id, customer.email, customer.phone, customer.attributes
        ),
        "event": {
            "name": event.name,
            "id": event.id,
            "data": event.data,
            "occurredAt": event.occurred_at,
        }
        if event
        else {},
        "journey": request.journey.model_dump() if request.journey else {},
        "place": {"id": request.place_id, "name": place.name if place else ""},
    }


class Delivery:
    """Activities that deliver messages; holds the store and the configured channels."""

    def __init__(self, sessions: SessionFactory, channels: Mapping[str, Channel]) -> None:
        self.sessions = sessions
        self.channels = channels

    @activity.defn(name="send_message")
    async def send_message(self, request: SendInput) -> SendResult:
        key = request.idempotency_key
        base: dict[str, Any] = {
            "place_id": request.place_id,
            "customer_id": request.customer_id,
            "journey_id": request.journey.id if request.journey else None,
            "execution_id": request.execution_id,
            "state": request.state,
            "channel": request.channel,
            "template_id": request.template_id,
        }
        async with self.sessions() as session:
            done = await messages.by_key(session, key)
            if done is not None and done.status in FINAL:
                return _result(done)
            customer = await session.get(Customer, (request.place_id, request.customer_id))
            template = await templates.find(session, request.place_id, request.template_id)
            place = await session.get(Place, request.place_id)
            problem = _problem(request, customer, template)
            if problem is not None:
                status, reason = problem
                message = await messages.record(
                    session, key, {**base, "status": status, "reason": reason}
                )
                await session.commit()
                return _counted(message)
            assert customer is not None and template is not None
            recipients, _ = _recipients(request.channel, customer)
            try:
                content = _render(template, _scope(place, customer, request))
            except rendering.TemplateError as error:
                message = await messages.record(
                    session, key, {**base, "status": "failed", "reason": f"template {error}"}
                )
                await session.commit()
                return _counted(message)
            attempts = done.attempts + 1 if done is not None else 1
            pending = await messages.record(
                session,
                key,
                {
                    **base,
                    **content,
                    "recipient": ", ".join(recipients),
                    "status": "pending",
                    "attempts": attempts,
                },
            )
            await session.commit()

        outgoing = Outgoing(
            channel=request.channel,
            recipients=recipients,
            body=content["body"],
            idempotency_key=key,
            subject=content.get("subject"),
            title=content.get("title"),
        )
        channel = self.channels[request.channel]
        try:
            delivered = await _heartbeating(channel.send(outgoing))
        except Rejected as rejected:
            return await self._finish(pending.id, "failed", rejected.reason, channel.provider)
        except Unavailable as down:
            await self._finish(pending.id, "pending", down.reason, channel.provider)
            raise ApplicationError(
                f"{channel.provider} is unavailable: {down.reason}", type="ProviderUnavailable"
            ) from down
        return await self._finish(
            pending.id,
            "sent",
            delivered.note,
            delivered.provider,
            delivered.provider_message_id,
        )

    async def _finish(
        self,
        message_id: int | None,
        status: str,
        reason: str | None,
        provider: str,
        provider_message_id: str | None = None,
    ) -> SendResult:
        async with self.sessions() as session:
            message = await session.get(Message, message_id)
            assert message is not None
            message.status = status
            message.reason = reason
            message.provider = provider
            message.provider_message_id = provider_message_id
            await session.commit()
            return _counted(message) if status in FINAL else _result(message)


async def _heartbeating(work: Awaitable[T]) -> T:
    """Await `work`, telling Temporal every few seconds that this worker is alive, so a send
    lost with a dead worker is retried after the heartbeat timeout, not the whole timeout."""
    task = asyncio.ensure_future(work)
    while True:
        done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_EVERY)
        if done:
            return task.result()
        activity.heartbeat()


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
    _, missing = _recipients(request.channel, customer)
    return ("skipped", missing) if missing else None


def _render(template: Template, scope: Mapping[str, Any]) -> dict[str, str]:
    content = {"body": rendering.render(template.body, scope)}
    if template.subject is not None:
        content["subject"] = rendering.render(template.subject, scope)
    if template.title is not None:
        content["title"] = rendering.render(template.title, scope)
    return content


def _counted(message: Message) -> SendResult:
    """The result of a message that has just reached its final status, counted by channel
    and status on the worker's metrics (once: a retry finds it final and returns early)."""
    counter = activity.metric_meter().create_counter(
        "journeys_messages", "Messages by channel and final status (sent, skipped, failed)."
    )
    counter.add(1, {"channel": message.channel, "status": message.status})
    return _result(message)


def _result(message: Message) -> SendResult:
    assert message.id is not None
    return SendResult(message_id=message.id, status=message.status, reason=message.reason)
