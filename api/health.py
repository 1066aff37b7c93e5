"""Probes: `/healthz` (the process serves) and `/readyz` (it can do its work: the database
and Temporal answer, and Temporal accepts the executions' search attributes). Outside
`/places`, without a key, for load balancers and orchestrators."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import NamedTuple

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.problems import error_response
from orchestration.temporal_setup import unusable_search_attributes
from store.db import ping

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process is up and serving."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(request: Request) -> JSONResponse:
    """Readiness: the database and Temporal both answer, and Temporal accepts the search
    attributes executions start with (503 names each dependency that fails)."""
    state = request.app.state
    limit = state.settings.ready_timeout_seconds

    async def database() -> None:
        await ping(state.sessions)

    async def temporal() -> None:
        client: Client = state.temporal
        await client.service_client.check_health()
        # Just added by `journeys temporal-setup`, the attributes may be rejected for up to a
        # minute (the server's cache), and every start with them: not ready until they are
        # accepted. Asked until they are once; a server never forgets them after that.
        if not getattr(state, "search_attributes_accepted", False):
            try:
                unusable = await unusable_search_attributes(client)
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:
                    raise
                # Temporal answers, but knows no such namespace (`journeys temporal-setup`
                # registers it; a namespace just registered is unknown for a moment).
                summary = f"temporal has no namespace {client.namespace}"
                raise NotReady(summary, error.message) from error
            if unusable is not None:
                raise NotReady(
                    "temporal does not accept the search attributes yet",
                    f"namespace {client.namespace}: {unusable}",
                )
            state.search_attributes_accepted = True

    checks: dict[str, Callable[[], Awaitable[None]]] = {"database": database, "temporal": temporal}
    results = await asyncio.gather(*(_probe(check, limit) for check in checks.values()))
    failing = [(name, problem) for name, problem in zip(checks, results, strict=True) if problem]
    if failing:
        unreachable = [name for name, problem in failing if problem.summary is None]
        summaries = [f"{' and '.join(unreachable)} unreachable"] if unreachable else []
        summaries += [problem.summary for _, problem in failing if problem.summary]
        details = [(name, problem.detail) for name, problem in failing]
        message = f"Not ready: {'; '.join(summaries)}."
        response = error_response(503, "unavailable", message, details)
        response.headers["Retry-After"] = "5"
        return response
    return JSONResponse({"status": "ready", "checks": dict.fromkeys(checks, "ok")})


class NotReady(Exception):
    """A dependency answers, but not yet as the API needs: `summary` says how."""

    def __init__(self, summary: str, detail: str) -> None:
        super().__init__(detail)
        self.summary = summary


class _Problem(NamedTuple):
    summary: str | None  # None: the dependency is unreachable
    detail: str


async def _probe(check: Callable[[], Awaitable[None]], limit: float) -> _Problem | None:
    """None if `check` passed within `limit` seconds, else what went wrong."""
    try:
        await asyncio.wait_for(check(), limit)
    except TimeoutError:
        return _Problem(None, f"no answer within {limit:g} s")
    except NotReady as error:
        return _Problem(error.summary, str(error)[:500])
    except Exception as error:
        return _Problem(None, f"{type(error).__name__}: {error}".strip()[:500])
    return None
