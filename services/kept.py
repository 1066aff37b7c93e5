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
log = logging.getLogger("journeys.kept")
T = TypeVar("T")


@dataclass
class _Value(Generic[T]):
    value: T
    at: float  # time.monotonic() when it was computed


class Kept(Generic[T]):
    """Values kept per key, computed one at a time per key: answered as they are for `fresh`
    seconds; then, up to `stale` seconds old (if set), answered at once while one computation
    in the background replaces them; older (or never computed), computed while the caller
    waits. At most `size` keys are kept."""

    def __init__(self, fresh: float, stale: float | None = None, size: int = KEPT_KEYS) -> None:
        self.fresh, self.stale, self.size = fresh, stale, size
        self.values: dict[Hashable, _Value[T]] = {}
        self.locks: dict[Hashable, asyncio.Lock] = {}
        self.refreshing: dict[Hashable, asyncio.Task[None]] = {}

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        kept = self.values.get(key)
        age = time.monotonic() - kept.at if kept else None
        if kept is not None and age is not None and age < self.fresh:
            return kept.value
        if kept is not None and age is not None and self.stale and age < self.stale:
            if key not in self.refreshing:
                task = asyncio.create_task(self._refresh(key, compute))
                self.refreshing[key] = task
            return kept.value
        return await self._compute(key, compute)

    async def _compute(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        lock = self.locks.setdefault(key, asyncio.Lock())
        async with lock:
            kept = self.values.get(key)
            if kept is not None and time.monotonic() - kept.at < self.fresh:
                return kept.value  # computed while this caller waited its turn
            value = await compute()
            self._keep(key, value)
            return value

    async def _refresh(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> None:
        try:
            await self._compute(key, compute)
        except Exception as error:  # the kept value stays; the next caller tries again
            log.warning("could not bring kept counts up to date: %s", error)
        finally:
            self.refreshing.pop(key, None)

    async def close(self) -> None:
        """Stop the counts under way in the background (the app is stopping)."""
        tasks = list(self.refreshing.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _keep(self, key: Hashable, value: T) -> None:
        self.values.pop(key, None)
        self.values[key] = _Value(value, time.monotonic())
        while len(self.values) > self.size:
            oldest = next(iter(self.values))
            del self.values[oldest]
            if oldest not in self.refreshing:
                self.locks.pop(oldest, None)
