"""The reference operator semantics and the condition checker."""

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflows.model.operators import (
    CONDITION_OPERATORS,
    SEGMENT_OPERATORS,
    check_condition,
    evaluate,
    lookup,
)

ATTRIBUTES: dict[str, Any] = {
    "tier": "gold",
    "points": 120,
    "ratio": 0.5,
    "vip": True,
    "nothing": None,
    "tags": ["a", "b"],
    "account": {"classification": "retail", "since": 2019, "owner": {"name": "Ana"}},
    "café": {"größe": 3},
}


def test_lookup_walks_nested_objects() -> None:
    assert lookup(ATTRIBUTES, "account.classification") == (True, "retail")
    assert lookup(ATTRIBUTES, "account.owner.name") == (True, "Ana")
    assert lookup(ATTRIBUTES, "café.größe") == (True, 3)
    assert lookup(ATTRIBUTES, "nothing") == (True, None)
    assert lookup(ATTRIBUTES, "account") == (True, ATTRIBUTES["account"])


@pytest.mark.parametrize(
    "path",
    ["missing", "account.missing", "tier.length", "tags.0", "nothing.x", "account.owner.name.x"],
)
def test_lookup_misses(path: str) -> None:
    assert lookup(ATTRIBUTES, path) == (False, None)


@pytest.mark.parametrize(
    ("path", "operator", "value", "expected"),
    [
        # eq / ne: JSON types never coerce, but numbers compare as numbers.
        ("tier", "eq", "gold", True),
        ("tier", "eq", "Gold", False),
        ("points", "eq", 120, True),
        ("points", "eq", 120.0, True),
        ("points", "eq", "120", False),
        ("ratio", "eq", 0.5, True),
        ("vip", "eq", True, True),
        ("vip", "eq", 1, False),
        ("points", "eq", True, False),
        ("nothing", "eq", None, True),
        ("missing", "eq", None, False),
        ("tier", "eq", None, False),
        ("tags", "eq", "a", False),
        ("account", "eq", "retail", False),
        ("account.owner.name", "eq", "Ana", True),
        ("tier", "ne", "silver", True),
        ("tier", "ne", "gold", False),
        ("missing", "ne", "gold", True),
        ("missing", "ne", None, True),
        ("nothing", "ne", None, False),
        ("tags", "ne", "a", True),
        ("vip", "ne", 1, True),
        # in: eq to any item.
        ("tier", "in", ["silver", "gold"], True),
        ("tier", "in", ["silver"], False),
        ("points", "in", ["120", 120.0], True),
        ("vip", "in", [1, 0], False),
        ("nothing", "in", [None], True),
        ("missing", "in", [None, "gold"], False),
        ("tags", "in", ["a", "b"], False),
        # exists: present and not null.
        ("tier", "exists", None, True),
        ("tags", "exists", None, True),
        ("account", "exists", None, True),
        ("nothing", "exists", None, False),
        ("missing", "exists", None, False),
        ("tier.x", "exists", None, False),
        # ordering: numbers with numbers, strings with strings, nothing else.
        ("points", "gt", 100, True),
        ("points", "gt", 120, False),
        ("points", "gte", 120.0, True),
        ("ratio", "lt", 1, True),
        ("ratio", "lte", 0.5, True),
        ("points", "gt", "100", False),
        ("tier", "gt", 1, False),
        ("tier", "gt", "g", True),
        ("tier", "lt", "gold!", True),
        ("vip", "gt", 0, False),
        ("vip", "lt", 2, False),
        ("nothing", "lt", 1, False),
        ("missing", "lt", 1, False),
        ("tags", "gt", "a", False),
        ("account", "gt", "a", False),
    ],
)
def test_evaluate(path: str, operator: str, value: Any, expected: bool) -> None:
    assert evaluate(ATTRIBUTES, path, operator, value) is expected


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("Z", "a"),  # code points, not a locale's "a" < "Z"
        ("a", "ab"),
        ("z", "é"),
        ("\uffff", "😀"),  # code points, not UTF-16 units (where U+1F600 sorts first)
        ("", " "),
        ("10", "9"),
    ],
)
def test_strings_order_by_code_point(lower: str, higher: str) -> None:
    attributes = {"s": lower}
    assert evaluate(attributes, "s", "lt", higher)
    assert evaluate(attributes, "s", "lte", higher)
    assert not evaluate(attributes, "s", "gt", higher)
    assert not evaluate(attributes, "s", "gte", higher)


