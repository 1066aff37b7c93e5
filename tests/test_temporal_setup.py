"""Preparing a namespace (orchestration/temporal_setup.py): the query that proves Temporal
accepts the search attributes names each type Temporal has in a form it accepts, and
`prepare` returns only once a server that caches them, as production servers do, accepts
them."""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from journeys import devstack
from orchestration import temporal_setup
from workflows.visibility import SEARCH_ATTRIBUTE_KEYS

# Each type by name, as temporal_setup spells them.
_TYPES = {temporal_setup.type_name(value): value for value in IndexedValueType.values()}
del _TYPES["Unspecified"]

# A server whose frontend sees search attributes some time after they are added, as a
# production server's does (a minute there): the dev server refreshes on every read unless
# told not to, and then sees them at its next namespace cache refresh, every 2 s here (its
# default is 10 s). A few seconds, not a minute: that is the point of these settings.
_CACHING = [
    "--dynamic-config-value",
    "system.forceSearchAttributesCacheRefreshOnRead=false",
    "--dynamic-config-value",
    'system.namespaceCacheRefreshInterval="2s"',
]


async def _new_namespace(env: WorkflowEnvironment) -> Client:
    namespace = f"setup-{uuid.uuid4().hex[:8]}"
    client = await env.connect_client(namespace=namespace)
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=Duration(seconds=86_400)
        )
    )
    return client


def test_every_type_of_search_attribute_has_a_sample():
    """A new attribute of any type Temporal has must not break the query (a missing sample
    would fail at import, taking the API and the worker down with it)."""
    assert set(_TYPES) == set(temporal_setup.SAMPLES)
    assert set(temporal_setup.SEARCH_ATTRIBUTES.values()) <= set(_TYPES)


async def test_temporal_accepts_the_sample_of_every_type(temporal):
    """The samples are values Temporal takes for their types (a wrong one is an invalid
    query, which would read as "not accepted yet" for good)."""
    client = await _new_namespace(temporal)
    attributes = {f"Sample{kind}": kind for kind in temporal_setup.SAMPLES}
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={name: _TYPES[kind] for name, kind in attributes.items()},
        )
    )
    assert await client.count_workflows(temporal_setup.usable_query(attributes)) is not None
    with pytest.raises(RPCError, match="SampleText"):  # a sample of another type is refused
        await client.count_workflows(temporal_setup.usable_query({"SampleText": "Int"}))


@pytest.fixture
async def caching_server() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=devstack.temporal_binary(),
        dev_server_extra_args=_CACHING,
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


async def test_prepare_returns_once_a_caching_server_accepts_the_search_attributes(
    caching_server,
):
    """Just added, the attributes are unknown to the frontend until its cache refreshes: a
    `prepare` that returned on adding them would leave the first starts and queries to be
    refused. It returns once they are accepted: right after it, a query naming each of them
    and a start setting each of them are accepted. (Without the wait this fails unless the
    cache happened to refresh within the few milliseconds after the add.)"""
    client = await _new_namespace(caching_server)
    changed = await temporal_setup.prepare(client, patience=30)
    assert any(change.startswith("search attributes added") for change in changed), changed
    assert await temporal_setup.unusable_search_attributes(client) is None
    values: dict[str, Any] = {"Int": 1, "Keyword": "k", "KeywordList": ["k"]}
    attributes = TypedSearchAttributes(
        [
            SearchAttributePair(key, values[temporal_setup.SEARCH_ATTRIBUTES[key.name]])
            for key in SEARCH_ATTRIBUTE_KEYS
        ]
    )
    handle = await client.start_workflow(
        "Nothing",
        id=f"setup-{uuid.uuid4().hex[:8]}",
        task_queue="nobody-polls",
        search_attributes=attributes,
    )
    await handle.terminate()
