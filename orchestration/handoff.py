"""Database row, then Temporal start: how a change that owes Temporal a workflow gets it
there, in one order (docs/development.md, Layout → Transactions).

1. `ready`: Temporal answers now, or the request is refused with a 503 and writes nothing.
2. The change is written with the start it owes (`owe_run`, `owe_cleanup`: an
   `OwedStart` row) in one transaction.
3. `deliver` commits the transaction, then makes the starts and strikes them off. Every
   start is idempotent (a deterministic workflow id, joined if it runs, not repeated once
   done), so making one twice is harmless, and a workflow always starts after the rows it
   acts on are committed: it never waits for them.
4. What a crash or an outage between 2 and 3 leaves owed, the worker's `relay` makes.

Events follow the same order without the extra row: an event's row names its execution
ids, and a repeated `event_id` starts them (`services.events`).
"""

import asyncio
import contextlib
import logging
import time
from typing import Literal

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from journeys.errors import Invalid, Unavailable
from journeys.settings import Settings
from orchestration import launcher
from orchestration.temporal_client import reachable
from store import owed as store
from store.clock import now
from store.db import SessionFactory
from store.tables import Journey, ManualRun, OwedStart
from workflows.contracts import CleanupInput, RunInput

log = logging.getLogger(__name__)

RUN = "run"
CLEANUP = "cleanup"
# Owed starts younger than this are left to the request that owes them.
RELAY_GRACE_SECONDS = 30
RELAY_EVERY_SECONDS = 10.0
RELAY_BATCH = 100


async def ready(client: Client) -> None:
    """`Unavailable` unless Temporal answers now: a change that owes it a start is refused
    before anything is written, rather than committed while its start can't be made."""
    async with reachable():
        if not await client.service_client.check_health():
            raise Unavailable("Temporal is not serving.")


async def owe_run(
    session: AsyncSession, settings: Settings, journey: Journey, run: ManualRun
) -> OwedStart:
    """The run's fan-out, owed in the run's transaction."""
    request = launcher.run_input(settings, journey, run)
    payload = {
        "input": request.model_dump(mode="json"),
        "summary": launcher.run_summary(request, run.targeted),
    }
    workflow_id = launcher.run_fan_out_id(request.journey.id, run.id)
    return await store.owe(session, RUN, workflow_id, payload)


async def owe_cleanup(
    session: AsyncSession, place_id: int, journey_id: int, mode: Literal["cancel", "delete"]
) -> OwedStart:
    """The end of the journey's executions, owed in the transaction that stops or deletes it."""
    request = CleanupInput(
        place_id=place_id,
        journey_id=journey_id,
        mode=mode,
        started_before=time.time() if mode == "cancel" else None,
    )
    workflow_id = launcher.cleanup_id(journey_id, mode)
    return await store.owe(session, CLEANUP, workflow_id, {"input": request.model_dump()})


async def find(session: AsyncSession, workflow_id: str) -> list[OwedStart]:
    """The start still owed under this id (none once it was made)."""
    owed = await store.find(session, workflow_id)
    return [owed] if owed is not None else []


async def deliver(
    client: Client, settings: Settings, session: AsyncSession, starts: list[OwedStart]
) -> None:
    """Commit the session's change with the starts it owes, then make them and strike them
    off. A start that fails stays owed for the relay: the change is committed, so the
    request still succeeds."""
    await session.commit()
    made = await _make(client, settings, starts)
    if not made:
        return
    try:
        await store.settle(session, made)
        await session.commit()
    except SQLAlchemyError as error:
        # They were made; the relay makes them again (a no-op) and strikes them off then.
        await session.rollback()
        log.warning("could not strike off %d made starts: %s", len(made), error)


async def _make(client: Client, settings: Settings, starts: list[OwedStart]) -> list[str]:
    """The ids of the starts Temporal took, or that can never be made (refused by Temporal,
    or unreadable: logged and dropped, as making them again would fail again)."""
    made = []
    for owed in starts:
        try:
            await _start(client, settings, owed)
        except Unavailable as error:
            log.warning("start of %s stays owed: %s", owed.workflow_id, error.message)
            continue
        except Invalid as error:
            log.error("Temporal refused the start of %s: %s", owed.workflow_id, error.issues)
        except Exception:
            # Not an outage (those are `Unavailable`): making it again would fail again, and
            # it must not hold up the starts owed after it.
            log.exception("dropped the owed start %s, which can't be made", owed.workflow_id)
        made.append(owed.workflow_id)
    return made


async def _start(client: Client, settings: Settings, owed: OwedStart) -> None:
    if owed.kind == RUN:
        request = RunInput.model_validate(owed.payload["input"])
        await launcher.start_run(client, settings, request, owed.payload["summary"])
    elif owed.kind == CLEANUP:
        cleanup = CleanupInput.model_validate(owed.payload["input"])
        await launcher.start_cleanup(client, settings, owed.workflow_id, cleanup)
    else:
        raise ValueError(f"no start of kind {owed.kind!r}")


async def relay_once(
    client: Client, settings: Settings, sessions: SessionFactory, grace: int
) -> int:
    """Make the starts owed for longer than `grace` seconds; how many were made."""
    made = 0
    while True:
        async with sessions() as session:
            starts = await store.overdue(session, now() - grace, RELAY_BATCH)
            if not starts:
                return made
            done = await _make(client, settings, starts)
            await store.settle(session, done)
            await session.commit()
        made += len(done)
        if len(done) < len(starts):
            return made  # Temporal is away: the rest waits for the next round


async def relay(
    client: Client, settings: Settings, sessions: SessionFactory, stop: asyncio.Event
) -> None:
    """Until `stop`: every few seconds, make what crashed requests left owed."""
    while not stop.is_set():
        try:
            made = await relay_once(client, settings, sessions, RELAY_GRACE_SECONDS)
            if made:
                log.info("relay made %d owed workflow starts", made)
        except (SQLAlchemyError, OSError) as error:
            log.warning("relay could not read the owed starts: %s", error)
        except Exception:
            # Whatever went wrong this round, the next round tries again.
            log.exception("relay round failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RELAY_EVERY_SECONDS)
