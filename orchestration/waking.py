"""Waking the waiting executions whose condition now holds, and only those; and handing
the executions waiting for a customer's event (`wait_for_event`) that event.

Two callers, one way: a customer change through the API wakes the changed customers'
waiting executions whose condition now holds (`notify_customers_changed`, after the
commit), and the central re-check (`recheck`, every poll interval) does the same for every
waiting execution, catching what the API never saw. Each is one query per distinct
condition over the registry (`store.waiting`), and one signal per execution that can now
move on — never one per execution that waits.

An execution is marked woken before it is signalled: its check after the signal clears the
mark (or removes its entry), so a mark never hides a later change, and a woken execution
is not signalled again by the next round while its worker catches up.
"""

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from journeys.errors import Unavailable
from orchestration.temporal_client import RPC_TIMEOUT
from store import waiting as store
from store.clock import now
from store.db import SessionFactory, read_only
from store.tables import Event
from store.waiting import Waiting
from workflows.contracts import EventInfo, ReceivedEvent
from workflows.visibility import CUSTOMER_CHANGED, EVENT_RECEIVED

log = logging.getLogger(__name__)

# Executions signalled at once.
SIGNAL_CONCURRENCY = 32
# Of one request's events, how many of a customer's with one name a waiting execution is
# sent (a batch repeating earlier events besides a new one still reaches it).
EVENTS_PER_WAIT = 10
# Registry rows read (and signalled) per query page.
PAGE = 1_000
# Customers per registry query after a bulk change (an import of 100 000).
CUSTOMER_CHUNK = 500
# A woken execution that hasn't checked again by then (its workers were away, or the
# wake-up was cut short before its signal went out) is woken again; until then the rounds
# leave it be.
REWAKE_SECONDS = 600
# Rows not checked for this long past the safety interval are verified against Temporal,
# this many per round.
STALE_GRACE_SECONDS = 3_600
STALE_BATCH = 100
# Wake-ups after API changes still under way at once; past that a change waits for the
# next round of the re-check.
NOTIFY_BACKLOG = 64
NOTIFY_TIMEOUT = 60.0
_notifying: set[asyncio.Task[None]] = set()


@dataclass
class Tally:
    conditions: int = 0
    woken: int = 0
    forgotten: int = 0
    failed: int = 0  # conditions that could not be checked

    def add(self, other: "Tally") -> None:
        self.woken += other.woken
        self.forgotten += other.forgotten


async def wake(
    client: Client,
    sessions: SessionFactory,
    waiting: Waiting,
    customer_ids: Sequence[int] | None = None,
) -> Tally:
    """Signal the executions waiting for this condition (of these customers, if given)
    whose customer now meets it. `Unavailable` if Temporal is away (the unsignalled are
    left unmarked for the next round)."""
    tally = Tally()
    after = ""
    while True:
        async with sessions() as session:
            await read_only(session)
            ids = await store.matching(
                session,
                waiting,
                woken_before=now() - REWAKE_SECONDS,
                customer_ids=customer_ids,
                after=after,
                limit=PAGE,
            )
        if not ids:
            return tally
        async with sessions() as session:
            await store.mark_woken(session, ids, now())
            await session.commit()
        signalled: list[str] = []
        gone: list[str] = []
        try:
            await _signal(client, ids, signalled, gone)
        finally:
            # Unmarked unless signalled: the next round tries again (cut short, too).
            failed = sorted(set(ids) - set(signalled) - set(gone))
            async with sessions() as session:
                await store.forget(session, gone)
                await store.mark_woken(session, failed, None)
                await session.commit()
        tally.woken += len(signalled)
        tally.forgotten += len(gone)
        if failed:
            raise Unavailable(f"Temporal did not take {len(failed)} wake-up signals.")
        _beat()
        after = ids[-1]
        if len(ids) < PAGE:
            return tally


async def _signal(client: Client, ids: list[str], signalled: list[str], gone: list[str]) -> None:
    """Signal each execution, noting which were (`signalled`) and which have ended (`gone`:
    Temporal answers NOT_FOUND); the rest Temporal didn't take."""
    gate = asyncio.Semaphore(SIGNAL_CONCURRENCY)

    async def one(execution_id: str) -> None:
        async with gate:
            try:
                await client.get_workflow_handle(execution_id).signal(
                    CUSTOMER_CHANGED, rpc_timeout=RPC_TIMEOUT
                )
            except RPCError as error:
                if error.status == RPCStatusCode.NOT_FOUND:
                    gone.append(execution_id)
                return
            signalled.append(execution_id)

    await asyncio.gather(*(one(execution_id) for execution_id in ids))


def received_event(row: Event) -> ReceivedEvent:
    """A stored event as a waiting execution takes it."""
    info = EventInfo(name=row.name, id=row.event_id, data=row.data, occurred_at=row.occurred_at)
    return ReceivedEvent(event=info, received=row.received_ms or row.created * 1000)


