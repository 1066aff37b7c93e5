"""Request bodies and the size bounds on what they carry: shared by the routes that parse
them and the services that take them (so neither imports the other for them)."""

import json
from typing import Any

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


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
