"""Liquid templates: checked when a template is saved, rendered when a message is sent.

Liquid is sandboxed by construction (no attribute access beyond the data given, no code);
the limits below also bound what a template can cost to render: no range, loop or filter
result can grow past them, so a render allocates a few MB at most. Whatever goes wrong,
`render` raises `TemplateError` and nothing else: the send activity fails the message and
moves on, where any other exception would be retried for ever.
"""

import contextlib
import decimal
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TextIO

from liquid import BoundTemplate, Environment, RenderContext, soft_str
from liquid.ast import Node
from liquid.builtin.expressions.primitive import Literal, RangeLiteral
from liquid.exceptions import (
    FilterArgumentError,
    LiquidError,
    LiquidInterrupt,
    ResourceLimitError,
    StopRender,
)
from liquid.expression import Expression
from liquid.filter import flatten
from liquid.undefined import Undefined

MAX_ITEMS = 10_000
"""Items in a range, in a list a filter takes or makes, and iterations of all loops."""

MAX_CHARS = 100_000
"""Characters of a string a filter takes or makes (and of the strings in a list it makes),
and bytes of all a template's variables: a value bigger than that couldn't be kept anyway."""

MAX_DIGITS = 1_000
"""Digits of an integer a filter makes: far more than any real quantity, and far fewer than
Python refuses to print (4300)."""
_LARGEST_INT = 10**MAX_DIGITS


class TemplateError(Exception):
    """A template that can't be parsed or rendered; the message names the line, `field`
    (when known) the template's field."""

    field: str | None = None


class _BoundedRange(RangeLiteral):
    """A range literal that refuses to be longer than MAX_ITEMS. Ranges are lazy, but a
    filter (`join`, `sort`, ...) or `for ... reversed` turns one into a list."""

    __slots__ = ()

    def evaluate(self, context: RenderContext) -> range:
        return self._bounded(super().evaluate(context))

    async def evaluate_async(self, context: RenderContext) -> range:
        return self._bounded(await super().evaluate_async(context))

    def _bounded(self, items: range) -> range:
        if items.stop - items.start > MAX_ITEMS:
            raise ResourceLimitError(
                f"range {self} has more than {MAX_ITEMS} items", token=self.token
            )
        return items


def _expressions(template: BoundTemplate, static: RenderContext) -> Iterator[Expression]:
    """Every expression in `template`, found the way python-liquid's static analysis does."""
    nodes: list[Node] = list(template.nodes)
    while nodes:
        node = nodes.pop()
        nodes.extend(node.children(static, include_partials=False))
        expressions = list(node.expressions())
        while expressions:
            expression = expressions.pop()
            yield expression
            expressions.extend(expression.children())


class _Template(BoundTemplate):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        static = RenderContext(self)
        for expression in _expressions(self, static):
            if type(expression) is RangeLiteral:
                # python-liquid's parser builds RangeLiteral itself, with no hook to
                # choose the class; _BoundedRange only adds a check, same slots.
                expression.__class__ = _BoundedRange
                if isinstance(expression.start, Literal) and isinstance(expression.stop, Literal):
                    # Too long whatever the data: refuse it when the template is saved.
                    expression.evaluate(static)


def _reason(error: Exception) -> str:
    """What went wrong, in words for whoever wrote the template."""
    if isinstance(error, RecursionError):
        return "data nested too deeply"
    if isinstance(error, MemoryError):
        return "out of memory"
    if isinstance(error, decimal.DecimalException):
        return "not a number, or arithmetic with no result (such as infinity minus infinity)"
    text = str(error)
    if isinstance(error, ValueError) and "integer string conversion" in text:
        return "a number too long to write out"
    return text or type(error).__name__


@contextlib.contextmanager
def _positioned(node: Node) -> Iterator[None]:
    """Errors raised while `node` renders carry its position; Python's own become Liquid's."""
    try:
        yield
    except LiquidError as error:
        if error.token is None:
            error.token = node.token
        raise
    except (LiquidInterrupt, StopRender):
        raise
    except Exception as error:
        raise LiquidError(_reason(error), token=node.token) from error


