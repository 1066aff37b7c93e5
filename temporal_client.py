"""The one way to reach Temporal: client settings and the pydantic data converter."""

import contextlib
from collections.abc import Iterator

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from errors import Unavailable
from settings import Settings


async def connect(settings: Settings, *, lazy: bool = False) -> Client:
    """A client for the configured namespace; `lazy` defers the connection to first use, so
    the API can start (and serve definitions) while Temporal is still coming up."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        lazy=lazy,
    )


@contextlib.contextmanager
def reachable() -> Iterator[None]:
    """Temporal being out of reach becomes `Unavailable` (a 503 the caller may retry).

    A lazy client that can't connect raises RuntimeError; a failed call, RPCError."""
    try:
        yield
    except (RPCError, RuntimeError) as error:
        raise Unavailable(f"Temporal is unavailable: {error}") from error
