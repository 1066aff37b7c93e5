"""A journey's rules beyond its steps: who may enter (`entry_rules`), which events end a
customer's executions early (`exit_rules`), and what counts as success (`goal`).

Absent, each is the specification's behaviour: anyone enters on every trigger, executions
run to their final state, nothing is counted as converted."""

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

from journeys.schemas import Request, Resource
from workflows.model import MANUAL, TriggerEvent

# Ten years: longer is `never`.
MAX_REENTRY_SECONDS = 10 * 365 * 86_400


def _not_manual(value: str) -> str:
    if value == MANUAL:
        raise ValueError("manual is not an event")
    return value


EventName = Annotated[TriggerEvent, AfterValidator(_not_manual)]


def _distinct(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("must not name an event twice")
    return values


class AfterSeconds(Request):
    after_seconds: Annotated[int, Field(ge=1, le=MAX_REENTRY_SECONDS)]


def _one_problem(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """One error at `reentry` for a value that is neither form (not one per form)."""
    try:
        return handler(value)
    except ValidationError:
        raise PydanticCustomError(
            "reentry",
            "must be 'always', 'never', 'after_exit' or {form} with N from 1 to {most}",
            {"form": '{"after_seconds": N}', "most": MAX_REENTRY_SECONDS},
        ) from None


class EntryRules(Request):
    """`always` (the default): every trigger starts an execution; `never`: once per customer,
    ever; `after_exit`: not while the customer has an execution of the journey running;
    `{"after_seconds": N}`: not within N seconds of their last entry."""

    reentry: Annotated[
        Literal["always", "never", "after_exit"] | AfterSeconds, WrapValidator(_one_problem)
    ] = "always"


class ExitRules(Request):
    """When one of these events arrives for a customer, their running executions of the
    journey end (completed, with the event as the exit reason)."""

    events: Annotated[
        list[EventName], Field(min_length=1, max_length=20), AfterValidator(_distinct)
    ]


class Goal(Request):
    """An execution converts when its customer sends `event` within `within_days` of entering."""

    event: EventName
    within_days: Annotated[int, Field(ge=1, le=365)]


class AfterSecondsOut(Resource):
    after_seconds: int


class EntryRulesOut(Resource):
    reentry: Literal["always", "never", "after_exit"] | AfterSecondsOut


class ExitRulesOut(Resource):
    events: list[str]


class GoalOut(Resource):
    event: str
    within_days: int


def stored(rules: Request | None) -> dict[str, Any] | None:
    """The rules as the journey's row keeps them (snake_case; None when absent)."""
    return rules.model_dump() if rules is not None else None
