"""The one way to reach Temporal: client settings and the pydantic data converter."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from journeys.errors import Invalid, Issue, Unavailable
from journeys.settings import Settings

log = logging.getLogger(__name__)


async def connect(
    settings: Settings, *, lazy: bool = False, runtime: Runtime | None = None
) -> Client:
    """A client for the configured namespace; `lazy` defers the connection to first use, so
    the API can start (and serve definitions) while Temporal is still coming up."""
    api_key = settings.temporal_api_key
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        api_key=api_key.get_secret_value() if api_key else None,
        tls=tls_config(settings),
        data_converter=pydantic_data_converter,
        lazy=lazy,
        runtime=runtime,
    )


def tls_config(settings: Settings) -> TLSConfig | bool:
    """TLS as the settings ask for it (files are read here, so a wrong path fails at once)."""
    files = {
        "server_root_ca_cert": settings.temporal_tls_ca_file,
        "client_cert": settings.temporal_tls_cert_file,
        "client_private_key": settings.temporal_tls_key_file,
    }
    wanted = (
        settings.temporal_tls
        or settings.temporal_api_key is not None
        or any(files.values())
        or settings.temporal_tls_server_name is not None
    )
    if not wanted:
        return False
    if bool(files["client_cert"]) != bool(files["client_private_key"]):
        raise ValueError(
            "JOURNEYS_TEMPORAL_TLS_CERT_FILE and JOURNEYS_TEMPORAL_TLS_KEY_FILE go together"
        )
    read = {name: Path(path).read_bytes() if path else None for name, path in files.items()}
    return TLSConfig(
        server_root_ca_cert=read["server_root_ca_cert"],
        client_cert=read["client_cert"],
        client_private_key=read["client_private_key"],
        domain=settings.temporal_tls_server_name,
    )


# How long a request waits on Temporal before answering 503: a frozen or overloaded server
# must not hold callers for the gRPC default of a minute or more.
REQUEST_TIMEOUT = 5.0
RPC_TIMEOUT = timedelta(seconds=REQUEST_TIMEOUT)
# Statuses that say the request itself can never succeed (too large, malformed): a 4xx.
_REFUSED = {RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.OUT_OF_RANGE}


@contextlib.asynccontextmanager
async def reachable(
    seconds: float = REQUEST_TIMEOUT, slow: str | None = None
) -> AsyncIterator[None]:
    """Temporal out of reach, failing or not answering within `seconds` becomes
    `Unavailable` (a 503 the caller may retry; `slow` says what waiting that long means, when
    it is more than Temporal being slow); a request Temporal refuses as invalid becomes
    `Invalid`. A lazy client that can't connect raises RuntimeError; a failed call, RPCError."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise Unavailable(slow or f"Temporal did not answer within {seconds:g} s.") from None
    except RPCError as error:
        if error.status in _REFUSED:
            log.warning("Temporal refused a request: %s", error)
            raise Invalid(
                [Issue("body", f"the workflow engine refused it: {error.message}")],
                "The request can't be carried out as it is.",
            ) from error
        log.warning("Temporal call failed: %s (%s)", error, error.status)
        raise Unavailable("Temporal is unavailable.") from error
    except RuntimeError as error:
        log.warning("Temporal is not reachable: %s", error)
        raise Unavailable("Temporal is unavailable.") from error
