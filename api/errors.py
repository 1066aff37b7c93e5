"""Maps the domain errors, request validation and routing failures to the error body."""

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.responses import Response

from api.console.pages import error_page
from api.contract import is_console
from api.problems import error_response
from journeys.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    Unauthorized,
    Unavailable,
)
from journeys.schemas import issues_from
from store.db import DatabaseBusy

log = logging.getLogger(__name__)

STATUS = {
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Invalid: 422,
    Unavailable: 503,
}
HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}

# deadlock_detected, serialization_failure, lock_not_available, query_canceled (a statement
# past its timeout): the database is busy, not broken.
BUSY_SQLSTATES = {"40P01", "40001", "55P03", "57014"}
SQLITE_BUSY = ("database is locked", "interrupted")
# connection_exception (08…), insufficient_resources (53…), operator_intervention (57P…):
# the database is away or refusing connections.
UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57P")
UNAVAILABLE_SQLSTATES = {"58000", "58030"}
SQLITE_UNAVAILABLE = ("unable to open database", "disk I/O error")


def domain_response(error: DomainError) -> Response:
    status = next((s for kind, s in STATUS.items() if isinstance(error, kind)), 400)
    issues = error.issues if isinstance(error, Invalid) else []
    response = error_response(
        status, error.code, error.message, [(i.path, i.message) for i in issues]
    )
    if isinstance(error, Unavailable):
        response.headers["Retry-After"] = "5"
    return response


def _unavailable(message: str, retry_after: int) -> Response:
    response = error_response(503, "unavailable", message)
    response.headers["Retry-After"] = str(retry_after)
    return response


def dependency_response(error: Exception) -> Response | None:
    """503 for a database that is busy, slow or away (the request was rolled back whole, and
    the same request can simply be sent again); None if `error` is no such thing."""
    if isinstance(error, DBAPIError):
        cause = error.orig
        state = getattr(cause, "sqlstate", None) or ""
        text = str(cause)
        if state in BUSY_SQLSTATES or any(sign in text for sign in SQLITE_BUSY):
            return _unavailable("The database was busy; nothing was changed. Try again.", 1)
        if (
            error.connection_invalidated
            or state.startswith(UNAVAILABLE_SQLSTATE_CLASSES)
            or state in UNAVAILABLE_SQLSTATES
            or isinstance(cause, OSError | TimeoutError)
            or any(sign in text for sign in SQLITE_UNAVAILABLE)
            or _is_asyncpg_connection_error(cause)
        ):
            return _unavailable("The database is unavailable. Try again shortly.", 5)
        return None
    if isinstance(error, PoolTimeout | DatabaseBusy):
        return _unavailable("The database is busy; nothing was changed. Try again.", 1)
    if isinstance(error, OSError | TimeoutError) or _is_asyncpg_connection_error(error):
        # Connecting failed or a dependency didn't answer in time (asyncpg raises these
        # before SQLAlchemy can wrap them).
        return _unavailable("A service Journeys depends on is unavailable. Try again shortly.", 5)
    return None


def _is_asyncpg_connection_error(error: BaseException | None) -> bool:
    return type(error).__module__.startswith("asyncpg") and (
        "Connect" in type(error).__name__ or "Interface" in type(error).__name__
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, error: DomainError) -> Response:
        return _shown(request, domain_response(error))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> Response:
        details = [(i.path, i.message) for i in issues_from(error.errors())]
        response = error_response(422, "validation_error", "The request is invalid.", details)
        return _shown(request, response)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, error: HTTPException) -> Response:
        code = HTTP_CODES.get(error.status_code, "bad_request")
        response = error_response(error.status_code, code, str(error.detail))
        if error.headers:
            response.headers.update(error.headers)
        return _shown(request, response)

    async def _dependency(request: Request, error: Exception) -> Response:
        response = dependency_response(error)
        if response is None:
            return await _unexpected(request, error)
        log.warning(
            "dependency unavailable on %s %s: %s: %s",
            request.method,
            request.url.path,
            type(error).__name__,
            getattr(error, "orig", None) or error,
        )
        return _shown(request, response)

    # Registered by class, not as a catch-all, so they are answered like domain errors.
    for kind in (DBAPIError, PoolTimeout, OSError, TimeoutError):
        app.add_exception_handler(kind, _dependency)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> Response:
        response = dependency_response(error)
        if response is not None:
            return _shown(request, response)
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _shown(
            request, error_response(500, "internal_error", "Something went wrong on our side.")
        )


def _shown(request: Request, response: Response) -> Response:
    """The error as the caller reads it: the error body, or for a console page a page."""
    if not is_console(request.url.path):
        return response
    error = json.loads(bytes(response.body))["error"]
    lines = [f"{d['path']}: {d['message']}" for d in error.get("details", [])]
    page = error_page(request, response.status_code, error["message"], lines)
    for name in ("Retry-After", "Allow"):
        if name in response.headers:
            page.headers[name] = response.headers[name]
    return page
