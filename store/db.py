"""Async engine and sessions for SQLite (default, WAL) and PostgreSQL.

Every wait on the database is bounded, so a frozen or overloaded database makes a request fail
fast (the API answers 503) instead of queueing it for half a minute: connecting, waiting for a
pooled connection or for SQLite's write lock, and each statement (PostgreSQL's
`statement_timeout`; on SQLite a progress handler interrupts a statement past its time).
"""

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.util.concurrency import await_only
from sqlmodel.ext.asyncio.session import AsyncSession

SessionFactory = async_sessionmaker[AsyncSession]

# The connection option that marks a session as reading only (see `read_only`).
_READ_ONLY = "journeys_read_only"
# How often (in SQLite VM instructions) a running statement checks its deadline.
_PROGRESS_STEPS = 10_000


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(
    url: str, pool_size: int = 5, *, timeout: float = 5.0, statement_timeout: float = 10.0
) -> AsyncEngine:
    """An engine whose waits are bounded: `timeout` for a connection (or SQLite's write lock),
    `statement_timeout` for any one statement."""
    if not is_sqlite(url):
        return create_async_engine(
            url,
            pool_pre_ping=True,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_timeout=timeout,
            connect_args={
                "timeout": timeout,
                # The server ends a statement past its time; the client gives up a little
                # later on a server that doesn't answer at all (frozen, or a dead network).
                "command_timeout": statement_timeout + timeout,
                "server_settings": {
                    "statement_timeout": str(int(statement_timeout * 1000)),
                    "lock_timeout": str(int(timeout * 1000)),
                },
            },
        )
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # Sized like PostgreSQL's: past the pool, each connection is opened for one session and
    # closed after it (a thread, the file, its pragmas), which under load cost the API more
    # than the queries it ran.
    pooled = (
        {"pool_size": pool_size, "max_overflow": pool_size, "pool_timeout": timeout}
        if database and database != ":memory:"
        else {}  # one connection held for the engine's life (StaticPool): nothing to size
    )
    engine = create_async_engine(url, connect_args={"timeout": timeout}, **pooled)
    _configure_sqlite(engine, timeout, statement_timeout)
    return engine


def _configure_sqlite(engine: AsyncEngine, timeout: float, statement_timeout: float) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL: readers never wait for the writer, nor the writer for readers.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        cursor.close()
        clock = {"deadline": math.inf}
        record.info["statement_clock"] = clock
        # A non-zero answer interrupts the running statement ("interrupted").
        await_only(
            dbapi_connection._connection.set_progress_handler(
                lambda: int(time.monotonic() > clock["deadline"]), _PROGRESS_STEPS
            )
        )

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _start_clock(connection: Any, *_: Any) -> None:
        clock = connection.info.get("statement_clock")
        if clock is not None:
            clock["deadline"] = time.monotonic() + statement_timeout

    # Stopped after every statement, and before COMMIT and ROLLBACK (which run on the same
    # clock) and whatever a failed statement left running: those must never be interrupted.
    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    @event.listens_for(engine.sync_engine, "commit")
    @event.listens_for(engine.sync_engine, "rollback")
    def _stop_clock(connection: Any, *_: Any) -> None:
        clock = connection.info.get("statement_clock")
        if clock is not None:
            clock["deadline"] = math.inf

    @event.listens_for(engine.sync_engine, "handle_error")
    def _stop_clock_on_error(context: Any) -> None:
        if context.connection is not None:
            _stop_clock(context.connection)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A transaction that may write takes the write lock up front: one that read first and
        # then tried to write would fail at once (SQLITE_BUSY) instead of waiting whenever
        # another writer committed in between. A read-only one takes no lock at all.
        if connection.get_execution_options().get(_READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


async def read_only(session: AsyncSession) -> None:
    """Mark a fresh session as one that only reads: on SQLite it then takes no write lock,
    so reads never queue behind writes (nor writes behind a long read)."""
    await session.connection(execution_options={_READ_ONLY: True})


class DatabaseBusy(TimeoutError):
    """A writer waited its whole timeout for its turn to write."""


class _WriteQueue:
    def __init__(self, timeout: float) -> None:
        self._lock = asyncio.Lock()
        self._timeout = timeout

    async def __aenter__(self) -> None:
        try:
            # wait_for, not asyncio.timeout: on 3.11 a timeout that fires as the lock is
            # acquired can leave a stray cancellation behind; wait_for returns the lock.
            await asyncio.wait_for(self._lock.acquire(), self._timeout)
        except TimeoutError:
            raise DatabaseBusy(f"no turn to write within {self._timeout:g} s") from None

    async def __aexit__(self, *_: object) -> None:
        self._lock.release()


def write_gate(engine: AsyncEngine, timeout: float = 5.0) -> AbstractAsyncContextManager[Any]:
    """What a process's hot writers queue on before they write. SQLite has one write lock per
    file and wakes its waiters by polling, not in turn: under load some waited out their
    timeout. Queued here first (in order, for at most `timeout`), a process's writers contend
    for it one at a time. PostgreSQL locks rows, not the database: its writers need no queue."""
    return _WriteQueue(timeout) if engine.dialect.name == "sqlite" else nullcontext()


def session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


@asynccontextmanager
async def transaction(url: str) -> AsyncIterator[AsyncSession]:
    """One session on a short-lived engine, committed if the block succeeds: for commands
    that touch the database once (`journeys keys create`, `journeys dev` set-up)."""
    engine = create_engine(url, timeout=30.0, statement_timeout=300.0)
    try:
        async with session_factory(engine)() as session:
            yield session
            await session.commit()
    finally:
        await engine.dispose()


async def ping(sessions: SessionFactory) -> None:
    """One round trip to the database (readiness)."""
    async with sessions() as session:
        connection = await session.connection()
        await connection.execute(text("SELECT 1"))
