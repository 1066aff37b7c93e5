"""The one domain error hierarchy; `api.errors` maps it to HTTP in one place."""

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Issue:
    """One problem with the input: where it is (a dotted path) and what is wrong."""

    path: str
    message: str


class DomainError(Exception):
    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthorized(DomainError):
    code = "unauthorized"


class Forbidden(DomainError):
    code = "forbidden"


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class Invalid(DomainError):
    code = "validation_error"

    def __init__(self, issues: Iterable[Issue], message: str = "The request is invalid.") -> None:
        super().__init__(message)
        self.issues = list(issues)


class Unavailable(DomainError):
    """A dependency (Temporal, the database) can't be reached; the caller should retry."""

    code = "unavailable"
