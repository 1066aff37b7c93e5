"""Activities that read the audience: a customer's attribute, segment membership."""

from temporalio import activity
from temporalio.exceptions import ApplicationError

from store import crud, segments
from store.db import SessionFactory
from store.tables import Customer, Segment
from workflows.contracts import (
    AttributeInput,
    AttributeValue,
    SegmentCheckInput,
    SegmentCheckResult,
)
from workflows.model.operators import compare, lookup
from workflows.visibility import CUSTOMER_IN_SEGMENTS, READ_CUSTOMER_ATTRIBUTE


class Audience:
    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions

    @activity.defn(name=READ_CUSTOMER_ATTRIBUTE)
    async def read_customer_attribute(self, request: AttributeInput) -> AttributeValue:
        """The attribute at a dotted path (a customer that doesn't exist has no attributes);
        with an operator, the condition's outcome instead of the value."""
        async with self.sessions() as session:
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

        A segment deleted since the journey version was saved has no members: retrying
        could never bring it back."""
        async with self.sessions() as session:
            present = await crud.existing_ids(
                session, Segment, request.place_id, [*request.include, *request.exclude]
            )
            include = [i for i in request.include if i in present]
            if request.include and not include:
                return SegmentCheckResult(matched=False)
            matched = await segments.customer_matches(
                session,
                request.place_id,
                request.customer_id,
                include,
                [i for i in request.exclude if i in present],
            )
        return SegmentCheckResult(matched=matched)
