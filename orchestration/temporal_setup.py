"""Preparing a Temporal namespace for Journeys: the namespace itself (on a self-hosted
cluster), how long closed executions are kept, and the custom search attributes the
executions are indexed by. Idempotent: run by `journeys dev` on every start and by
`journeys temporal-setup` (the compose stack's setup job) before the API and workers; the
API's readiness asks `unusable_search_attributes` too.
"""

import asyncio
import logging
import time

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    RegisterNamespaceRequest,
    UpdateNamespaceRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from workflows.visibility import SEARCH_ATTRIBUTE_KEYS

log = logging.getLogger("journeys.temporal_setup")


def type_name(value: int) -> str:
    """`Int`, `Keyword`, `KeywordList`, …: a search attribute's type as Temporal's CLI and UI
    spell it."""
    name = IndexedValueType.Name(IndexedValueType.ValueType(value))
    return "".join(
        part.capitalize() for part in name.removeprefix("INDEXED_VALUE_TYPE_").split("_")
    )


# The executions' search attributes by name, with their types (`Int`, `Keyword`, …).
SEARCH_ATTRIBUTES = {key.name: type_name(key.indexed_value_type) for key in SEARCH_ATTRIBUTE_KEYS}
# Closed executions stay visible (executions API, statistics) this long; Temporal's
# default of a day or two would make a finished journey vanish from them.
RETENTION_DAYS = 90
# What a managed namespace answers to a change only its owner may make.
_NOT_HERE = (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED)
# A value of each type of search attribute Temporal has, as a visibility query spells it.
SAMPLES = {
    "Int": "0",
    "Double": "0.5",
    "Bool": "true",
    "Keyword": "'-'",
    "KeywordList": "'-'",
    "Text": "'-'",
    "Datetime": "'2000-01-01T00:00:00Z'",
}


def usable_query(attributes: dict[str, str]) -> str:
    """A visibility query naming every one of `attributes` (name → type)."""
    return " AND ".join(f"{name} = {SAMPLES[kind]}" for name, kind in attributes.items())


# A visibility query naming every search attribute. A server knows an attribute some time
# after it was added: each of its services caches the namespace's attributes (a minute, unless
# told to refresh on every read, as dev servers are), and until then it rejects a start or a
# query that names one. Answering this query proves that the frontend knows them all (starts
# and queries go through it); the history service, which checks a running execution's
# upserts against a cache of its own, may still lag behind (docs/operations.md, "Probes").
USABLE_QUERY = usable_query(SEARCH_ATTRIBUTES)


class MissingSearchAttributes(Exception):
    """The namespace lacks search attributes that this client may not add."""


class UnusableSearchAttributes(Exception):
    """The namespace has the search attributes, but Temporal does not accept them yet."""


async def unusable_search_attributes(client: Client) -> str | None:
    """None if Temporal accepts a query naming every search attribute in `client`'s
    namespace, else why not (Temporal's answer: an attribute missing, or not known yet)."""
    try:
        await client.count_workflows(USABLE_QUERY)
    except RPCError as error:
        if error.status != RPCStatusCode.INVALID_ARGUMENT:
            raise
        return error.message
    return None


async def prepare(client: Client, *, patience: float = 120.0) -> list[str]:
    """Bring `client`'s namespace to what Journeys needs; returns what it changed. Retries
    while the cluster is still starting or a new namespace is not yet known everywhere, and
    returns only once Temporal's frontend accepts the search attributes (just added, a server
    may reject them for up to a minute; tests/test_temporal_setup.py has a server that does);
    connecting in the first place is the caller's (`journeys temporal-setup` waits for it)."""
    deadline = time.monotonic() + patience
    changed: list[str] = []
    while True:
        try:
            await _prepare(client, changed)
            unusable = await unusable_search_attributes(client)
            if unusable is None:
                return changed
            if time.monotonic() > deadline:
                raise UnusableSearchAttributes(
                    f"Temporal does not accept the search attributes of namespace "
                    f"{client.namespace} after {patience:g} s: {unusable}"
                )
            log.info("Temporal does not accept the search attributes yet (%s); waiting", unusable)
        except RPCError as error:
            denied = error.status in (
                RPCStatusCode.PERMISSION_DENIED,
                RPCStatusCode.UNAUTHENTICATED,
            )
            if denied or time.monotonic() > deadline:
                raise
            log.info("Temporal is not ready yet (%s); trying again", error)
        await asyncio.sleep(2)


async def _prepare(client: Client, changed: list[str]) -> None:
    """One attempt; what it changes is added to `changed` (kept across attempts)."""
    namespace = client.namespace
    retention = RETENTION_DAYS * 86_400
    try:
        described = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace)
        )
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        await client.workflow_service.register_namespace(
            RegisterNamespaceRequest(
                namespace=namespace,
                description="Journeys executions",
                workflow_execution_retention_period=Duration(seconds=retention),
            )
        )
        changed.append(f"registered namespace {namespace}")
        described = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace)
        )
    kept = described.config.workflow_execution_retention_ttl.seconds
    if kept < retention:
        try:
            await client.workflow_service.update_namespace(
                UpdateNamespaceRequest(
                    namespace=namespace,
                    config=NamespaceConfig(
                        workflow_execution_retention_ttl=Duration(seconds=retention)
                    ),
                )
            )
            changed.append(f"retention set to {RETENTION_DAYS} days")
        except RPCError as error:
            # A managed namespace (Temporal Cloud) is configured where it is managed.
            if error.status not in _NOT_HERE:
                raise
            changed.append(
                f"warning: closed executions are kept {kept // 86_400} days and this client may "
                f"not change that ({error.message}); set {RETENTION_DAYS} days where the "
                "namespace is managed"
            )
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    missing = {
        key.name: IndexedValueType.ValueType(key.indexed_value_type)
        for key in SEARCH_ATTRIBUTE_KEYS
        if key.name not in listed.custom_attributes
    }
    if missing:
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
            )
        except RPCError as error:
            if error.status not in _NOT_HERE:
                raise
            wanted = ", ".join(f"{name} ({SEARCH_ATTRIBUTES[name]})" for name in missing)
            raise MissingSearchAttributes(
                f"namespace {namespace} lacks the search attributes {wanted}, and this client "
                f"may not add them ({error.message}): add them where the namespace is managed "
                "(Temporal Cloud: its UI or tcld)"
            ) from error
        changed.append(f"search attributes added: {', '.join(missing)}")
