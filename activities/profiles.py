"""The `update_customer` activity: a journey changes its customer's profile, once per visit."""

from contextlib import AbstractAsyncContextManager
from typing import Any

from temporalio import activity
from temporalio.client import Client

from activities.scopes import step_scope
from journeys.errors import Invalid
from orchestration import waking
from services import customer_updates
from services.customer_updates import NotApplied
from store import customer_updates as recorded
from store import customers
from store.db import SessionFactory
from store.tables import Customer, Place
from workflows.contracts import UpdateInput, UpdateResult
from workflows.visibility import UPDATE_CUSTOMER


class Profiles:
    def __init__(
        self, client: Client, sessions: SessionFactory, gate: AbstractAsyncContextManager[Any]
    ) -> None:
        self.client = client  # to wake the customer's waiting executions
        self.sessions = sessions
        self.gate = gate  # SQLite's writers queue (`store.db.write_gate`)

    @activity.defn(name=UPDATE_CUSTOMER)
    async def update_customer(self, request: UpdateInput) -> UpdateResult:
        """Render the step's values for the customer and change their profile, recording the
        change under the step's idempotency key in the same transaction: a retry finds the
        record and changes nothing again. A value that fails to render or isn't valid, or a
        customer that no longer exists, changes nothing and says why (the journey goes on).
        The customer's waiting executions are woken as by any other change."""
        key = request.idempotency_key
        async with self.gate, self.sessions() as session:
            detail, changes = await self._change(session, request)
            row = {
                "place_id": request.place_id,
                "customer_id": request.customer_id,
                "journey_id": request.journey.id,
                "execution_id": request.execution_id,
                "state": request.state,
                "changes": changes or {},
                "detail": detail,
            }
            if not await recorded.claim(session, key, row):
                # An earlier attempt made the change: this one undoes its own.
                await session.rollback()
                done = await recorded.get(session, key)
                assert done is not None
                return UpdateResult(detail=done.detail)
            await session.commit()
        if changes:
            waking.notify_customers_changed(
                self.client, self.sessions, request.place_id, [request.customer_id]
            )
        return UpdateResult(detail=detail)

    async def _change(
        self, session: Any, request: UpdateInput
    ) -> tuple[str, dict[str, Any] | None]:
        """Make the change in the session (uncommitted); what the step's detail says, and
        the change as rendered if the customer changed."""
        customer = await session.get(
            Customer, (request.place_id, request.customer_id), with_for_update=True
        )
        if customer is None:
            return f"skipped: customer {request.customer_id} does not exist", None
        place = await session.get(Place, request.place_id)
        scope = step_scope(request.place_id, place, customer, request.event, request.journey)
        try:
            values = customer_updates.rendered(request.assign, scope)
            profile = customer_updates.profile(customer, values, request.unset)
            upserted = await customers.upsert(
                session, request.place_id, request.customer_id, profile
            )
        except NotApplied as error:
            return f"not updated: {error}", None
        except Invalid as error:
            # Nothing of a half-made change may be committed with the record.
            await session.rollback()
            problems = "; ".join(f"{i.path} {i.message}" for i in error.issues)
            return f"not updated: {problems}", None
        said = customer_updates.described(values, request.unset)
        if not upserted.changed:
            return f"{said} (no change)", None
        return said, {"set": values, "unset": request.unset}
