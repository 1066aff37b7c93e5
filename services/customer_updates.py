"""What an `update_customer` step changes: its values rendered for the customer, and the
profile an upsert applies — shared by the activity that applies it and the simulation that
shows it."""

import copy
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from journeys import rendering
from journeys.schemas import issues_from
from services.customers import CustomerProfile
from store.tables import Customer

ATTRIBUTES = "attributes."
ONE_OUTPUT = re.compile(r"\s*\{\{[^{}]*\}\}\s*")
# How long a value may be in a step's detail.
SHOWN = 60


class NotApplied(Exception):
    """The step can't change the customer as written (a value that fails to render, or is
    not a valid email address, phone or zone): it changes nothing and says why."""


def rendered(assign: Mapping[str, Any], scope: Mapping[str, Any]) -> dict[str, Any]:
    """The values to set: strings rendered as Liquid with what a message sees, the others as
    written. A value that is one `{{ … }}` and renders as a number, true, false or null is
    that (`{{ customer.visits | plus: 1 }}` stays a number conditions can compare); any
    other renders as text."""
    values: dict[str, Any] = {}
    for path, value in assign.items():
        if not isinstance(value, str):
            values[path] = value
            continue
        try:
            text = rendering.render(value, scope)
        except rendering.TemplateError as error:
            raise NotApplied(f"set.{path} does not render: {error}") from None
        values[path] = _typed(text) if ONE_OUTPUT.fullmatch(value) else text
    return values


def _typed(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if value is None or isinstance(value, bool | int | float) else text


def profile(customer: Customer, values: Mapping[str, Any], unset: Sequence[str]) -> dict[str, Any]:
    """The profile (`store.customers.upsert`) that makes these changes: profile fields as
    they are, attributes as their new top-level values (a nested path changes a copy of its
    top-level object; null removes a top-level attribute). Profile fields are checked as the
    API checks them."""
    changes: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for path in unset:
        if path.startswith(ATTRIBUTES):
            _remove(customer.attributes, attributes, path[len(ATTRIBUTES) :].split("."))
        else:
            changes[path] = None
    for path, value in values.items():
        if path.startswith(ATTRIBUTES):
            _put(customer.attributes, attributes, path[len(ATTRIBUTES) :].split("."), value)
        else:
            changes[path] = value
    fields = {key: value for key, value in changes.items() if value is not None}
    try:
        CustomerProfile.model_validate(fields)
    except ValidationError as error:
        problems = "; ".join(f"{i.path} {i.message}" for i in issues_from(error.errors()))
        raise NotApplied(problems) from None
    if attributes:
        changes["attributes"] = attributes
    return changes


def _top(stored: Mapping[str, Any], changed: dict[str, Any], name: str) -> Any:
    """The top-level attribute as this update has it so far."""
    return changed[name] if name in changed else copy.deepcopy(stored.get(name))


def _put(stored: Mapping[str, Any], changed: dict[str, Any], names: list[str], value: Any) -> None:
    if len(names) == 1:
        changed[names[0]] = value
        return
    top = _top(stored, changed, names[0])
    root = top if isinstance(top, dict) else {}
    node = root
    for name in names[1:-1]:
        child = node.get(name)
        node[name] = child if isinstance(child, dict) else {}
        node = node[name]
    node[names[-1]] = value
    changed[names[0]] = root


def _remove(stored: Mapping[str, Any], changed: dict[str, Any], names: list[str]) -> None:
    if len(names) == 1:
        changed[names[0]] = None
        return
    top = _top(stored, changed, names[0])
    node = top
    for name in names[1:-1]:
        node = node.get(name) if isinstance(node, dict) else None
    if isinstance(node, dict) and names[-1] in node:
        del node[names[-1]]
        changed[names[0]] = top


def described(values: Mapping[str, Any], unset: Sequence[str]) -> str:
    """The change in a step's detail: `set attributes.tier = 'gold'; unset email`."""
    parts = [f"{path} = {_short(value)}" for path, value in values.items()]
    said = [f"set {', '.join(parts)}"] if parts else []
    if unset:
        said.append(f"unset {', '.join(unset)}")
    return "; ".join(said)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "\u2026"