def _guarded(node_class: type[Node]) -> type[Node]:
    """`node_class` whose render gives any error the node's position: python-liquid leaves
    Python's own exceptions (from printing or comparing data) as they are, without one."""

    def render(self: Node, context: RenderContext, buffer: TextIO) -> int:
        with _positioned(self):
            return node_class.render(self, context, buffer)

    async def render_async(self: Node, context: RenderContext, buffer: TextIO) -> int:
        with _positioned(self):
            return await node_class.render_async(self, context, buffer)

    return type(
        node_class.__name__,
        (node_class,),
        {"__slots__": (), "render": render, "render_async": render_async},
    )


def _over(count: int, limit: int, noun: str) -> str | None:
    return f"more than {limit} {noun}" if count > limit else None


def _too_big(value: object) -> str | None:
    if isinstance(value, str):
        return _over(len(value), MAX_CHARS, "characters")
    if isinstance(value, range):
        return _over(value.stop - value.start, MAX_ITEMS, "items")  # len() can overflow
    if isinstance(value, (list, tuple)):
        return _over(len(value), MAX_ITEMS, "items")
    if isinstance(value, int) and abs(value) >= _LARGEST_INT:
        return f"more than {MAX_DIGITS} digits"
    return None


def _weight(value: object) -> int:
    """Characters of the strings in `value` plus its items, counted only up to just past
    MAX_CHARS: a list can hold the same big string (or list) many times over for free, and
    printing or joining it would write it out each time."""
    weight, pending = 0, [value]
    while pending and weight <= MAX_CHARS:
        item = pending.pop()
        if isinstance(item, str):
            weight += len(item)
        elif isinstance(item, (list, tuple)):
            weight += max(len(item), 1)
            pending.extend(item)
        elif isinstance(item, Mapping):
            weight += max(len(item), 1)
            pending.extend(item.values())
        else:
            weight += 1
    return weight


def _text(value: object) -> str:
    """`value` as python-liquid's string filters see it."""
    return "" if value is None else str(value)


def _join_result(items: object, separator: object = " ", *_: object, **__: object) -> str | None:
    # The same coercion as join's own (sequence_filter), to count what it will join.
    flat: Sequence[object]
    if isinstance(items, (list, tuple)):
        flat = flatten(items)
    elif isinstance(items, range):
        flat = items
    else:
        flat = [items]
    strings = sum(len(item) for item in flat if isinstance(item, str))
    size = strings + len(soft_str(separator)) * max(len(flat) - 1, 0)
    return _over(size, MAX_CHARS, "characters")


def _replace_result(
    value: object, old: object = "", new: object = "", *_: object, **__: object
) -> str | None:
    text, old, new = _text(value), soft_str(old), soft_str(new)
    return _over(len(text) + text.count(old) * (len(new) - len(old)), MAX_CHARS, "characters")


def _split_result(value: object, separator: object = None, *_: object, **__: object) -> str | None:
    text = _text(value)
    if separator is None or isinstance(separator, Undefined) or separator == "":
        return _over(len(text), MAX_ITEMS, "items")
    if soft_str(separator) == " ":
        return None  # on runs of whitespace: one item per two characters at most, checked after
    return _over(text.count(soft_str(separator)) + 1, MAX_ITEMS, "items")


def _date_result(value: object, pattern: object = "", *_: object, **__: object) -> str | None:
    # CPython's strftime lets each character of the format grow 256 times ("%255Y").
    return _over(256 * len(soft_str(pattern)), MAX_CHARS, "characters")


# Filters whose result can be far bigger than their inputs: sized before they run.
_RESULTS: dict[str, Callable[..., str | None]] = {
    "join": _join_result,
    "replace": _replace_result,
    "split": _split_result,
    "date": _date_result,
}


