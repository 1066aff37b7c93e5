"""Segment membership in the database agrees with the Python oracle, on SQLite and PostgreSQL."""

import json
import math
from collections.abc import Callable, Iterator
from typing import Any

import hypothesis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeys.errors import NotFound
from store import segments
from store.tables import Customer, Segment
from tests.helpers.api import OTHER_PLACE, PLACE
from tests.helpers.store import Db, sid, statements
from workflows.model.operators import SEGMENT_OPERATORS, check_condition, evaluate

# Keys a rule can name: plain ones, and ones JSON escapes (non-ASCII, quote, backslash: SQLite
# reaches those through json_each), plus "0", which must never index an array.
KEYS = ["a", "b", "0", "x y", "é", "😀", 'q"k', "back\\slash"]
ORDERED = ("gt", "gte", "lt", "lte")
# Text PostgreSQL can store: no NUL, no lone surrogates.
TEXT = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
# Values one JSON type could be mistaken for another by: 1 / 1.0 / true / "1", null / "null",
# [1] / "[1]" (json_extract returns an array as its text), code-point order beyond the BMP,
# and integers a float cannot tell apart. Floats stay within ±2**53: beyond that PostgreSQL
# reads a float as the decimal in its JSON text (see store/segments.py); ints stay within the
# 64 bits SQLite integers hold.
CONFUSABLE_NUMBERS = [0, 1, 1.0, -1, 0.5, 2**53, 2**53 + 1, float(2**53), 2**63 - 1]
CONFUSABLE_STRINGS = ["", "1", "true", "null", "[1]", "{}", "a", "Z", "é", "😀", "\uffff"]
CONFUSABLE = [None, True, False, *CONFUSABLE_NUMBERS, *CONFUSABLE_STRINGS]
CONFUSABLE_COMPOSITES: list[Any] = [[1], [], {}, ["a"], {"a": 1}]


