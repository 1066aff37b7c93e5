"""Condition operators over customer attributes: the reference semantics.

The journey `condition` step evaluates these in the workflow; segment membership compiles the
same rules to SQL (`store.segments`) and is tested against `evaluate`. Values are JSON values:
types never coerce ("1" is not 1, true is not 1), but 1 equals 1.0.
"""

import math
from collections.abc import Collection, Mapping
from typing import Any

from journeys.errors import Issue

CONDITION_OPERATORS = ("eq", "ne", "in", "exists")
ORDER_OPERATORS = ("gt", "gte", "lt", "lte")
SEGMENT_OPERATORS = (*CONDITION_OPERATORS, *ORDER_OPERATORS)
CONDITION_KEYS = ("attribute", "operator", "value")

MAX_ATTRIBUTE_LENGTH = 255
# Each listed value becomes a bound parameter; databases cap those at ~32k per statement.
MAX_IN_VALUES = 1000


def lookup(attributes: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """The value at a dotted path: (found, value); an intermediate non-object means not found."""
    node: Any = attributes
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def evaluate(attributes: Mapping[str, Any], attribute_path: str, operator: str, value: Any) -> bool:
    """Whether the customer's attributes satisfy one condition."""
    found, actual = lookup(attributes, attribute_path)
    return compare(found, actual, operator, value)


def compare(found: bool, actual: Any, operator: str, value: Any) -> bool:
    """Whether an attribute (found or not, and its value) satisfies `operator value`."""
    if operator == "exists":
        return found and actual is not None
    if operator == "eq":
        return found and _json_equal(actual, value)
    if operator == "ne":
        return not (found and _json_equal(actual, value))
    if operator == "in":
        if not isinstance(value, list | tuple):
            raise ValueError(f"in takes a list, not {describe(value)}")
        return found and any(_json_equal(actual, item) for item in value)
    if operator in ORDER_OPERATORS:
        return found and _ordered(actual, operator, value)
    raise ValueError(f"unknown operator {operator!r}")


def _kind(value: Any) -> str:
    # bool before number: in Python True == 1, in JSON they are different types.
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "composite"


def _json_equal(actual: Any, expected: Any) -> bool:
    kind = _kind(actual)
    # Lists and objects only ever meet scalars here, and never equal one.
    if kind == "composite" or kind != _kind(expected):
        return False
    return bool(actual == expected)


def _ordered(actual: Any, operator: str, expected: Any) -> bool:
    kind = _kind(actual)
    if kind not in ("number", "string") or kind != _kind(expected):
        return False
    # Python orders str by code point, which is what the SQL side reproduces.
    if operator == "gt":
        return bool(actual > expected)
    if operator == "gte":
        return bool(actual >= expected)
    if operator == "lt":
        return bool(actual < expected)
    return bool(actual <= expected)


def describe(value: Any) -> str:
    """How a value's JSON type is named in messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    return "an object"


def check_condition(
    raw: Any, path: str, operators: tuple[str, ...], *, other_keys: Collection[str] = ()
) -> list[Issue]:
    """Every problem with a raw `{attribute, operator, value}` condition, each with its path.

    `other_keys` are keys the caller checks itself (a journey step's `type`), not refused here.
    """
    if not isinstance(raw, Mapping):
        return [
            Issue(
                path, f"must be an object with attribute, operator and value, not {describe(raw)}"
            )
        ]
    issues = [
        Issue(f"{path}.{key}", "unknown key; a condition has attribute, operator and value")
        for key in raw
        if key not in CONDITION_KEYS and key not in other_keys
    ]
    issues += _check_attribute(raw, f"{path}.attribute")
    operator = raw.get("operator")
    if not isinstance(operator, str) or operator not in operators:
        got = f"got {operator!r}" if "operator" in raw else "it is missing"
        issues.append(Issue(f"{path}.operator", f"must be one of {', '.join(operators)}; {got}"))
        return issues
    return issues + _check_value(raw, f"{path}.value", operator)


def _check_attribute(raw: Mapping[str, Any], path: str) -> list[Issue]:
    if "attribute" not in raw:
        return [Issue(path, "is required: a dotted attribute path such as account.classification")]
    attribute = raw["attribute"]
    if not isinstance(attribute, str):
        return [
            Issue(path, f"must be a dotted attribute path (a string), not {describe(attribute)}")
        ]
    if len(attribute) > MAX_ATTRIBUTE_LENGTH:
        return [Issue(path, f"must be at most {MAX_ATTRIBUTE_LENGTH} characters")]
    if "\x00" in attribute:
        # PostgreSQL text cannot hold NUL, so no stored attribute could ever match.
        return [Issue(path, "must not contain NUL characters")]
    if not all(part.strip() for part in attribute.split(".")):
        return [
            Issue(
                path,
                "must be a dotted attribute path of non-empty names such as account.classification",
            )
        ]
    return []


def _check_value(raw: Mapping[str, Any], path: str, operator: str) -> list[Issue]:
    if operator == "exists":
        if "value" in raw:
            return [Issue(path, "exists takes no value: it checks that the attribute is set")]
        return []
    if "value" not in raw:
        return [Issue(path, f"is required for operator {operator}")]
    value = raw["value"]
    if operator == "in":
        if not isinstance(value, list) or not value:
            return [Issue(path, f"in takes a non-empty list of values, not {describe(value)}")]
        if len(value) > MAX_IN_VALUES:
            return [Issue(path, f"in takes at most {MAX_IN_VALUES} values; got {len(value)}")]
        issues: list[Issue] = []
        for i, item in enumerate(value):
            issues += _check_scalar(item, f"{path}.{i}", "in")
        return issues
    if operator in ORDER_OPERATORS:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return [
                Issue(path, f"{operator} compares with a number or a string, not {describe(value)}")
            ]
        return _check_scalar(value, path, operator)
    return _check_scalar(value, path, operator)


def _check_scalar(value: Any, path: str, operator: str) -> list[Issue]:
    if value is None or isinstance(value, bool | int):
        return []
    if isinstance(value, float):
        if not math.isfinite(value):
            return [Issue(path, "must be a finite number: JSON has no NaN or Infinity")]
        return []
    if isinstance(value, str):
        if "\x00" in value:
            return [Issue(path, "must not contain NUL characters")]
        return []
    return [
        Issue(
            path,
            f"{operator} compares with a string, number, boolean or null, not {describe(value)}",
        )
    ]
