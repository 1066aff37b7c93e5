"""Customers: `/places/{placeId}/customers`."""

import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, Field, JsonValue

from api.deps import CurrentManager, Pagination, Session, TemporalClient
from api.wire import Resource, envelope, envelope_models
from journeys.errors import Invalid, Issue
from journeys.schemas import Request, at_most_bytes
from orchestration import launcher
from store import crud
from store import customers as store
from store.tables import Customer
from workflows.model.machine import MAX_ID

KIND = "customer"
MAX_IMPORT = 10_000
# A customer's attributes, as given in one request and as stored after merging.
MAX_ATTRIBUTES_BYTES = store.MAX_ATTRIBUTES_BYTES
CustomerId = Annotated[int, Path(ge=1, le=MAX_ID, description="The platform's customer id.")]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")


def _email(value: str | None) -> str | None:
    if value is not None and not _EMAIL.match(value):
        raise ValueError("must be an email address such as ana@example.com")
    return value


def _phone(value: str | None) -> str | None:
    if value is not None and not _PHONE.match(value):
        raise ValueError("must be an E.164 phone number such as +14155550123")
    return value


Email = Annotated[str | None, Field(max_length=320), AfterValidator(_email)]
Phone = Annotated[str | None, AfterValidator(_phone)]
PushTokens = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=4096)]], Field(max_length=100)
]


class CustomerProfile(Request):
    """Fields given replace the stored ones; `attributes` merge at the top level, and an
    attribute set to null is removed."""

    email: Email = None
    phone: Phone = None
    push_tokens: PushTokens | None = None
    attributes: Annotated[dict[str, JsonValue] | None, at_most_bytes(MAX_ATTRIBUTES_BYTES)] = None


class ImportedCustomer(CustomerProfile):
    id: Annotated[int, Field(ge=1, le=MAX_ID)]


class CustomerOut(Resource):
    id: int
    place_id: int
    email: str | None
    phone: str | None
    push_tokens: list[str]
    attributes: dict[str, Any]
    created: int
    updated: int


CustomerEnvelope, CustomerPage = envelope_models(KIND, CustomerOut)
router = APIRouter(prefix="/places/{place_id}/customers", tags=["customers"])


def _out(customer: Customer) -> CustomerOut:
    return CustomerOut.model_validate(customer, from_attributes=True)


def profile(body: CustomerProfile) -> dict[str, Any]:
    """The fields the request actually gave (so absent ones are left alone)."""
    return body.model_dump(include=body.model_fields_set - {"id"})


@router.get("", response_model=None, responses={200: {"model": CustomerPage}})
async def list_customers(
    manager: CurrentManager, session: Session, paging: Pagination
) -> JSONResponse:
    """List the place's customers, ordered by id (paginated)."""
    rows, total = await crud.page(
        session,
        Customer,
        [Customer.place_id == manager.place_id],
        offset=paging.offset,
        limit=paging.per_page,
    )
    return envelope(KIND, [_out(row) for row in rows], paging.meta(total))


@router.post("/import")
async def import_customers(
    manager: CurrentManager,
    session: Session,
    temporal: TemporalClient,
    body: Annotated[list[ImportedCustomer], Body(max_length=MAX_IMPORT)],
) -> dict[str, int]:
    """Upsert up to 10 000 customers, each carrying its id; all or nothing. Their executions
    waiting for a condition check it again at once."""
    seen: dict[int, int] = {}
    issues = []
    for index, item in enumerate(body):
        if item.id in seen:
            issues.append(
                Issue(f"{index}.id", f"customer {item.id} is also at index {seen[item.id]}")
            )
        seen.setdefault(item.id, index)
    if issues:
        raise Invalid(issues)
    results = await store.upsert_many(
        session,
        manager.place_id,
        [(item.id, profile(item)) for item in body],
        lambda index: f"{index}.attributes",
    )
    await session.commit()
    # Only customers that existed and changed can have executions waiting on their profile.
    changed = [r.customer.id for r in results if r.changed and not r.created]
    launcher.notify_customers_changed(temporal, manager.place_id, changed)
    created = sum(1 for result in results if result.created)
    return {"imported": len(results), "created": created, "updated": len(results) - created}


@router.get("/{customer_id}", response_model=None, responses={200: {"model": CustomerEnvelope}})
async def get_customer(
    manager: CurrentManager, session: Session, customer_id: CustomerId
) -> JSONResponse:
    """Get one customer."""
    return envelope(KIND, [_out(await store.get(session, manager.place_id, customer_id))])


@router.put("/{customer_id}", response_model=None, responses={200: {"model": CustomerEnvelope}})
async def upsert_customer(
    manager: CurrentManager,
    session: Session,
    temporal: TemporalClient,
    customer_id: CustomerId,
    body: CustomerProfile,
) -> JSONResponse:
    """Create or update a customer (fields given replace; attributes merge). The customer's
    executions waiting for a condition check it again at once."""
    customer, created, changed = await store.upsert(
        session, manager.place_id, customer_id, profile(body)
    )
    await session.commit()
    if changed and not created:
        launcher.notify_customers_changed(temporal, manager.place_id, [customer_id])
    return envelope(KIND, [_out(customer)])


@router.delete("/{customer_id}", status_code=204, response_class=Response)
async def delete_customer(
    manager: CurrentManager, session: Session, customer_id: CustomerId
) -> None:
    """Delete a customer."""
    await crud.delete(session, await store.get(session, manager.place_id, customer_id))
