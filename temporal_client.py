"""The one way to reach Temporal: client settings and the pydantic data converter."""

import contextlib
from collections.abc import Iterator
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.service import RPCError, TLSConfig

from errors import Unavailable
from settings import Settings


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


@contextlib.contextmanager
def reachable() -> Iterator[None]:
    """Temporal being out of reach becomes `Unavailable` (a 503 the caller may retry).

    A lazy client that can't connect raises RuntimeError; a failed call, RPCError."""
    try:
        yield
    except (RPCError, RuntimeError) as error:
        raise Unavailable(f"Temporal is unavailable: {error}") from error
