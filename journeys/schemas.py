"""Request bodies and response items (their key styles), the size bounds on what a request
carries and its validation errors as issues: shared by the routes that parse and answer and
the services that take and return them (so neither imports the other for them)."""

import json
from collections.abc import Sequence
from typing import Any

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from journeys.errors import Issue


class Request(BaseModel):
    """A request body: snake_case keys, camelCase accepted too, unknown keys refused, and
    no coercion (`"yes"` is not a boolean, `"5"` is not an id)."""

    model_config = ConfigDict(
        strict=True,
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        loc_by_alias=False,
        extra="forbid",
    )


class Resource(BaseModel):
    """One item of a response envelope, serialised with camelCase keys."""

    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True)


def json_size(value: Any) -> int:
    """Bytes of `value` as compact UTF-8 JSON: what it costs to store and to carry."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def at_most_bytes(limit: int) -> AfterValidator:
    """A field whose JSON is at most `limit` bytes: what a workflow carries or reads must stay
    far below Temporal's payload limit (2 MB), and nothing a request stores is unbounded."""

    def check(value: Any) -> Any:
        size = json_size(value)
        if size > limit:
            raise ValueError(f"is {size} bytes as JSON; at most {limit} bytes")
        return value

    return AfterValidator(check)


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
