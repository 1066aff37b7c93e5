"""What API tests share: the places the fixtures make keys for, reading envelopes, importing
customers, recommendation trees."""

from typing import Any

PLACE = 42
OTHER_PLACE = 43
# A customer with an address on every channel, as the template tests store or describe her.
ANA = {
    "email": "ana@example.com",
    "phone": "+14155550123",
    "push_tokens": ["device-1"],
    "attributes": {"first_name": "Ana", "points": 1200},
}


def only(envelope: dict[str, Any], kind: str) -> dict[str, Any]:
    """The single item of a response envelope of `kind`."""
    items = envelope[f"node.{kind}"]
    assert len(items) == 1, items
    (item,) = items.values()
    return item


def classified(customer_id, classification, **fields):
    return {
        "id": customer_id,
        "attributes": {"account": {"classification": classification}},
        **fields,
    }


async def import_customers(api, customers, place=PLACE, headers=None):
    response = await api.post(f"/places/{place}/customers/import", json=customers, headers=headers)
    assert response.status_code == 200, response.text


def rec(type_, category, data, children=(), **fields):
    return {
        "type": type_,
        "category": category,
        "rationale": fields.pop("rationale", f"{type_} a {category}"),
        "data": data,
        "children": list(children),
        **fields,
    }
