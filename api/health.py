"""Probes: `/healthz` (the process serves) and `/readyz` (it can do its work: the database
and Temporal answer). Outside `/places`, without a key, for load balancers and orchestrators."""

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from temporalio.client import Client

from api.problems import error_response
from store.db import ping

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process is up and serving."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(request: Request) -> JSONResponse:
    """Readiness: the database and Temporal both answer (503 names each that doesn't)."""
    state = request.app.state
    limit = state.settings.ready_timeout_seconds

    async def database() -> None:
        await ping(state.sessions)

    async def temporal() -> None:
        client: Client = state.temporal
        await client.service_client.check_health()

    checks: dict[str, Callable[[], Awaitable[None]]] = {"database": database, "temporal": temporal}
    results = await asyncio.gather(*(_probe(check, limit) for check in checks.values()))
    failing = [(name, problem) for name, problem in zip(checks, results, strict=True) if problem]
    if failing:
        names = " and ".join(name for name, _ in failing)
        response = error_response(503, "unavailable", f"Not ready: {names} unreachable.", failing)
        response.headers["Retry-After"] = "5"
        return response
    return JSONResponse({"status": "ready", "checks": dict.fromkeys(checks, "ok")})


async def _probe(check: Callable[[], Awaitable[None]], limit: float) -> str | None:
    """None if `check` passed within `limit` seconds, else what went wrong."""
    try:
        await asyncio.wait_for(check(), limit)
    except TimeoutError:
        return f"no answer within {limit:g} s"
    except Exception as error:
        return f"{type(error).__name__}: {error}".strip()[:500]
    return None
