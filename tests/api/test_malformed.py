"""Malformed input never yields a 5xx: every case below answers a 4xx with the error body."""

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.helpers.api import PLACE, only

BASE = f"/places/{PLACE}/journeys"
ONE = BASE + "/{journey}"  # {journey}: an existing, non-manual journey
KIND = "journey_definition"
CREATE = {"name": "x", "trigger_event": "order.created"}
MIB = 1024 * 1024
TOO_BIG = 16 * MIB + 1


class Prefix(str):
    """An expected detail path that only has to start with this."""


def raw(content: str | bytes, content_type: str = "application/json") -> dict[str, Any]:
    data = content.encode() if isinstance(content, str) else content
    return {"content": data, "headers": {"content-type": content_type}}


def create_with(**fields: Any) -> dict[str, Any]:
    return {"json": {**CREATE, **fields}}


def config_with(meta_json: str) -> dict[str, Any]:
    """A create body (as text) whose one step has `meta_json` as its meta."""
    return raw(
        '{"name": "x", "trigger_event": "order.created", "machine_config": {"initial": "s", '
        f'"states": {{"s": {{"meta": {meta_json}, "on": {{"DONE": "d"}}}}, '
        '"d": {"type": "final"}}}}'
    )


def nested_objects(depth: int) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for _ in range(depth):
        document = {"a": document}
    return document