async def events_received(client: Client, sessions: SessionFactory, rows: Sequence[Event]) -> int:
    """Signal the executions waiting for these events (`wait_for_event`) with each of their
    customer's events of the name they wait for (the first `EVENTS_PER_WAIT`, in order); how
    many executions were signalled. A repeat is sent too: the execution takes only events
    received since its wait began, never its trigger, each once, and leaves the registry
    itself. One that has ended is forgotten. Called under `reachable`: Temporal away is a
    503, and the events sent again signal again."""
    if not rows:
        return 0
    by_pair: dict[tuple[int, str], list[Event]] = {}
    for row in rows:
        found = by_pair.setdefault((row.customer_id, row.name), [])
        if len(found) < EVENTS_PER_WAIT and all(row is not other for other in found):
            found.append(row)
    async with sessions() as session:
        await read_only(session)
        waits = await store.event_waits(session, rows[0].place_id, set(by_pair))
    gate = asyncio.Semaphore(SIGNAL_CONCURRENCY)
    gone: list[str] = []

    async def one(execution_id: str, events: list[Event]) -> None:
        async with gate:
            for row in events:
                try:
                    await client.get_workflow_handle(execution_id).signal(
                        EVENT_RECEIVED, received_event(row), rpc_timeout=RPC_TIMEOUT
                    )
                except RPCError as error:
                    if error.status != RPCStatusCode.NOT_FOUND:
                        raise
                    gone.append(execution_id)
                    return

    try:
        await asyncio.gather(
            *(
                one(execution_id, by_pair[(customer, name)])
                for execution_id, customer, name in waits
            )
        )
    finally:
        if gone:
            async with sessions() as session:
                await store.forget(session, gone)
                await session.commit()
    return len(waits) - len(gone)


async def customers_changed(
    client: Client, sessions: SessionFactory, place_id: int, customer_ids: Sequence[int]
) -> Tally:
    """Wake the changed customers' waiting executions whose condition now holds."""
    tally = Tally()
    for start in range(0, len(customer_ids), CUSTOMER_CHUNK):
        chunk = customer_ids[start : start + CUSTOMER_CHUNK]
        async with sessions() as session:
            await read_only(session)
            conditions = await store.conditions(session, place_id, chunk)
        for waiting in conditions:
            tally.add(await wake(client, sessions, waiting, chunk))
        tally.conditions += len(conditions)
    return tally


def notify_customers_changed(
    client: Client, sessions: SessionFactory, place_id: int, customer_ids: Iterable[int]
) -> None:
    """`customers_changed` in the background: the request that changed them doesn't wait.
    Best effort: what it misses (Temporal away, too many under way) the next round of the
    re-check finds."""
    ids = list(dict.fromkeys(customer_ids))
    if not ids:
        return
    if len(_notifying) >= NOTIFY_BACKLOG:
        log.warning("too many wake-ups under way; %d customers wait for the re-check", len(ids))
        return
    task = asyncio.create_task(_notify(client, sessions, place_id, ids))
    _notifying.add(task)
    task.add_done_callback(_notifying.discard)


async def _notify(client: Client, sessions: SessionFactory, place_id: int, ids: list[int]) -> None:
    try:
        async with asyncio.timeout(NOTIFY_TIMEOUT):
            await customers_changed(client, sessions, place_id, ids)
    except (Unavailable, SQLAlchemyError, OSError, TimeoutError) as error:
        log.warning("could not wake the executions of %d customers: %s", len(ids), error)
    except Exception:
        # A background task: nothing else would ever see what went wrong.
        log.exception("waking the executions of %d customers failed", len(ids))


async def recheck(client: Client, sessions: SessionFactory, safety_seconds: int) -> Tally:
    """One round: every distinct condition waited for, one query each, and a look at the
    entries of executions that stopped checking (they may have ended unseen). A condition
    that can't be checked (Temporal or the database away, say) is logged and counted, and
    the round goes on with the others."""
    tally = Tally()
    async with sessions() as session:
        await read_only(session)
        conditions = await store.conditions(session)
    tally.conditions = len(conditions)
    for waiting in conditions:
        try:
            tally.add(await wake(client, sessions, waiting))
        except Exception as error:
            tally.failed += 1
            log.warning("could not re-check a condition of place %d: %s", waiting.place_id, error)
        _beat()
    tally.forgotten += await _sweep(client, sessions, now() - safety_seconds - STALE_GRACE_SECONDS)
    return tally


def _beat() -> None:
    """A long round shows it is alive (and a lost worker's round is soon taken up again)."""
    if activity.in_activity():
        activity.heartbeat()


async def _sweep(client: Client, sessions: SessionFactory, checked_before: int) -> int:
    """Forget the stale entries whose execution is no longer running (terminated, or
    cancelled before it could say so); mark the others checked. How many were forgotten."""
    async with sessions() as session:
        await read_only(session)
        ids = await store.stale(session, checked_before, STALE_BATCH)
    if not ids:
        return 0
    ended: list[str] = []
    running: list[str] = []
    for execution_id in ids:
        _beat()
        try:
            described = await client.get_workflow_handle(execution_id).describe(
                rpc_timeout=RPC_TIMEOUT
            )
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise Unavailable(f"Temporal could not describe {execution_id}.") from error
            ended.append(execution_id)
            continue
        (running if described.status == WorkflowExecutionStatus.RUNNING else ended).append(
            execution_id
        )
    async with sessions() as session:
        await store.forget(session, ended)
        await store.touch(session, running, now())
        await session.commit()
    return len(ended)
