"""Activities that read the audience: a customer's attribute, segment membership and their
next event (and the registry of executions waiting for them), their local time."""

from contextlib import AbstractAsyncContextManager
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from journeys import local_time
from orchestration.waking import received_event
from store import events, place_settings, segments, waiting
from store.clock import now
from store.db import SessionFactory, read_only
from store.tables import Customer
from store.waiting import SegmentCondition
from workflows.contracts import (
    AttributeInput,
    AttributeValue,
    EventWait,
    EventWaitInput,
    LocalTime,
    LocalTimeInput,
    SegmentCheckInput,
    SegmentCheckResult,
)
from workflows.model.operators import compare, lookup
from workflows.visibility import (
    AWAIT_EVENT,
    CUSTOMER_IN_SEGMENTS,
    FORGET_WAITING,
    JOURNEY_EXECUTION,
    NEXT_LOCAL_TIME,
    READ_CUSTOMER_ATTRIBUTE,
)


class Audience:
    def __init__(self, sessions: SessionFactory, gate: AbstractAsyncContextManager[Any]) -> None:
        self.sessions = sessions
        self.gate = gate  # SQLite's writers queue (`store.db.write_gate`)

    @activity.defn(name=NEXT_LOCAL_TIME)
    async def next_local_time(self, request: LocalTimeInput) -> LocalTime:
        """When a `wait_until` step ends: the customer's zone (else the place's), the place's,
        or the one the step names."""
        where = request.timezone
        if where in ("customer", "place"):
            async with self.sessions() as session:
                await read_only(session)
                customer = (
                    await session.get(Customer, (request.place_id, request.customer_id))
                    if where == "customer"
                    else None
                )
                settings = await place_settings.get(session, request.place_id)
            where = local_time.step_zone(
                where, customer.timezone if customer else None, settings.timezone
            )
        try:
            at = local_time.next_time(request.after, where, request.time, tuple(request.weekdays))
        except ValueError as error:
            # No retry can cure it: the step fails, saying why.
            raise ApplicationError(str(error), type="BadTimeZone", non_retryable=True) from None
        return LocalTime(at=at, zone=where)

    @activity.defn(name=READ_CUSTOMER_ATTRIBUTE)
    async def read_customer_attribute(self, request: AttributeInput) -> AttributeValue:
        """The attribute at a dotted path (a customer that doesn't exist has no attributes);
        with an operator, the condition's outcome instead of the value."""
        async with self.sessions() as session:
            await read_only(session)
            customer = await session.get(Customer, (request.place_id, request.customer_id))
        found, value = lookup(customer.attributes, request.attribute) if customer else (False, None)
        if request.operator is not None:
            try:
                outcome = compare(found, value, request.operator, request.value)
            except ValueError as error:  # a condition no retry can make valid
                raise ApplicationError(
                    str(error), type="InvalidCondition", non_retryable=True
                ) from None
            return AttributeValue(found=found, outcome=outcome)
        return AttributeValue(found=found, value=value if found else None)

    @activity.defn(name=CUSTOMER_IN_SEGMENTS)
    async def customer_in_segments(self, request: SegmentCheckInput) -> SegmentCheckResult:
        """In at least one `include` segment (if any are given) and in no `exclude` segment.

        A journey execution that doesn't match is registered as waiting, then checked once
        more: a change committed before the registration is seen by that check, one
        committed after it finds the registration and wakes the execution
        (`orchestration.waking`). One that matches leaves the registry. A segment deleted
        since the journey version was saved has no members: retrying could never bring it
        back."""
        info = activity.info()
        execution_id = info.workflow_id if info.workflow_type == JOURNEY_EXECUTION else None
        matched = await self._matches(request)
        if execution_id is not None and not matched:
            async with self.gate, self.sessions() as session:
                await waiting.register(
                    session,
                    execution_id=execution_id,
                    place_id=request.place_id,
                    journey_id=request.journey_id,
                    customer_id=request.customer_id,
                    state=request.state,
                    condition=SegmentCondition.of(request.include, request.exclude),
                )
                await session.commit()
            matched = await self._matches(request)
        if execution_id is not None and matched:
            await self._leave(execution_id)
        return SegmentCheckResult(matched=matched, registered=execution_id is not None)

    async def _matches(self, request: SegmentCheckInput) -> bool:
        async with self.sessions() as session:
            await read_only(session)
            clause = await segments.surviving_audience_clause(
                session, request.place_id, request.include, request.exclude
            )
            return clause is not None and await segments.customer_in(
                session, clause, request.customer_id
            )

    @activity.defn(name=AWAIT_EVENT)
    async def await_event(self, request: EventWaitInput) -> EventWait:
        """A `wait_for_event` starts: the execution is registered as waiting for the event,
        then the events are looked at once: one received before the registration committed
        is found here, one after it finds the registration and signals the execution
        (`orchestration.waking.events_received`). Events count from the millisecond the step
        was entered (or the registration, if the workflow's clock runs ahead: time-skipping
        tests), never its trigger or an event an earlier wait took."""
        execution_id = activity.info().workflow_id
        assert execution_id is not None  # only journey executions wait
        entered = int(request.entered.timestamp() * 1000)
        async with self.gate, self.sessions() as session:
            registered = await waiting.await_event(
                session,
                execution_id=execution_id,
                place_id=request.place_id,
                journey_id=request.journey_id,
                customer_id=request.customer_id,
                state=request.state,
                visit=request.visit,
                event=request.event,
                until=now() + request.seconds,
            )
            await session.commit()
        since = min(entered, registered)
        async with self.sessions() as session:
            await read_only(session)
            found = await events.first_since(
                session,
                request.place_id,
                request.customer_id,
                request.event,
                since,
                request.other_than,
            )
        return EventWait(since=since, received=received_event(found) if found else None)

    @activity.defn(name=FORGET_WAITING)
    async def forget_waiting(self, execution_id: str) -> None:
        """The execution stopped waiting some other way (it was cancelled, or failed)."""
        await self._leave(execution_id)

    async def _leave(self, execution_id: str) -> None:
        async with self.gate, self.sessions() as session:
            await waiting.forget(session, [execution_id])
            await session.commit()
