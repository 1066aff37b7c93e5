"""Customers: `/places/{placeId}/customers`."""

from typing import Annotated

from fastapi import APIRouter, Body, Path
from fastapi.responses import JSONResponse, Response

from api.deps import CurrentManager, Pagination, Session, Sessions, TemporalClient
from api.wire import CustomerOut, envelope, envelope_models
from services import customers as service
from services.customers import MAX_IMPORT, CustomerProfile, ImportedCustomer
from store.tables import Customer
from workflows.model.machine import MAX_ID

KIND = "customer"
CustomerId = Annotated[int, Path(ge=1, le=MAX_ID, description="The platform's customer id.")]
CustomerEnvelope, CustomerPage = envelope_models(KIND, CustomerOut)
router = APIRouter(prefix="/places/{place_id}/customers", tags=["customers"])


def _out(customer: Customer) -> CustomerOut:
    return CustomerOut.of(customer)


@router.get("", response_model=None, responses={200: {"model": CustomerPage}})
async def list_customers(
    manager: CurrentManager, session: Session, paging: Pagination
) -> JSONResponse:
    """List the place's customers, ordered by id (paginated)."""
    rows, total = await service.page(session, manager.place_id, paging.offset, paging.per_page)
    return envelope(KIND, [_out(row) for row in rows], paging.meta(total))


@router.post("/import")
async def import_customers(
    manager: CurrentManager,
    session: Session,
    sessions: Sessions,
    temporal: TemporalClient,
    body: Annotated[list[ImportedCustomer], Body(max_length=MAX_IMPORT)],
) -> dict[str, int]:
    """Upsert up to 10 000 customers, each carrying its id; all or nothing. Their executions
    waiting for a condition that now holds move on at once."""
    return await service.import_many(session, sessions, temporal, manager.place_id, body)


@router.get("/{customer_id}", response_model=None, responses={200: {"model": CustomerEnvelope}})
async def get_customer(
    manager: CurrentManager, session: Session, customer_id: CustomerId
) -> JSONResponse:
    """Get one customer."""
    return envelope(KIND, [_out(await service.get(session, manager.place_id, customer_id))])


@router.put("/{customer_id}", response_model=None, responses={200: {"model": CustomerEnvelope}})
async def upsert_customer(
    manager: CurrentManager,
    session: Session,
    sessions: Sessions,
    temporal: TemporalClient,
    customer_id: CustomerId,
    body: CustomerProfile,
) -> JSONResponse:
    """Create or update a customer (fields given replace; attributes merge). The customer's
    executions waiting for a condition that now holds move on at once."""
    customer = await service.upsert(
        session, sessions, temporal, manager.place_id, customer_id, body
    )
    return envelope(KIND, [_out(customer)])


@router.delete("/{customer_id}", status_code=204, response_class=Response)
async def delete_customer(
    manager: CurrentManager, session: Session, customer_id: CustomerId
) -> None:
    """Delete a customer."""
    await service.delete(session, manager.place_id, customer_id)