def test_numbers_compare_exactly() -> None:
    big = 2**53 + 1  # not representable as a float
    assert not evaluate({"n": big}, "n", "eq", float(2**53))
    assert evaluate({"n": big}, "n", "gt", float(2**53))
    assert evaluate({"n": 2**63 - 1}, "n", "gt", 2**63 - 2)


def test_unknown_operator_and_bad_in_value_are_programming_errors() -> None:
    with pytest.raises(ValueError):
        evaluate(ATTRIBUTES, "tier", "like", "g%")
    with pytest.raises(ValueError):
        evaluate(ATTRIBUTES, "tier", "in", "gold")


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=3)
)
values = scalars | st.lists(scalars, max_size=2) | st.dictionaries(st.text(max_size=2), scalars)


@settings(max_examples=200)
@given(actual=values, expected=scalars, present=st.booleans())
def test_operators_relate_as_documented(actual: Any, expected: Any, present: bool) -> None:
    attributes = {"x": actual} if present else {}
    eq = evaluate(attributes, "x", "eq", expected)
    assert evaluate(attributes, "x", "ne", expected) is not eq
    assert evaluate(attributes, "x", "in", [expected]) is eq
    assert evaluate(attributes, "x", "in", [expected, {"never": "equal"}]) is eq
    if not present:
        assert not eq and not evaluate(attributes, "x", "exists", None)
    for operator in ("gt", "gte", "lt", "lte"):
        if evaluate(attributes, "x", operator, expected):
            assert type(actual) is not bool and type(expected) is not bool
            assert isinstance(actual, str) == isinstance(expected, str)
    if isinstance(expected, int | float | str) and not isinstance(expected, bool):
        gte = evaluate(attributes, "x", "gte", expected)
        both = evaluate(attributes, "x", "gt", expected) or eq
        assert gte is both


# --- check_condition -----------------------------------------------------------------------

VALID = [
    {"attribute": "tier", "operator": "eq", "value": "gold"},
    {"attribute": "account.classification", "operator": "ne", "value": None},
    {"attribute": "vip", "operator": "eq", "value": True},
    {"attribute": "points", "operator": "in", "value": [1, 2.5, "3", None, False]},
    {"attribute": "café.größe", "operator": "exists"},
    {"attribute": "n", "operator": "eq", "value": 2**80},
]
VALID_FOR_SEGMENTS = [
    {"attribute": "points", "operator": "gt", "value": 100},
    {"attribute": "ratio", "operator": "gte", "value": 0.5},
    {"attribute": "name", "operator": "lt", "value": "M"},
    {"attribute": "name", "operator": "lte", "value": ""},
]


@pytest.mark.parametrize("raw", VALID)
def test_valid_conditions(raw: dict[str, Any]) -> None:
    assert check_condition(raw, "c", CONDITION_OPERATORS) == []
    assert check_condition(raw, "c", SEGMENT_OPERATORS) == []


@pytest.mark.parametrize("raw", VALID_FOR_SEGMENTS)
def test_ordering_is_for_segments_only(raw: dict[str, Any]) -> None:
    assert check_condition(raw, "c", SEGMENT_OPERATORS) == []
    (issue,) = check_condition(raw, "c", CONDITION_OPERATORS)
    assert issue.path == "c.operator"
    assert "must be one of eq, ne, in, exists" in issue.message


def _issues(raw: Any, operators: tuple[str, ...] = SEGMENT_OPERATORS) -> dict[str, str]:
    return {i.path: i.message for i in check_condition(raw, "segment.conditions.0", operators)}