async def _stream(size: int) -> AsyncIterator[bytes]:
    # Sent without a Content-Length, so the limit must hold while the body streams in.
    for _ in range(size // MIB):
        yield b" " * MIB
    yield b" " * (size % MIB)


def case(
    case_id: str,
    method: str,
    url: str,
    kwargs: dict[str, Any] | Callable[[], dict[str, Any]],
    where: str,
    words: str,
    status: int = 422,
) -> tuple[Any, ...]:
    return case_id, method, url, kwargs, status, where, words


CASES = [
    # invalid JSON
    case("truncated", "POST", BASE, raw('{"name": "x",'), "body", "is not valid JSON"),
    case("trailing-data", "POST", BASE, raw('{"name": "x"} {}'), "body", "is not valid JSON"),
    case("single-quotes", "POST", BASE, raw("{'name': 'x'}"), "body", "is not valid JSON"),
    case("byte-order-mark", "POST", BASE, raw(b"\xef\xbb\xbf{}"), "body", "is not valid JSON"),
    case("raw-control-char", "POST", BASE, raw(b'{"name": "a\x00b"}'), "body", "not valid JSON"),
    case("invalid-json-put", "PUT", ONE, raw("{"), "body", "is not valid JSON"),
    case("invalid-json-stop", "POST", ONE + "/stop", raw("{"), "body", "is not valid JSON"),
    # wrong types
    case("name-a-number", "POST", BASE, create_with(name=5), "name", "must be a string"),
    case("name-a-list", "POST", BASE, create_with(name=["x"]), "name", "must be a string"),
    case("name-null", "POST", BASE, create_with(name=None), "name", "must be a string"),
    case("name-blank", "POST", BASE, create_with(name="  "), "name", "must not be blank"),
    case("name-too-long", "POST", BASE, create_with(name="x" * 256), "name", "at most 255"),
    case(
        "trigger-a-number", "POST", BASE, create_with(trigger_event=5), "trigger_event", "must be"
    ),
    case("description-an-object", "POST", BASE, create_with(description={}), "description", "str"),
    case(
        "machine-config-a-string",
        "POST",
        BASE,
        create_with(machine_config="x"),
        "machine_config",
        "must be an object",
    ),
    case(
        "states-a-list",
        "POST",
        BASE,
        create_with(machine_config={"initial": "s", "states": []}),
        "machine_config.states",
        "must be a non-empty object",
    ),
    case("put-name-a-number", "PUT", ONE, {"json": {"name": 5}}, "name", "must be a string"),
    case(
        "put-machine-config-a-list",
        "PUT",
        ONE,
        {"json": {"machine_config": []}},
        "machine_config",
        "must be an object",
    ),
    case("put-unknown-field", "PUT", ONE, {"json": {"nmae": "x"}}, "nmae", "not a known field"),
    # missing, empty and non-object bodies
    case("create-no-body", "POST", BASE, {}, "body", "a JSON body is required"),
    case("create-empty-body", "POST", BASE, raw(b""), "body", "a JSON body is required"),
    case("create-whitespace-body", "POST", BASE, raw(" \n\t"), "body", "a JSON body is required"),
    case("create-null-body", "POST", BASE, raw("null"), "body", "must be"),
    case("put-no-body", "PUT", ONE, {}, "body", "a JSON body is required"),
    case("create-array-body", "POST", BASE, raw(json.dumps([CREATE])), "body", "must be"),
    case("create-empty-array-body", "POST", BASE, raw("[]"), "body", "must be"),
    case("create-string-body", "POST", BASE, raw('"x"'), "body", "must be"),
    case("create-number-body", "POST", BASE, raw("5"), "body", "must be"),
    case("create-boolean-body", "POST", BASE, raw("true"), "body", "must be"),
    case("put-array-body", "PUT", ONE, raw("[]"), "body", "must be"),
    # huge bodies
    case(
        "over-16-mib",
        "POST",
        BASE,
        lambda: raw(b" " * TOO_BIG),
        "body",
        "at most 16777216 bytes",
        status=413,
    ),
    case(
        "over-16-mib-streamed",
        "POST",
        BASE,
        lambda: {"content": _stream(TOO_BIG), "headers": {"content-type": "application/json"}},
        "body",
        "at most 16777216 bytes",
        status=413,
    ),
    case(
        "over-16-mib-put",
        "PUT",
        ONE,
        lambda: raw(b'{"name": "' + b"x" * TOO_BIG + b'"}'),
        "body",
        "at most",
        status=413,
    ),
    case(
        "content-length-of-5000-digits",
        "POST",
        BASE,
        {"content": b"{}", "headers": {"content-length": "9" * 5000}},
        "body",
        "at most",
        status=413,
    ),
    case(
        "10-mib-description",
        "POST",
        BASE,
        lambda: create_with(description="x" * (10 * MIB)),
        "description",
        "at most 10000 characters",
    ),
    # deep nesting
    case("100k-open-brackets", "POST", BASE, lambda: raw("[" * 100_000), "body", "nested deeper"),
    case(
        "100k-open-objects", "POST", BASE, lambda: raw('{"a":' * 100_000), "body", "nested deeper"
    ),
    case(
        "100-nested-lists-in-name",
        "POST",
        BASE,
        raw('{"name": ' + "[" * 100 + "]" * 100 + "}"),
        Prefix("name.0.0.0"),
        "nested deeper than 64 levels",
    ),
    case(
        "70-nested-objects-in-machine-config",
        "POST",
        BASE,
        create_with(machine_config=nested_objects(70)),
        Prefix("machine_config.a.a.a"),
        "nested deeper than 64 levels",
    ),
    case(
        "70-nested-objects-in-a-step",
        "PUT",
        ONE,
        {"json": {"machine_config": {"initial": "s", "states": {"s": nested_objects(70)}}}},
        Prefix("machine_config.states.s.a.a"),
        "nested deeper than 64 levels",
    ),
    # bytes that are not UTF-8
    case("invalid-utf8", "POST", BASE, raw(b'{"name": "\xff"}'), "body", "not valid UTF-8"),
    case("latin-1", "POST", BASE, raw('{"name": "café"}'.encode("latin-1")), "body", "UTF-8"),
    case("utf-16", "POST", BASE, raw(json.dumps(CREATE).encode("utf-16")), "body", "UTF-8"),
    case("overlong-utf8", "POST", BASE, raw(b'{"name": "\xc0\xaf"}'), "body", "not valid UTF-8"),
    # NaN, Infinity and numbers out of a float's range
    case("name-nan", "POST", BASE, raw('{"name": NaN}'), "name", "must be a finite number"),
    case("name-infinity", "POST", BASE, raw('{"name": Infinity}'), "name", "finite number"),
    case(
        "condition-value-minus-infinity",
        "POST",
        BASE,
        config_with(
            '{"type": "condition", "attribute": "a", "operator": "eq", "value": -Infinity}'
        ),
        "machine_config.states.s.meta.value",
        "must be a finite number",
    ),
    case(
        "condition-value-1e400",
        "POST",
        BASE,
        config_with('{"type": "condition", "attribute": "a", "operator": "eq", "value": 1e400}'),
        "machine_config.states.s.meta.value",
        "must be a finite number",
    ),
    case(
        "stop-nan",
        "POST",
        ONE + "/stop",
        raw('{"cancel_running": NaN}'),
        "cancel_running",
        "finite number",
    ),
    # NUL characters and lone surrogates (PostgreSQL text and UTF-8 can't hold them)
    case("name-nul", "POST", BASE, create_with(name="a\u0000b"), "name", "NUL character"),
    # Found by the fuzz test: a NUL beside a non-ASCII character reached PostgreSQL (500).
    case("name-nul-non-ascii", "POST", BASE, create_with(name="é\u0000"), "name", "NUL"),
    case("description-nul", "PUT", ONE, {"json": {"description": "\u0000"}}, "description", "NUL"),
    case(
        "state-name-nul",
        "POST",
        BASE,
        create_with(machine_config={"initial": "a", "states": {"a\u0000": {"type": "final"}}}),
        "machine_config.states",
        "has a key that contains a NUL character",
    ),
    case(
        "name-lone-high-surrogate",
        "POST",
        BASE,
        raw('{"name": "\\ud800", "trigger_event": "order.created"}'),
        "name",
        "unpaired UTF-16 surrogate",
    ),
    case(
        "name-lone-low-surrogate",
        "POST",
        BASE,
        raw('{"name": "x\\udc00y", "trigger_event": "order.created"}'),
        "name",
        "unpaired UTF-16 surrogate",
    ),
    case(
        "key-lone-surrogate",
        "POST",
        BASE,
        raw('{"name": "x", "trigger_event": "order.created", "\\ud800": 1}'),
        "body",
        "has a key that contains an unpaired UTF-16 surrogate",
    ),
    # huge and negative integers
    case(
        "template-id-2-to-the-70",
        "POST",
        BASE,
        config_with('{"type": "send_email", "templateId": ' + str(2**70) + "}"),
        "machine_config.states.s.meta.templateId",
        "must be a positive integer",
    ),
    case(
        "template-id-negative",
        "POST",
        BASE,
        config_with('{"type": "send_email", "templateId": -5}'),
        "machine_config.states.s.meta.templateId",
        "must be a positive integer",
    ),
    case(
        "segment-id-negative",
        "POST",
        BASE,
        config_with('{"type": "wait_for_condition", "include": [-1]}'),
        "machine_config.states.s.meta.include.0",
        "must be a positive integer",
    ),
    case(
        "integer-of-5000-digits",
        "POST",
        BASE,
        config_with('{"type": "send_email", "templateId": ' + "9" * 5000 + "}"),
        "body",
        "has an integer with more than 4300 digits",
    ),
    case("name-2-to-the-70", "POST", BASE, create_with(name=2**70), "name", "must be a string"),
    case("get-id-2-to-the-70", "GET", f"{BASE}/{2**70}", {}, "journey_id", "775807 or less"),
    case("put-id-2-to-the-70", "PUT", f"{BASE}/{2**70}", {"json": {}}, "journey_id", "or less"),
    case("delete-id-2-to-the-70", "DELETE", f"{BASE}/{2**70}", {}, "journey_id", "or less"),
    case("stop-id-2-to-the-70", "POST", f"{BASE}/{2**70}/stop", {}, "journey_id", "or less"),
    case("start-id-negative", "POST", f"{BASE}/-1/start", {}, "journey_id", "must be 1 or more"),
    case("get-id-negative", "GET", f"{BASE}/-1", {}, "journey_id", "must be 1 or more"),
    case("get-id-zero", "GET", f"{BASE}/0", {}, "journey_id", "must be 1 or more"),
    case("get-id-text", "GET", f"{BASE}/abc", {}, "journey_id", "must be an integer"),
    case("place-2-to-the-70", "GET", f"/places/{2**70}/journeys", {}, "place_id", "or less"),
    case("place-negative", "POST", "/places/-1/journeys", {"json": CREATE}, "place_id", "1 or"),
    case("page-10-to-the-20", "GET", f"{BASE}?page={10**20}", {}, "page", "1000000 or less"),
    case("page-negative", "GET", f"{BASE}?page=-1", {}, "page", "must be 1 or more"),
    case("per-page-10-to-the-20", "GET", f"{BASE}?per_page={10**20}", {}, "per_page", "0 or less"),
    case("trigger-filter-unknown", "GET", f"{BASE}?trigger_event=x", {}, "trigger_event", "must"),
    # a form-encoded body is not JSON (a JSON body with a form header is read as JSON: below)
    case(
        "form-encoded-body",
        "POST",
        BASE,
        raw("name=x&trigger_event=order.created", "application/x-www-form-urlencoded"),
        "body",
        "is not valid JSON",
    ),
    # a body with the wrong types on /stop
    case(
        "stop-flag-a-string",
        "POST",
        ONE + "/stop",
        {"json": {"cancel_running": "x"}},
        "cancel_running",
        "must be true or false",
    ),
    case(
        "stop-flag-a-list",
        "POST",
        ONE + "/stop",
        {"json": {"cancel_running": []}},
        "cancel_running",
        "must be true or false",
    ),
    case(
        "stop-flag-null",
        "POST",
        ONE + "/stop",
        {"json": {"cancel_running": None}},
        "cancel_running",
        "must be true or false",
    ),
    case(
        "stop-unknown-field",
        "POST",
        ONE + "/stop",
        {"json": {"cancel": True}},
        "cancel",
        "is not a known field",
    ),
    case("stop-array-body", "POST", ONE + "/stop", raw("[true]"), "body", "must be"),
    case("stop-string-body", "POST", ONE + "/stop", raw('"cancel"'), "body", "must be"),
    case("stop-number-body", "POST", ONE + "/stop", raw("1"), "body", "must be"),
]


def assert_error_body(response: Any, status: int) -> list[dict[str, str]]:
    """The error body, exactly: {"error": {"code", "message", "details": [{"path", "message"}]}}."""
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"]
    error = body["error"]
    assert sorted(error) == ["code", "details", "message"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], list)
    for detail in error["details"]:
        assert sorted(detail) == ["message", "path"]
        assert isinstance(detail["path"], str) and isinstance(detail["message"], str)
    return error["details"]