def mostly(pool: list[Any], rest: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Two draws in three from the small pool (so values collide), else from `rest`.

    A drawn index, not `|`: one_of flattens nested alternatives and would dilute the pool.
    """
    return st.integers(0, 2).flatmap(lambda i: st.sampled_from(pool) if i < 2 else rest)


keys = st.sampled_from(KEYS) | st.text(TEXT, min_size=1, max_size=3).filter(
    lambda s: "." not in s and s.strip()
)
numbers = mostly(
    CONFUSABLE_NUMBERS,
    st.integers(-(2**63), 2**63 - 1) | st.floats(-(2.0**53), 2.0**53, allow_nan=False),
)
strings = mostly(CONFUSABLE_STRINGS, st.text(TEXT, max_size=4))
scalars = mostly(CONFUSABLE, numbers | strings)


def objects(inner: st.SearchStrategy[Any], names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects that often share key names (so rules meet them), plus a few random keys."""
    shared = st.fixed_dictionaries({}, optional={key: inner for key in names})
    extra = st.dictionaries(keys, inner, max_size=2)
    return st.builds(lambda common, more: {**more, **common}, shared, extra)


values = st.recursive(
    mostly(CONFUSABLE + CONFUSABLE_COMPOSITES, scalars),
    lambda inner: st.lists(inner, max_size=3) | objects(inner, ["a", "é", "0"]),
    max_leaves=8,
)
attributes = objects(values, KEYS)
paths = st.lists(keys, min_size=1, max_size=3).map(".".join)


def nodes(attrs: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(path, value) of every node a rule can name, and traps that name none: `list.0` (an
    index is no key) and `scalar.a` (below a value that is not an object)."""
    for key, value in attrs.items():
        if "." in key or not key.strip():
            continue
        path = f"{prefix}{key}"
        yield path, value
        if isinstance(value, dict):
            yield from nodes(value, f"{path}.")
        elif isinstance(value, list):
            yield from ((f"{path}.{i}", item) for i, item in enumerate(value[:2]))
        else:
            yield f"{path}.a", value


def is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def is_ordered(value: Any) -> bool:
    return isinstance(value, int | float | str) and not isinstance(value, bool)


def lookalikes(value: Any) -> list[Any]:
    """Values of another JSON type that a careless compiler would take for `value`."""
    if value is None:
        return ["null", 0, False]
    if isinstance(value, bool):
        return [int(value), float(value), json.dumps(value)]
    if isinstance(value, int | float):
        twins: list[Any] = [json.dumps(value)]
        if value in (0, 1):
            twins.append(bool(value))
        if isinstance(value, int) and abs(value) <= 2**53:
            twins.append(float(value))
        return twins
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return []
        return [parsed] if is_scalar(parsed) and fits_backends(parsed) else []
    # json_extract returns an array or object as its (minified) JSON text.
    return [json.dumps(value, separators=(",", ":"))]


def fits_backends(value: Any) -> bool:
    """Numbers both backends read exactly (see CONFUSABLE_NUMBERS)."""
    if isinstance(value, float):
        return math.isfinite(value) and abs(value) <= 2**53
    if isinstance(value, int) and not isinstance(value, bool):
        return -(2**63) <= value < 2**63
    return True


def json_type(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return repr(value)
    return "number" if isinstance(value, int | float) else type(value).__name__


def balanced(items: list[Any], value: Callable[[Any], Any]) -> st.SearchStrategy[Any]:
    """One of `items`, with each JSON type of `value(item)` equally likely: rare types
    (booleans, null) would otherwise hardly ever be picked."""
    groups: dict[str, list[Any]] = {}
    for item in items:
        groups.setdefault(json_type(value(item)), []).append(item)
    return st.sampled_from(sorted(groups)).flatmap(lambda kind: st.sampled_from(groups[kind]))


@st.composite
def conditions(draw: st.DrawFn, people: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """A condition that mostly names a path the customers have, so that rules split them
    rather than take all or none, with values chosen to catch JSON-type confusion."""
    seen = [node for attrs in people.values() for node in nodes(attrs)]
    operator = draw(st.sampled_from(SEGMENT_OPERATORS))
    fits = is_ordered if operator in ORDERED else is_scalar
    real = [(path, value) for path, value in seen if fits(value)]
    twins = [(path, twin, value) for path, value in seen for twin in lookalikes(value)]
    twins = [twin for twin in twins if fits(twin[1])]
    made_up = st.tuples(paths, numbers | strings if operator in ORDERED else scalars)
    # Chosen by a drawn index rather than `|` (one_of flattens, drowning the first choices):
    # a customer's own path and value; the same path with a lookalike of another type; a
    # path someone has with a value from elsewhere; noise.
    options = []
    if real:
        options.append(balanced(real, lambda pair: pair[1]))
    if twins:
        options.append(balanced(twins, lambda twin: twin[2]).map(lambda twin: twin[:2]))
    if real:
        elsewhere = st.sampled_from([value for _, value in real])
        options.append(st.tuples(st.sampled_from([p for p, _ in seen]), elsewhere))
    options.append(made_up)
    path, value = draw(st.integers(0, len(options) - 1).flatmap(lambda i: options[i]))

    condition: dict[str, Any] = {"attribute": path, "operator": operator}
    if operator == "in":
        pool = [v for _, v in real] + [twin for _, twin, _ in twins]
        more = st.sampled_from(pool) | scalars if pool else scalars
        condition["value"] = [value, *draw(st.lists(more, max_size=3))]
    elif operator != "exists":
        condition["value"] = value
    assert check_condition(condition, "c", SEGMENT_OPERATORS) == []
    hits = sum(evaluate(a, path, operator, condition.get("value")) for a in people.values())
    share = "no" if not hits else "all" if hits == len(people) else "some"
    hypothesis.event(f"{operator} selects {share} customers")
    return condition


CUSTOMER_IDS = st.integers(1, 40)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[int, dict[str, Any]], list[dict[str, Any]]]:
    """Customers of the place and segments over them."""
    people = draw(st.dictionaries(CUSTOMER_IDS, attributes, min_size=8, max_size=20))
    rule = st.fixed_dictionaries(
        {
            "kind": st.just("rule"),
            "match": st.sampled_from(["all", "any"]),
            "conditions": st.lists(conditions(people), min_size=1, max_size=3),
        }
    )
    listed = st.sampled_from(sorted(people)) | CUSTOMER_IDS
    static = st.fixed_dictionaries(
        {"kind": st.just("static"), "members": st.lists(listed, unique=True, max_size=8)}
    )
    specs = draw(st.lists(rule | rule | static, min_size=2, max_size=6))
    return people, specs


EXAMPLES = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# --- the oracle -----------------------------------------------------------------------------


def oracle_members(spec: dict[str, Any], people: dict[int, dict[str, Any]]) -> set[int]:
    if spec["kind"] == "static":
        return set(spec["members"]) & people.keys()
    results = {
        customer_id: [
            evaluate(attrs, c["attribute"], c["operator"], c.get("value"))
            for c in spec["conditions"]
        ]
        for customer_id, attrs in people.items()
    }
    test = all if spec["match"] == "all" else any
    return {customer_id for customer_id, hits in results.items() if test(hits)}


def oracle_audience(
    members: dict[int, set[int]], everyone: set[int], include: list[int], exclude: list[int]
) -> set[int]:
    included = set().union(*(members[i] for i in include)) if include else everyone
    return included - set().union(*(members[i] for i in exclude))


# --- fixtures -------------------------------------------------------------------------------


# --- generated: the database agrees with the oracle -----------------------------------------


# Hypothesis stops shrinking after 300 s of a failure; let it, rather than the suite's
# 300 s timeout, have the last word, so that a failure reports its example.
@pytest.mark.timeout(900)
@EXAMPLES
@given(scenario=scenarios(), data=st.data())
async def test_membership_matches_the_oracle(
    db: Db,
    scenario: tuple[dict[int, dict[str, Any]], list[dict[str, Any]]],
    data: st.DataObject,
) -> None:
    people, specs = scenario
    made = await db.add(people, specs)
    try:
        members = {
            sid(s): oracle_members(spec, people) for s, spec in zip(made, specs, strict=True)
        }
        async with db.session() as session:
            for segment, spec in zip(made, specs, strict=True):
                expected = sorted(members[sid(segment)])
                share = (
                    "none" if not expected else "all" if len(expected) == len(people) else "some"
                )
                hypothesis.event(f"{spec['kind']} segment selects {share} of the customers")
                assert await segments.count_members(session, segment) == len(expected), spec
                page = await segments.page_members(session, segment, 0, 100)
                assert [c.id for c in page] == expected, spec
                assert {c.place_id for c in page} <= {PLACE}
                window = await segments.page_members(session, segment, 1, 2)
                assert [c.id for c in window] == expected[1:3]
                # The complement: every clause must be true or false, never NULL, or NOT
                # (exclude, ne) would drop customers.
                others = await segments.count_audience(session, PLACE, [], [sid(segment)])
                assert others == len(people) - len(expected), spec

            ids = [sid(s) for s in made]
            include = data.draw(st.lists(st.sampled_from(ids), max_size=3), label="include")
            exclude = data.draw(st.lists(st.sampled_from(ids), max_size=2), label="exclude")
            expected_audience = sorted(oracle_audience(members, set(people), include, exclude))
            count = await segments.count_audience(session, PLACE, include, exclude)
            assert count == len(expected_audience)

            paged: list[int] = []
            after: int | None = None
            while page_ids := await segments.audience_page(
                session, PLACE, include, exclude, after, 3
            ):
                assert len(page_ids) <= 3
                paged += page_ids
                after = page_ids[-1]
            assert paged == expected_audience

            for customer_id in data.draw(st.lists(CUSTOMER_IDS, max_size=4), label="probes"):
                matches = await segments.customer_matches(
                    session, PLACE, customer_id, include, exclude
                )
                assert matches is (customer_id in expected_audience), customer_id
    finally:
        await db.clear()


# --- chosen cases ---------------------------------------------------------------------------

EDGE_PEOPLE: dict[int, dict[str, Any]] = {
    1: {"n": 1, "s": "1", "b": True, "z": None, "list": [5], "o": {"0": "zero"}},
    2: {"n": 1.0, "s": "\uffff", "b": 1, "list": {"0": 5}, "é": {"ü": "x"}},
    3: {"n": 2**53 + 1, "s": "😀", "b": False, "z": 0, 'q"k': {"back\\slash": 2}},
    4: {"n": "1", "s": "Z", "b": "true", "z": "null", "o": "scalar"},
    5: {},
}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"attribute": "n", "operator": "eq", "value": 1}, {1, 2}),
        ({"attribute": "n", "operator": "eq", "value": "1"}, {4}),
        ({"attribute": "n", "operator": "gt", "value": float(2**53)}, {3}),
        ({"attribute": "n", "operator": "lte", "value": 1}, {1, 2}),
        ({"attribute": "s", "operator": "gt", "value": "\uffff"}, {3}),
        ({"attribute": "s", "operator": "lt", "value": "a"}, {1, 4}),
        ({"attribute": "b", "operator": "eq", "value": True}, {1}),
        ({"attribute": "b", "operator": "eq", "value": 1}, {2}),
        ({"attribute": "b", "operator": "in", "value": [False, "true"]}, {3, 4}),
        ({"attribute": "b", "operator": "gt", "value": 0}, {2}),
        ({"attribute": "z", "operator": "eq", "value": None}, {1}),
        ({"attribute": "z", "operator": "ne", "value": None}, {2, 3, 4, 5}),
        ({"attribute": "z", "operator": "exists"}, {3, 4}),
        ({"attribute": "list.0", "operator": "exists"}, {2}),
        ({"attribute": "list", "operator": "eq", "value": 5}, set()),
        ({"attribute": "list", "operator": "eq", "value": "[5]"}, set()),
        ({"attribute": "o", "operator": "in", "value": ['{"0":"zero"}', "scalar"]}, {4}),
        ({"attribute": "list", "operator": "ne", "value": 5}, {1, 2, 3, 4, 5}),
        ({"attribute": "o.0", "operator": "eq", "value": "zero"}, {1}),
        ({"attribute": "é.ü", "operator": "eq", "value": "x"}, {2}),
        ({"attribute": 'q"k.back\\slash', "operator": "gte", "value": 2}, {3}),
        ({"attribute": "missing", "operator": "ne", "value": 1}, {1, 2, 3, 4, 5}),
    ],
)
async def test_chosen_cases(db: Db, condition: dict[str, Any], expected: set[int]) -> None:
    spec = {"kind": "rule", "match": "all", "conditions": [condition]}
    assert oracle_members(spec, EDGE_PEOPLE) == expected
    (segment,) = await db.add(EDGE_PEOPLE, [spec])
    async with db.session() as session:
        page = await segments.page_members(session, segment, 0, 10)
        assert {c.id for c in page} == expected


async def test_empty_rules_and_empty_include(db: Db) -> None:
    people: dict[int, dict[str, Any]] = {1: {}, 2: {"a": 1}}
    every, no_one = await db.add(
        people,
        [
            {"kind": "rule", "match": "all", "conditions": []},
            {"kind": "rule", "match": "any", "conditions": []},
        ],
    )
    async with db.session() as session:
        assert await segments.count_members(session, every) == 2
        assert await segments.count_members(session, no_one) == 0
        assert await segments.count_audience(session, PLACE, [], []) == 2
        assert await segments.count_audience(session, PLACE, [], [sid(no_one)]) == 2
        assert await segments.count_audience(session, PLACE, [sid(no_one)], []) == 0
        assert await segments.audience_page(session, PLACE, [], [sid(every)], None, 10) == []


async def test_static_members_count_only_customers_of_the_place(db: Db) -> None:
    (segment,) = await db.add({1: {}, 2: {}}, [{"kind": "static", "members": [2, 3, 4]}])
    async with db.session() as session:
        # Customer 3 exists in another place only (a decoy added below); 4 nowhere.
        session.add(Customer(place_id=OTHER_PLACE, id=3, attributes={}))
        await session.commit()
        assert await segments.count_members(session, segment) == 1
        assert [c.id for c in await segments.page_members(session, segment, 0, 10)] == [2]
        assert await segments.customer_matches(session, PLACE, 2, [sid(segment)], [])
        assert not await segments.customer_matches(session, PLACE, 3, [sid(segment)], [])
        assert not await segments.customer_matches(session, PLACE, 1, [sid(segment)], [])


async def test_unknown_and_foreign_segments_are_not_found(db: Db) -> None:
    (mine,) = await db.add({1: {}}, [{"kind": "static", "members": [1]}])
    async with db.session() as session:
        theirs = Segment(place_id=OTHER_PLACE, name="theirs", kind="static")
        session.add(theirs)
        await session.commit()
        assert theirs.id is not None and mine.id is not None
        missing = theirs.id + 1000
        with pytest.raises(NotFound) as raised:
            await segments.count_audience(session, PLACE, [mine.id, theirs.id], [missing])
        assert raised.value.message == (
            f"Segments {theirs.id}, {missing} were not found in place {PLACE}."
        )
        with pytest.raises(NotFound, match=f"Segment {theirs.id} was not found"):
            await segments.customer_matches(session, PLACE, 1, [], [theirs.id])


async def test_counting_members_is_one_query(db: Db) -> None:
    spec = {
        "kind": "rule",
        "match": "any",
        "conditions": [
            {"attribute": "é.ü", "operator": "eq", "value": "x"},
            {"attribute": "n", "operator": "gte", "value": 2},
            {"attribute": "s", "operator": "in", "value": ["a", 1, None]},
        ],
    }
    (segment,) = await db.add({1: {"n": 3}, 2: {"é": {"ü": "x"}}, 3: {"s": None}, 4: {}}, [spec])
    async with db.session() as session:
        with statements(db.engine) as seen:
            assert await segments.count_members(session, segment) == 3
        assert len([s for s in seen if s.lstrip().upper().startswith("SELECT")]) == 1, seen