P = "segment.conditions.0"


@pytest.mark.parametrize(
    ("raw", "path", "words"),
    [
        ("tier = gold", P, "must be an object"),
        ([], P, "must be an object"),
        ({"operator": "exists"}, f"{P}.attribute", "is required"),
        ({"attribute": 3, "operator": "exists"}, f"{P}.attribute", "a number"),
        ({"attribute": "", "operator": "exists"}, f"{P}.attribute", "non-empty"),
        ({"attribute": "a..b", "operator": "exists"}, f"{P}.attribute", "non-empty"),
        ({"attribute": "a. .b", "operator": "exists"}, f"{P}.attribute", "non-empty"),
        ({"attribute": "a.", "operator": "exists"}, f"{P}.attribute", "non-empty"),
        ({"attribute": "a" * 256, "operator": "exists"}, f"{P}.attribute", "at most 255"),
        ({"attribute": "a\x00", "operator": "exists"}, f"{P}.attribute", "NUL"),
        ({"attribute": "a"}, f"{P}.operator", "it is missing"),
        ({"attribute": "a", "operator": "EQ", "value": 1}, f"{P}.operator", "got 'EQ'"),
        ({"attribute": "a", "operator": ["eq"], "value": 1}, f"{P}.operator", "must be one of"),
        ({"attribute": "a", "operator": "eq"}, f"{P}.value", "is required for operator eq"),
        ({"attribute": "a", "operator": "ne", "value": [1]}, f"{P}.value", "not a list"),
        ({"attribute": "a", "operator": "eq", "value": {"x": 1}}, f"{P}.value", "an object"),
        ({"attribute": "a", "operator": "eq", "value": math.nan}, f"{P}.value", "finite"),
        ({"attribute": "a", "operator": "eq", "value": "x\x00"}, f"{P}.value", "NUL"),
        ({"attribute": "a", "operator": "in", "value": "gold"}, f"{P}.value", "non-empty list"),
        ({"attribute": "a", "operator": "in", "value": []}, f"{P}.value", "non-empty list"),
        ({"attribute": "a", "operator": "in", "value": [1, [2]]}, f"{P}.value.1", "a list"),
        ({"attribute": "a", "operator": "in", "value": [1, math.inf]}, f"{P}.value.1", "finite"),
        ({"attribute": "a", "operator": "in", "value": list(range(1001))}, f"{P}.value", "1000"),
        ({"attribute": "a", "operator": "exists", "value": 1}, f"{P}.value", "takes no value"),
        ({"attribute": "a", "operator": "exists", "value": None}, f"{P}.value", "no value"),
        ({"attribute": "a", "operator": "gt"}, f"{P}.value", "is required"),
        ({"attribute": "a", "operator": "gt", "value": True}, f"{P}.value", "a boolean"),
        ({"attribute": "a", "operator": "gte", "value": None}, f"{P}.value", "number or a string"),
        ({"attribute": "a", "operator": "lt", "value": [1]}, f"{P}.value", "a list"),
        ({"attribute": "a", "operator": "lte", "value": math.inf}, f"{P}.value", "finite"),
        ({"attribute": "a", "operator": "exists", "colour": 1}, f"{P}.colour", "unknown key"),
    ],
)
def test_bad_conditions_name_the_path(raw: Any, path: str, words: str) -> None:
    issues = _issues(raw)
    assert list(issues) == [path], issues
    assert words in issues[path]


def test_every_problem_is_reported_at_once() -> None:
    raw = {"attribute": "", "operator": "in", "value": [{}, 1, []], "type": "condition"}
    assert sorted(_issues(raw)) == [
        f"{P}.attribute",
        f"{P}.type",
        f"{P}.value.0",
        f"{P}.value.2",
    ]


def test_other_keys_are_left_to_the_caller() -> None:
    raw = {"type": "condition", "attribute": "a", "operator": "exists"}
    assert check_condition(raw, "meta", CONDITION_OPERATORS, other_keys=("type",)) == []
