"""What `/openapi.json` says beyond what FastAPI derives from the routes, so that it
describes the API as it answers: every error answer an operation can give, with the error
body it really sends (never FastAPI's `{"detail": [...]}`), and the `Api-Key` scheme.

The rules are by the shape of the operation, so a new route is documented without a step
of its own: an operation under `/places/{place_id}` needs a manager key (401, 403) and may
meet an outage (503); one that names an entity by id may not find it (404); any may refuse
what it is sent (422: a bad parameter, an unknown query parameter), and a body may be too
large (413). A 409 is
declared by the routes that can give one (`CONFLICT`)."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

from api.problems import RETRY_AFTER


class ErrorDetail(BaseModel):
    path: str = Field(description="The field, as the request spells it (`body` for all of it).")
    message: str = Field(description="What is wrong with it.")


class ErrorInfo(BaseModel):
    code: str = Field(
        description="Stable, for programs: `unauthorized`, `forbidden`, `not_found`, "
        "`conflict`, `validation_error`, `payload_too_large`, `unavailable`, …"
    )
    message: str = Field(description="For people: what happened and what to do.")
    details: list[ErrorDetail] = Field(description="One per problem found (may be empty).")


class ErrorBody(BaseModel):
    """Every error answer's body."""

    error: ErrorInfo


SCHEME = "ApiKey"
ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
_DESCRIPTIONS = {
    "401": "No `Api-Key` header, or not a manager key.",
    "403": "The key is a manager key of another place.",
    "404": "Nothing with that id in this place.",
    "409": "The request conflicts with the state it would change (the message says how).",
    "413": "The body is larger than the API accepts.",
    "422": "The request is invalid: each detail names a field and the problem.",
    "503": "A dependency (the database, Temporal) is away or slow. Send the same request "
    "again after `Retry-After` seconds: repeating it is safe.",
}
CONFLICT: dict[int | str, dict[str, Any]] = {409: {"description": _DESCRIPTIONS["409"]}}
# Public endpoints (no Api-Key) for mail clients and SMS providers; they use the database.
PUBLIC_PREFIXES = ("/unsubscribe/", "/inbound/")
# The operator console's pages (`api.console`): no part of the contract.
CONSOLE_PREFIX = "/console"


def is_console(path: str) -> bool:
    return path == CONSOLE_PREFIX or path.startswith(f"{CONSOLE_PREFIX}/")


# Request bodies a route reads itself (`body_of`), added to the document's schemas.
_BODIES: dict[str, type[BaseModel]] = {}


def body_of(*models: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` for a route that reads its body itself: one of `models`."""
    for model in models:
        _BODIES[model.__name__] = model
    refs = [{"$ref": f"#/components/schemas/{model.__name__}"} for model in models]
    schema = refs[0] if len(refs) == 1 else {"oneOf": refs}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = _completed(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _completed(document: dict[str, Any]) -> dict[str, Any]:
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    models: list[type[BaseModel]] = [ErrorBody, *_BODIES.values()]
    for model in models:
        schemas.update(_schemas_of(model))
    for path, operations in document["paths"].items():
        for operation in operations.values():
            _complete(path, operation)
    return document


def _schemas_of(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="validation")
    nested = schema.pop("$defs", {})
    return {**nested, model.__name__: schema}


def _complete(path: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation["responses"]
    names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
    errors = []
    if path.startswith("/places/{place_id}"):
        errors += ["401", "403", "503"]
    elif path == "/readyz" or path.startswith(PUBLIC_PREFIXES):
        errors.append("503")
    if any(name != "place_id" for name in names):
        errors.append("404")
    # Every operation refuses query parameters it doesn't take (`api.deps.known_query`).
    errors.append("422")
    if "requestBody" in operation:
        errors.append("413")
    for status in errors:
        responses.setdefault(status, {})
    for status, response in responses.items():
        if not status.startswith(("4", "5")):
            continue
        # A page for people (the unsubscribe link's, to a browser) is declared by its route.
        page = {k: v for k, v in response.get("content", {}).items() if k == "text/html"}
        if not page:
            response["description"] = _DESCRIPTIONS.get(status, response.get("description", ""))
        response["content"] = {"application/json": {"schema": ERROR_REF}, **page}
        if status == "503":
            response["headers"] = {"Retry-After": RETRY_AFTER}
    operation["responses"] = dict(sorted(responses.items()))
