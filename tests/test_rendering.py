"""Liquid rendering: bounded in memory, and failing only with TemplateError (issue 12).

The send activity fails a message and moves on only on TemplateError; anything else it
retries for ever, so every way a template can go wrong must come out as one.
"""

import functools
import time
import tracemalloc
from collections.abc import Mapping
from typing import Any

import pytest
from liquid import Environment
from liquid.exceptions import LiquidError

from journeys import rendering

PEAK_BYTES = 20_000_000
SECONDS = 5.0


def refused(source: str, scope: Mapping[str, Any] | None = None) -> str:
    """The TemplateError's message; the render must have failed fast and allocated little."""
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    before, _ = tracemalloc.get_traced_memory()
    started = time.monotonic()
    try:
        with pytest.raises(rendering.TemplateError) as caught:
            rendering.render(source, scope or {})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not tracing:
            tracemalloc.stop()
    assert time.monotonic() - started < SECONDS
    assert peak - before < PEAK_BYTES
    return str(caught.value)


ORDINARY = [
    "Hi {{ customer.first_name | capitalize }}, you have {{ customer.points }} points.",
    "{{ customer.points | times: 2 | plus: 1 }} {{ 7 | divided_by: 2 }} {{ 1.25 | round: 1 }}",
    '{{ "a,b,c" | split: "," | reverse | join: "-" }} {{ customer.tags | sort | first }}',
    "{% for i in (1..5) %}{% if i == 4 %}{% break %}{% endif %}{{ i }}{% endfor %}",
    "{% for i in (1..10000) %}{% endfor %}{{ (1..10000) | size }} {{ (3..1) | size }}",
    "{% assign n = customer.points | minus: 5 %}{% if n > 10 %}big{% else %}small{% endif %}",
    '{% case customer.tier %}{% when "gold", "silver" %}shiny{% else %}plain{% endcase %}',
    '{{ "2024-05-06" | date: "%d/%m/%Y" }} {{ event.data.total | default: "none" }}',
    "{% capture c %}{{ place.name | upcase }}!{% endcapture %}{{ c | append: c | size }}",
    '{{ customer.bio | truncate: 12 }} {{ "<b>x</b>" | strip_html | escape }} {{ nope }}',
    "{% tablerow t in customer.tags cols: 2 %}{{ t }}{% endtablerow %}",
    '{% liquid\nfor t in customer.tags\necho t | replace: "a", "A"\nendfor %}',
]
SCOPE = {
    "customer": {
        "first_name": "ada",
        "points": 42,
        "tier": "gold",
        "tags": ["beta", "alpha", "gamma"],
        "bio": "Mathematician and writer",
    },
    "event": {"data": {"total": 0}},
    "place": {"name": "Demo"},
}


@pytest.mark.parametrize("source", ORDINARY)
def test_ordinary_templates_render_as_plain_liquid_does(source: str) -> None:
    assert rendering.check(source) is None
    assert rendering.render(source, SCOPE) == Environment().from_string(source).render(**SCOPE)


def test_the_issue_s_range_join_is_refused_at_save_and_at_render() -> None:
    source = "Hi\n{{ (1..10000000) | join }}"
    assert rendering.check(source) == "line 2: range (1..10000000) has more than 10000 items"
    assert refused(source) == "line 2: range (1..10000000) has more than 10000 items"


# Ranges are lazy in python-liquid, but filters and `for ... reversed` make lists of them,
# so a range longer than the loop limit is refused wherever it is written.
LONG = "(1..10001)"


