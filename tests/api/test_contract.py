"""The OpenAPI document says what the API takes and answers (every call of the suite is also
checked against it: `tests.fixtures.api.conforming_client`), and the rough edges a new user
meets first: spellings, unknown query parameters, the root, the docs pages' assets."""

import re

import pytest

from tests.helpers.api import PLACE, only

JOURNEYS = f"/places/{PLACE}/journeys"


async def document(api) -> dict:
    response = await api.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


async def test_request_bodies_are_documented_in_snake_case(api):
    schemas = (await document(api))["components"]["schemas"]
    create = schemas["JourneyCreate"]
    assert {
        "name",
        "trigger_event",
        "description",
        "machine_config",
        "entry_rules",
        "exit_rules",
        "goal",
    } == set(create["properties"])
    assert create["required"] == ["name", "trigger_event"]
    assert set(schemas["RunRequest"]["properties"]) == {
        "include_segment_ids",
        "exclude_segment_ids",
    }
    assert "push_tokens" in schemas["CustomerProfile"]["properties"]
    # Responses stay camelCase, as the API answers.
    assert "triggerEvent" in schemas["JourneyOut"]["properties"]


async def test_every_error_answer_is_documented_with_the_error_body(api):
    doc = await document(api)
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert set(schemas["ErrorBody"]["properties"]) == {"error"}
    assert doc["components"]["securitySchemes"] == {
        "ApiKey": {
            "type": "apiKey",
            "in": "header",
            "name": "Api-Key",
            "description": "A manager API key of the place (`journeys keys create --place ID`).",
        }
    }
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            responses = operation["responses"]
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    content = response["content"]["application/json"]["schema"]
                    assert content == {"$ref": "#/components/schemas/ErrorBody"}, where
            if path.startswith("/places/{place_id}"):
                assert operation["security"] == [{"ApiKey": []}], where
                assert {"401", "403", "503"} <= set(responses), where
                names = {p["name"] for p in operation.get("parameters", [])}
                assert "Api-Key" not in names, where
            if "requestBody" in operation:
                assert {"413", "422"} <= set(responses), where
    conflicts = {
        f"{method.upper()} {path}"
        for path, operations in doc["paths"].items()
        for method, operation in operations.items()
        if "409" in operation["responses"]
    }
    assert conflicts == {
        "POST /places/{place_id}/journeys/{journey_id}/stop",
        "POST /places/{place_id}/journeys/{journey_id}/run",
        "DELETE /places/{place_id}/segments/{segment_id}",
        "DELETE /places/{place_id}/templates/{template_id}",
        "POST /places/{place_id}/templates/{template_id}/test",
        "DELETE /places/{place_id}/campaigns/{campaign_id}",
        "POST /places/{place_id}/recommendations/{recommendation_id}/accept",
        "POST /places/{place_id}/recommendations/{recommendation_id}/reject",
    }


async def test_the_documented_examples_work_as_given(api):
    schemas = (await document(api))["components"]["schemas"]
    (create,) = schemas["JourneyCreate"]["examples"]
    created = await api.post(JOURNEYS, json=create)
    assert created.status_code == 200, created.text
    journey = only(created.json(), "journey_definition")
    (update,) = schemas["JourneyUpdate"]["examples"]
    updated = await api.put(f"{JOURNEYS}/{journey['id']}", json=update)
    assert updated.status_code == 200, updated.text
    (event,) = schemas["EventIn"]["examples"]
    assert (await api.post(f"/places/{PLACE}/events", json=event)).status_code == 202
    for segment in schemas["SegmentCreate"]["examples"]:
        answered = await api.post(f"/places/{PLACE}/segments", json=segment)
        assert answered.status_code == 200, answered.text
    (template,) = schemas["TemplateCreate"]["examples"]
    answered = await api.post(f"/places/{PLACE}/templates", json=template)
    assert answered.status_code == 200, answered.text
    manual = await api.post(JOURNEYS, json={"name": "Promo", "trigger_event": "manual"})
    manual_id = only(manual.json(), "journey_definition")["id"]
    (run,) = schemas["RunRequest"]["examples"]
    answered = await api.post(f"{JOURNEYS}/{manual_id}/run", json=run)
    assert answered.status_code == 200, answered.text


async def test_a_field_sent_in_both_spellings_says_which_to_use(api):
    body = {"name": "x", "trigger_event": "order.created", "triggerEvent": "order.created"}
    response = await api.post(JOURNEYS, json=body)
    assert response.status_code == 422
    (detail,) = response.json()["error"]["details"]
    assert detail == {
        "path": "body",
        "message": "triggerEvent and trigger_event are the same field: send trigger_event only",
    }
    # One spelling, either one, is taken.
    camel = await api.post(JOURNEYS, json={"name": "x", "triggerEvent": "order.created"})
    assert camel.status_code == 200


@pytest.mark.parametrize(
    ("query", "path", "message"),
    [
        (
            "perPage=5",
            "perPage",
            "is not a query parameter of this endpoint: did you mean per_page?",
        ),
        (
            "current_step=wait",
            "current_step",
            "is not a query parameter of this endpoint; it takes active, page, per_page, "
            "trigger_event",
        ),
    ],
)
async def test_unknown_query_parameters_are_named(api, query, path, message):
    response = await api.get(f"{JOURNEYS}?{query}")
    assert response.status_code == 422
    assert response.json()["error"]["details"] == [{"path": path, "message": message}]


async def test_unknown_query_parameters_on_an_endpoint_that_takes_none(api):
    response = await api.get("/healthz?verbose=1")
    assert response.status_code == 422
    assert response.json()["error"]["details"] == [
        {
            "path": "verbose",
            "message": "is not a query parameter of this endpoint, which takes none",
        }
    ]


async def test_pydantic_wording_is_the_products(api):
    response = await api.post(JOURNEYS, json={"name": "", "trigger_event": "order.created"})
    assert response.json()["error"]["details"] == [{"path": "name", "message": "must not be empty"}]
    response = await api.get(f"{JOURNEYS}?per_page=101")
    assert response.json()["error"]["details"] == [
        {"path": "per_page", "message": "must be 100 or less"}
    ]


async def test_the_root_links_the_docs_and_health(api):
    response = await api.get("/")
    assert response.status_code == 200
    links = response.json()["links"]
    for name in ("docs", "redoc", "openapi", "health", "ready"):
        assert (await api.get(links[name])).status_code in (200, 503), name


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_pages_load_nothing_from_elsewhere(api, page):
    html = (await api.get(page)).text
    urls = re.findall(r"""(?:src|href|url)\s*[=:(]\s*['"]([^'"]+)['"]""", html)
    assert urls, html
    for url in urls:
        assert url.startswith("/"), f"{page} loads {url} from elsewhere"
        assert (await api.get(url)).status_code == 200, url
    assert "validator.swagger.io" not in html and "fonts.googleapis" not in html