def _bounded(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` that refuses inputs and results past the limits above, and turns Python's
    own exceptions into Liquid errors (FilterArgumentError: python-liquid gives that one the
    filter's position)."""
    result_of = _RESULTS.get(name)

    @functools.wraps(function)  # keeps with_context / with_environment
    def bounded(value: object, *args: object, **kwargs: object) -> object:
        for given in (value, *args, *kwargs.values()):
            problem = _too_big(given)
            if problem:
                raise FilterArgumentError(f"{name}: a value has {problem}", token=None)
        try:
            problem = result_of(value, *args, **kwargs) if result_of else None
            if problem:
                raise FilterArgumentError(f"{name}: the result could have {problem}", token=None)
            result = function(value, *args, **kwargs)
        except LiquidError:
            raise
        except Exception as error:
            raise FilterArgumentError(f"{name}: {_reason(error)}", token=None) from error
        problem = _too_big(result)
        if problem is None and isinstance(result, (list, tuple)) and _weight(result) > MAX_CHARS:
            problem = f"more than {MAX_CHARS} characters and items"
        if problem:
            raise FilterArgumentError(f"{name}: the result has {problem}", token=None)
        return result

    return bounded


class _Environment(Environment):
    loop_iteration_limit = MAX_ITEMS
    output_stream_limit = 1_000_000
    context_depth_limit = 30
    local_namespace_limit = MAX_CHARS
    template_class = _Template

    def setup_tags_and_filters(self, *, extra: bool = False) -> None:
        super().setup_tags_and_filters(extra=extra)
        for name, function in list(self.filters.items()):
            self.filters[name] = _bounded(name, function)
        for tag in self.tags.values():
            node_class = getattr(tag, "node_class", None)
            if node_class is not None:
                tag.node_class = _guarded(node_class)  # type: ignore[attr-defined]


_ENV = _Environment()
# Parsed templates kept, by their text (an edited template is parsed anew); texts longer
# than PARSED_CHARS are parsed each time, so what is kept stays a few MB at most.
PARSED_KEPT = 128
PARSED_CHARS = 32_000


def _describe(error: LiquidError, source: str) -> str:
    token = error.token
    index = token.start_index if token is not None else -1
    line = source.count("\n", 0, index) + 1 if index >= 0 else source.count("\n") + 1
    return f"line {line}: {error.message}"


def check(source: str) -> str | None:
    """None if `source` is valid Liquid, else what is wrong and on which line."""
    try:
        _ENV.from_string(source)
    except LiquidError as error:
        return _describe(error, source)
    except Exception as error:
        return _reason(error)
    return None


@functools.lru_cache(maxsize=PARSED_KEPT)
def _kept(source: str) -> BoundTemplate:
    return _ENV.from_string(source)


def _parsed(source: str) -> BoundTemplate:
    """A template's text parsed once: every send of a template renders the same text, and
    parsing costs more than rendering (a parsed template holds no state of a render)."""
    return _kept(source) if len(source) <= PARSED_CHARS else _ENV.from_string(source)


def render(source: str, scope: Mapping[str, Any]) -> str:
    try:
        return _parsed(source).render(**scope)
    except LiquidError as error:
        raise TemplateError(_describe(error, source)) from error
    except Exception as error:
        # The nodes and filters above give errors a position; this is for what they can't.
        raise TemplateError(_reason(error)) from error


def customer_scope(
    customer_id: int, email: str | None, phone: str | None, attributes: Mapping[str, Any]
) -> dict[str, Any]:
    """`customer` in templates: its attributes at the top level (`{{ customer.first_name }}`),
    also under `attributes`; id, email and phone win over attributes of the same name."""
    return {
        **attributes,
        "id": customer_id,
        "email": email,
        "phone": phone,
        "attributes": dict(attributes),
    }


def event_scope(
    name: str, event_id: str | None, data: Mapping[str, Any], occurred_at: int | None
) -> dict[str, Any]:
    """`event` in templates: the trigger (or, in a preview, the event given)."""
    return {"name": name, "id": event_id, "data": dict(data), "occurredAt": occurred_at}


def message_scope(
    customer: Mapping[str, Any],
    event: Mapping[str, Any] | None,
    journey: Mapping[str, Any] | None,
    place: Mapping[str, Any],
    unsubscribe_url: str,
) -> dict[str, Any]:
    """Everything a message's template sees: `customer` (`customer_scope`), `event`,
    `journey`, `place` and `unsubscribe_url` — for a send, and for a preview alike."""
    return {
        "unsubscribe_url": unsubscribe_url,
        "customer": customer,
        "event": dict(event or {}),
        "journey": dict(journey or {}),
        "place": dict(place),
    }


def render_message(
    subject: str | None, title: str | None, body: str, scope: Mapping[str, Any]
) -> dict[str, str]:
    """A template's fields rendered for one customer (a `TemplateError` says which field)."""
    fields = {"body": body, "subject": subject, "title": title}
    rendered = {}
    for name, source in fields.items():
        if source is None:
            continue
        try:
            rendered[name] = render(source, scope)
        except TemplateError as error:
            error.field = name
            raise
    return rendered
