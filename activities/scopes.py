"""What a step's templates see (`journeys.rendering.message_scope`), built from what the
activities load: a send's message, an update's values and a webhook's body alike."""

from collections.abc import Mapping
from typing import Any

from journeys import rendering
from store.tables import Customer, Place
from workflows.contracts import EventInfo, JourneyInfo


def step_scope(
    place_id: int,
    place: Place | None,
    customer: Customer,
    event: EventInfo | None,
    journey: JourneyInfo | None,
    unsubscribe_url: str = "",
) -> Mapping[str, Any]:
    return rendering.message_scope(
        rendering.customer_scope(customer.id, customer.email, customer.phone, customer.attributes),
        rendering.event_scope(event.name, event.id, event.data, event.occurred_at)
        if event
        else None,
        journey.model_dump() if journey else None,
        {"id": place_id, "name": place.name if place else ""},
        unsubscribe_url,
    )
