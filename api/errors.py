"""Maps the domain errors, request validation and routing failures to the error body."""

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from api.problems import error_response
from errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    Issue,
    NotFound,
    Unauthorized,
    Unavailable,
)

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

# Fields that responses show but requests may not set.
READ_ONLY = {
    "id": "is read-only",
    "placeId": "is read-only: it comes from the URL",
    "place_id": "is read-only: it comes from the URL",
    "userId": "is read-only: it comes from the API key",
    "user_id": "is read-only: it comes from the API key",
    "created": "is read-only",
    "updated": "is read-only",
    "version": "is read-only: it grows with every machine_config change",
    "active": "is read-only: use the /start and /stop endpoints",
}
_WHERE = {"body", "query", "path", "header"}
# deadlock_detected, serialization_failure, lock_not_available
TRANSIENT_SQLSTATES = {"40P01", "40001", "55P03"}


def _path(loc: tuple[Any, ...]) -> str:
    parts = [str(part) for part in loc]
    if len(parts) > 1 and parts[0] in _WHERE:
        parts = parts[1:]
    return ".".join(parts)


def _message(error: dict[str, Any]) -> str:
    kind = error.get("type")
    loc = error.get("loc", ())
    if kind == "missing":
        return "a JSON body is required" if tuple(loc) == ("body",) else "is required"
    if kind == "extra_forbidden":
        return READ_ONLY.get(str(loc[-1]), "is not a known field")
    if kind == "json_invalid":
        return f"is not valid JSON: {error.get('ctx', {}).get('error', 'decode error')}"
    message = str(error.get("msg", "is invalid"))
    if message.startswith("Input should be"):
        message = "must be" + message[len("Input should be") :]
    elif message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return message


def issues_from(errors: Sequence[Any], prefix: str = "") -> list[Issue]:
    """Pydantic errors as issues, with paths like the request errors' (under `prefix`)."""
    return [
        Issue(".".join(p for p in (prefix, _path(tuple(e.get("loc", ())))) if p), _message(e))
        for e in errors
    ]


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, error: DomainError) -> Response:
        status = next((s for kind, s in STATUS.items() if isinstance(error, kind)), 400)
        issues = error.issues if isinstance(error, Invalid) else []
        response = error_response(
            status, error.code, error.message, [(i.path, i.message) for i in issues]
        )
        if isinstance(error, Unavailable):
            response.headers["Retry-After"] = "5"
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, error: RequestValidationError) -> Response:
        details = [(_path(tuple(e.get("loc", ()))), _message(e)) for e in error.errors()]
        return error_response(422, "validation_error", "The request is invalid.", details)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, error: HTTPException) -> Response:
        code = HTTP_CODES.get(error.status_code, "bad_request")
        response = error_response(error.status_code, code, str(error.detail))
        if error.headers:
            response.headers.update(error.headers)
        return response

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, error: DBAPIError) -> Response:
        # A deadlock, a serialization failure or a busy SQLite file is transient: the
        # transaction was rolled back whole, and the same request can simply be sent again.
        state = getattr(error.orig, "sqlstate", None)
        if state in TRANSIENT_SQLSTATES or "database is locked" in str(error.orig):
            log.warning(
                "transient database error on %s %s: %s",
                request.method,
                request.url.path,
                error.orig,
            )
            response = error_response(
                503, "unavailable", "The database was busy; nothing was changed. Try again."
            )
            response.headers["Retry-After"] = "1"
            return response
        return await _unexpected(request, error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "Something went wrong on our side.")