@pytest.mark.parametrize(
    "source",
    [
        f"{{{{ {LONG} }}}}",
        f'{{{{ "x" | append: {LONG} }}}}',
        f"{{% assign a = {LONG} %}}",
        f"{{% for i in {LONG} limit: 1 %}}{{% endfor %}}",
        f"{{% tablerow i in {LONG} limit: 1 %}}{{% endtablerow %}}",
        f"{{% if false %}}{{% elsif {LONG} contains 5 %}}{{% endif %}}",
        f"{{% case 1 %}}{{% when 2, {LONG} %}}{{% endcase %}}",
        f"{{% cycle {LONG}, 2 %}}",
        f"{{% capture c %}}{{{{ {LONG} | size }}}}{{% endcapture %}}",
        f"{{% liquid\necho {LONG} %}}",
    ],
)
def test_a_literal_range_past_the_limit_is_refused_wherever_it_is(source: str) -> None:
    problem = rendering.check(source)
    assert problem is not None and "has more than 10000 items" in problem
    assert refused(source) == problem


@pytest.mark.parametrize(
    ("source", "points"),
    [
        ("{{ (1..customer.points) | join }}", 10_000_000),
        ("{% for i in (1..customer.points) reversed %}{% endfor %}", 10_000_000),
        ("{% assign all = (0..customer.points) %}{{ all | sort | last }}", 10_000),
        ("{{ (1..customer.points) | size }}", 10**30),  # len() of it overflows
    ],
)
def test_a_range_long_from_the_data_is_refused_at_render(source: str, points: int) -> None:
    assert rendering.check(source) is None
    message = refused(f"Hi\n{source}", {"customer": {"points": points}})
    assert message.startswith("line 2: range (") and "has more than 10000 items" in message


BIG = "x" * 60_000

GROWING = [
    # Doubling a string, a list, an integer in a loop; each step is a filter's result.
    (
        '{% assign a = "x" %}{% for i in (1..30) %}{% assign a = a | append: a %}{% endfor %}',
        {},
        "append: the result has more than 100000 characters",
    ),
    (
        "{% assign n = 10 %}{% for i in (1..30) %}{% assign n = n | times: n %}{% endfor %}",
        {},
        "times: the result has more than 1000 digits",
    ),
    # The same big string many times in a list costs nothing until printed or joined.
    (
        '{% assign l = s | split: "," %}{% for i in (1..20) %}{% assign l = l | concat: l %}'
        "{% endfor %}{{ l | join }}",
        {"s": BIG},
        "concat: the result has more than 100000 characters and items",
    ),
    ("{{ s | append: s | append: s }}", {"s": BIG}, "append: the result has more than"),
    ("{{ s | replace: 'x', s }}", {"s": BIG}, "replace: the result could have more than"),
    ('{{ s | replace: "", s }}', {"s": "x" * 1_000}, "replace: the result could have"),
    ("{{ s | split: '' | size }}", {"s": BIG}, "split: the result could have more than 10000"),
    ("{{ l | join: s }}", {"l": list(range(10_000)), "s": "-" * 100}, "join: the result could"),
    ('{{ "2024-01-01" | date: s }}', {"s": "%255Y" * 100}, "date: the result could have"),
    ("{{ s | escape }}", {"s": "&" * 60_000}, "escape: the result has more than 100000"),
    ("{{ s | upcase }}", {"s": "x" * 100_001}, "upcase: a value has more than 100000"),
    ("{{ l | size }}", {"l": [1] * 10_001}, "size: a value has more than 10000 items"),
]


@pytest.mark.parametrize(("source", "scope", "expected"), GROWING)
def test_filter_results_are_bounded(
    source: str, scope: Mapping[str, Any], expected: str | None
) -> None:
    message = refused(f"Hi\n{source}", scope)
    assert message.startswith("line 2: ")
    assert expected is None or expected in message


def test_filters_within_the_limits_still_work() -> None:
    source = "{{ s | append: s | size }} {{ l | join: ',' | size }} {{ s | split: '' | size }}"
    scope = {"s": "x" * 5_000, "l": list(range(10_000))}
    assert rendering.render(source, scope) == "10000 48889 5000"


def nested(depth: int) -> list[Any]:
    return functools.reduce(lambda inner, _: [inner], range(depth), [])


class Exhausting:
    """Stands in for data that runs the worker out of memory when printed."""

    def __str__(self) -> str:
        raise MemoryError