def _matches(path: str, where: str) -> bool:
    return path.startswith(where) if isinstance(where, Prefix) else path == where


async def test_malformed_input_is_a_4xx_with_the_error_body(api, subtests):
    # One test per backend with a subtest per case: a fixture set-up per case costs more
    # than the case itself.
    journey = only((await api.post(BASE, json=CREATE)).json(), KIND)
    for case_id, method, url, kwargs, status, where, words in CASES:
        with subtests.test(msg=case_id):
            request = kwargs() if callable(kwargs) else kwargs
            response = await api.request(method, url.format(journey=journey["id"]), **request)
            details = assert_error_body(response, status)
            code = {413: "payload_too_large", 422: "validation_error"}[status]
            assert response.json()["error"]["code"] == code
            assert any(_matches(d["path"], where) and words in d["message"] for d in details), (
                details
            )
            # Nothing was stored or changed.
            listed = (await api.get(BASE)).json()
            assert listed["node.journey_definition"] == {str(journey["id"]): journey}


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x", None],
)
async def test_a_json_body_is_read_as_json_whatever_its_content_type(api, content_type):
    headers = {"content-type": content_type} if content_type else {}
    created = await api.post(BASE, content=json.dumps(CREATE).encode(), headers=headers)
    assert created.status_code == 200, created.text
    journey = only(created.json(), KIND)
    assert (journey["name"], journey["triggerEvent"]) == ("x", "order.created")
    stopped = await api.post(
        f"{BASE}/{journey['id']}/stop", content=b'{"cancel_running": true}', headers=headers
    )
    assert stopped.status_code == 200, stopped.text


async def test_escaped_surrogate_pairs_and_unicode_are_fine(api):
    # A *paired* surrogate escape is an ordinary character; only lone halves are refused.
    body = b'{"name": "\\ud83d\\ude00 caf\\u00e9 \xe6\xad\xa5", "trigger_event": "order.created"}'
    created = await api.post(BASE, content=body, headers={"content-type": "application/json"})
    assert created.status_code == 200, created.text
    assert only(created.json(), KIND)["name"] == "\U0001f600 café 步"


async def test_64_levels_of_nesting_inside_machine_config_reach_the_model(api):
    # Just under the body limit of 64 levels, the document is parsed and the model speaks.
    deep = nested_objects(60)
    response = await api.post(BASE, json={**CREATE, "machine_config": {"initial": "a", **deep}})
    details = assert_error_body(response, 422)
    assert details == [
        {
            "path": "machine_config.a",
            "message": "unknown key; a machineConfig has initial and states",
        },
        {
            "path": "machine_config.states",
            "message": "is required: an object of steps keyed by name",
        },
    ]
