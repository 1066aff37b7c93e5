"""Wire formats: snake_case (or camelCase) requests, camelCase envelopes in responses."""

import json
from collections.abc import Iterable
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model
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


class Resource(BaseModel):
    """One item of a response envelope, serialised with camelCase keys."""

    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True)


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
