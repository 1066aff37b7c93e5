"""Values kept a moment per key — counts that cost visibility a query over many executions
(a journey's stats, an executions list's total) — computed one at a time per key, and while
asked for without pause brought up to date in the background instead of while callers wait."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

# Keys kept at once (the least recently computed go first).
KEPT_KEYS = 1_000
# Counted at most once a second per key, callers in that second sharing the count; under
# constant asking an answer up to 30 s old is given at once while the next count runs (so no
# caller waits on a large journey's counts twice in a row); older, counted while it waits.
FRESH_SECONDS = 1.0
STALE_SECONDS = 30.0
log = logging.getLogger("journeys.kept")
T = TypeVar("T")


@dataclass
class _Value(Generic[T]):
    value: T
    at: float  # time.monotonic() when it was computed


class Kept(Generic[T]):
    """Values kept per key, computed once at a time per key (callers who come while it runs
    share its value, or its error): answered as they are for `fresh` seconds; then, up to
    `stale` seconds old (if set), answered at once while a computation in the background
    replaces them; older (or never computed), computed while the caller waits. At most
    `size` keys are kept."""

    def __init__(
        self,
        fresh: float = FRESH_SECONDS,
        stale: float | None = STALE_SECONDS,
        size: int = KEPT_KEYS,
    ) -> None:
        self.fresh, self.stale, self.size = fresh, stale, size
        self.values: dict[Hashable, _Value[T]] = {}
        self.running: dict[Hashable, asyncio.Task[T]] = {}

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        kept = self.values.get(key)
        if kept is not None:
            age = time.monotonic() - kept.at
            if age < self.fresh:
                return kept.value
            if self.stale and age < self.stale:
                self._start(key, compute, background=True)
                return kept.value
        # Shielded: a caller that goes away (a client disconnecting) leaves the computation
        # to those still waiting for it.
        return await asyncio.shield(self._start(key, compute, background=False))

    def _start(
        self, key: Hashable, compute: Callable[[], Awaitable[T]], *, background: bool
    ) -> asyncio.Task[T]:
        task = self.running.get(key)
        if task is None:
            task = asyncio.create_task(self._run(key, compute))
            self.running[key] = task
            task.add_done_callback(self._ended if background else _retrieved)
        return task

    async def _run(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        try:
            value = await compute()
            self._keep(key, value)
            return value
        finally:
            self.running.pop(key, None)

    @staticmethod
    def _ended(task: asyncio.Task[T]) -> None:
        # In the background nobody else hears of a failure: the kept value stays, and the
        # next caller tries again.
        if not task.cancelled() and task.exception() is not None:
            log.warning("could not bring kept counts up to date: %s", task.exception())

    async def close(self) -> None:
        """Stop the computations under way (the app is stopping)."""
        tasks = list(self.running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _keep(self, key: Hashable, value: T) -> None:
        self.values.pop(key, None)
        self.values[key] = _Value(value, time.monotonic())
        while len(self.values) > self.size:
            del self.values[next(iter(self.values))]


def _retrieved(task: "asyncio.Task[object]") -> None:
    """Mark a failure as heard even if every caller waiting for it went away (asyncio would
    otherwise log "Task exception was never retrieved")."""
    if not task.cancelled():
        task.exception()
