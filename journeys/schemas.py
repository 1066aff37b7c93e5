"""Request bodies and response items (their key styles), the size bounds on what a request
carries and its validation errors as issues: shared by the routes that parse and answer and
the services that take and return them (so neither imports the other for them)."""

import json
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import (
    AfterValidator,
    AliasChoices,
    AliasGenerator,
    BaseModel,
    ConfigDict,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from journeys.errors import Issue


def _either_spelling(name: str) -> AliasChoices:
    return AliasChoices(name, to_camel(name))


class Request(BaseModel):
    """A request body: snake_case keys (as the OpenAPI document shows them), camelCase
    accepted too but never both for one field, unknown keys refused, and no coercion
    (`"yes"` is not a boolean, `"5"` is not an id)."""

    model_config = ConfigDict(
        strict=True,
        alias_generator=AliasGenerator(validation_alias=_either_spelling),
        validate_by_name=True,
        validate_by_alias=True,
        loc_by_alias=False,
        extra="forbid",
    )

    @model_validator(mode="before")
    @classmethod
    def _one_spelling(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in cls.model_fields:
                camel = to_camel(name)
                if camel != name and name in data and camel in data:
                    raise PydanticCustomError(
                        "same_field",
                        "{camel} and {name} are the same field: send {name} only",
                        {"camel": camel, "name": name},
                    )
        return data


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


def _plural(count: Any, one: str) -> str:
    return f"{count} {one}" if count == 1 else f"{count} {one}s"


# Pydantic's wording in the product's voice, by error type (the context fills the blanks).
_VOICE: dict[str, Callable[[dict[str, Any]], str]] = {
    "string_type": lambda c: "must be a string",
    "int_type": lambda c: "must be an integer",
    "int_parsing": lambda c: "must be an integer",
    "int_from_float": lambda c: "must be an integer",
    "float_type": lambda c: "must be a number",
    "float_parsing": lambda c: "must be a number",
    "bool_type": lambda c: "must be true or false",
    "bool_parsing": lambda c: "must be true or false",
    "dict_type": lambda c: "must be an object",
    "model_type": lambda c: "must be an object",
    "model_attributes_type": lambda c: "must be an object",
    "list_type": lambda c: "must be an array",
    "none_required": lambda c: "must be null",
    "string_too_short": lambda c: (
        "must not be empty"
        if c["min_length"] == 1
        else f"must be at least {_plural(c['min_length'], 'character')} long"
    ),
    "string_too_long": lambda c: f"must be at most {_plural(c['max_length'], 'character')} long",
    "too_short": lambda c: f"must have at least {_plural(c['min_length'], 'item')}",
    "too_long": lambda c: f"must have at most {_plural(c['max_length'], 'item')}",
    "greater_than_equal": lambda c: f"must be {c['ge']} or more",
    "less_than_equal": lambda c: f"must be {c['le']} or less",
    "greater_than": lambda c: f"must be more than {c['gt']}",
    "less_than": lambda c: f"must be less than {c['lt']}",
    "string_pattern_mismatch": lambda c: f"must match {c['pattern']}",
}


def _message(error: dict[str, Any]) -> str:
    kind = error.get("type")
    loc = error.get("loc", ())
    if kind == "missing":
        return "a JSON body is required" if tuple(loc) == ("body",) else "is required"
    if kind == "extra_forbidden":
        return READ_ONLY.get(str(loc[-1]), "is not a known field")
    if kind == "json_invalid":
        return f"is not valid JSON: {error.get('ctx', {}).get('error', 'decode error')}"
    voice = _VOICE.get(str(kind))
    if voice is not None:
        try:
            return voice(error.get("ctx", {}))
        except KeyError:
            pass  # a context without the blank to fill: pydantic's words, adapted below
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
