"""What the console's forms and filters give, read as the API reads its requests: the
same checks, and every problem an `Invalid` naming the field (a page, never a 500)."""

import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from api.body_guard import BadBody, vet
from journeys.errors import Invalid, Issue
from journeys.schemas import issues_from
from workflows.model.machine import MAX_ID

Model = TypeVar("Model", bound=BaseModel)
_DIGITS = re.compile(r"[0-9]{1,19}")


def whole_number(name: str, text: str | None) -> int | None:
    """An id typed in a field: None if the field is empty."""
    if not text:
        return None
    if not _DIGITS.fullmatch(text) or not 1 <= int(text) <= MAX_ID:
        raise Invalid([Issue(name, f"must be a whole number from 1 to {MAX_ID}")])
    return int(text)


def json_text(name: str, text: str | None) -> Any:
    """JSON typed in a field (None if it is empty), vetted as the API vets a body: depth,
    number sizes, text a database can store."""
    if not text or not text.strip():
        return None
    try:
        return vet(text.encode("utf-8", errors="surrogatepass"))
    except BadBody as bad:
        where = name if bad.path == "body" else f"{name}.{bad.path}"
        raise Invalid([Issue(where, bad.message)]) from None


def validated(model: type[Model], data: dict[str, Any]) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise Invalid(issues_from(error.errors())) from None


_ONCE = re.compile(r"[!-~]{1,200}")


def once_key(text: str | None) -> str | None:
    """A form's one-time key (what the API takes as an idempotency key), or None."""
    return text if text and _ONCE.fullmatch(text) else None