# Inputs that made python-liquid 2.3 raise Python's own exceptions, which the send activity
# would have retried for ever; the comment names the exception each one raised.
PYTHON_ERRORS = [
    ('{{ "inf" | ceil }}', {}, "ceil: cannot convert float infinity"),  # OverflowError
    ('{{ "inf" | round }}', {}, "round: cannot convert float infinity"),  # OverflowError
    ('{{ "nan" | floor }}', {}, "floor: cannot convert float NaN"),  # ValueError
    ('{{ "inf" | minus: "inf" }}', {}, "minus: not a number"),  # decimal.InvalidOperation
    ('{{ "inf" | times: 0.5 | modulo: 2.5 }}', {}, "modulo: not a number"),  # InvalidOperation
    ("{{ l | sum }}", {"l": [1, "a"]}, "sum: not a number"),  # InvalidOperation
    ("{{ n | divided_by: 2.0 }}", {"n": 10**400}, "divided_by: int too large"),  # OverflowError
    ("{{ n | times: 1.5 }}", {"n": 10**5000}, "times: a value has more than 1000"),  # ValueError
    ("{{ l | join }}", {"l": [10**5000]}, "join: a number too long"),  # ValueError
    ('{{ "²" | date: "%Y" }}', {}, "date: invalid literal"),  # ValueError
    ('{{ "99999999999999999999" | date: "%Y" }}', {}, "date: timestamp out of range"),
    ('{{ "99999999999999999999 Jan" | date: "%Y" }}', {}, "date: Python int too large"),
    ('{{ "/w==" | base64_decode }}', {}, "base64_decode: 'utf-8' codec"),  # UnicodeDecodeError
    ("{{ s | url_encode }}", {"s": "\ud800"}, "url_encode: 'utf-8' codec"),  # UnicodeEncodeError
    # Outside any filter: printing, comparing, cycling data.
    ("{{ n }}", {"n": 10**5000}, "a number too long to write out"),  # ValueError
    ("{% cycle n, 2 %}", {"n": 10**5000}, "a number too long to write out"),  # ValueError
    ("{% if s contains n %}{% endif %}", {"s": "a", "n": 10**5000}, "a number too long"),
    ("{% if d contains l %}{% endif %}", {"d": {}, "l": []}, "unhashable type: 'list'"),
    ("{{ d }}", {"d": nested(5_000)}, "data nested too deeply"),  # RecursionError
    ("{% if a == b %}{% endif %}", {"a": nested(5_000), "b": nested(5_000)}, "nested too"),
    ("{{ x }}", {"x": Exhausting()}, "out of memory"),  # MemoryError
]


@pytest.mark.parametrize(("source", "scope", "expected"), PYTHON_ERRORS)
def test_python_exceptions_become_template_errors_with_the_line(
    source: str, scope: Mapping[str, Any], expected: str
) -> None:
    with pytest.raises(rendering.TemplateError) as caught:
        rendering.render(f"Hi\n{source}", scope)
    assert str(caught.value).startswith("line 2: ")
    assert expected in str(caught.value)


def test_an_error_inside_a_block_names_its_own_line() -> None:
    source = "{% for i in (1..2) %}\n{% if true %}\n\n  {{ n }}{% endif %}{% endfor %}"
    with pytest.raises(rendering.TemplateError, match=r"^line 4: a number too long"):
        rendering.render(source, {"n": 10**5000})
    with pytest.raises(rendering.TemplateError, match=r"^line 3: output stream limit"):
        rendering.render("{% for i in (1..30) %}\n\n{{ s }}{% endfor %}", {"s": BIG})


@pytest.mark.parametrize(("source", "scope", "expected"), PYTHON_ERRORS)
def test_plain_python_liquid_raises_python_exceptions_on_those(
    source: str, scope: Mapping[str, Any], expected: str
) -> None:
    # Keeps the cases above honest: each is one the library itself doesn't turn into a
    # LiquidError; one it starts to convert can go.
    with pytest.raises(Exception) as caught:
        Environment().from_string(source).render(**scope)
    assert not isinstance(caught.value, LiquidError)
