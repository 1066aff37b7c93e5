"""Wire formats of responses: camelCase envelopes (request bodies: `journeys.schemas`)."""

from collections.abc import Iterable
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, create_model

from journeys.schemas import Resource
from store import consent
from store.tables import Customer


class SubscriptionChange(Resource):
    status: str
    at: int
    source: str


class CustomerOut(Resource):
    """A customer, as `/customers` and a segment's members answer with it."""

    id: int
    place_id: int
    email: str | None
    phone: str | None
    push_tokens: list[str]
    attributes: dict[str, Any]
    timezone: str | None
    # Every channel's consent, and when and by what the changed ones last changed.
    subscriptions: dict[str, str]
    subscription_changes: dict[str, SubscriptionChange]
    created: int
    updated: int

    @classmethod
    def of(cls, customer: Customer) -> "CustomerOut":
        # The row's columns, with its consent as every channel's status and the changes.
        row = customer.model_dump()
        changes = row.pop("subscriptions")
        return cls.model_validate(
            {**row, "subscriptions": consent.statuses(customer), "subscription_changes": changes}
        )


class PageMeta(BaseModel):
    page: int
    per_page: int = Field(alias="perPage")
    total: int


def envelope_models(kind: str, item: type[Resource]) -> tuple[type[BaseModel], type[BaseModel]]:
    """OpenAPI shapes of the single and list envelopes of `kind` (documentation only)."""
    items: Any = (dict[str, item], Field(alias=f"node.{kind}"))  # type: ignore[valid-type]
    one = create_model(f"{item.__name__}Envelope", __base__=BaseModel, items=items)
    many = create_model(
        f"{item.__name__}Page", __base__=BaseModel, items=items, meta=(PageMeta, ...)
    )
    return one, many


def envelope(
    kind: str,
    items: Iterable[Resource],
    meta: dict[str, int] | None = None,
    status: int = 200,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    """The items keyed by id under `node.{kind}`, then `meta` (lists) and any `extra` keys."""
    body: dict[str, Any] = {
        f"node.{kind}": {str(item.id): item.model_dump(by_alias=True) for item in items}  # type: ignore[attr-defined]
    }
    if meta is not None:
        body["meta"] = meta
    body.update(extra or {})
    return JSONResponse(body, status_code=status)
