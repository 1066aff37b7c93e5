"""The one way to reach Temporal: client settings and the pydantic data converter."""

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

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
