"""Liquid templates: checked when a template is saved, rendered when a message is sent.

Liquid is sandboxed by construction (no attribute access beyond the data given, no code);
the limits below also bound what a template can cost to render.
"""

from collections.abc import Mapping
from typing import Any

from liquid import Environment
from liquid.exceptions import LiquidError


class _Environment(Environment):
    loop_iteration_limit = 10_000
    output_stream_limit = 1_000_000
    context_depth_limit = 30
    local_namespace_limit = 100_000


_ENV = _Environment()


class TemplateError(Exception):
    """A template that can't be parsed or rendered; the message names the line."""


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
    return None


def render(source: str, scope: Mapping[str, Any]) -> str:
    try:
        return _ENV.from_string(source).render(**scope)
    except LiquidError as error:
        raise TemplateError(_describe(error, source)) from error


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
