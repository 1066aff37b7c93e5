"""What happens to the simulated customer by time — the segments they are in and the events
that arrive for them — and how a moment is said from the start ("day 2 +3h")."""

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from store.clock import DAY


@dataclass(frozen=True)
class Change:
    """From `at` on the customer is in the segment (or, `member` False, out of it)."""

    at: datetime
    segment_id: int
    member: bool


@dataclass(frozen=True)
class Received:
    """An event that arrives for the customer at `at`."""

    at: datetime
    name: str
    data: Mapping[str, Any]


class Timeline:
    def __init__(
        self,
        start: datetime,
        members: Collection[int],
        changes: Iterable[Change],
        events: Iterable[Received],
    ) -> None:
        self.start = start
        self.members = frozenset(members)  # at the start
        # Sorted stably: of two changes of a segment at one moment, the later given wins.
        self.changes = sorted(changes, key=lambda change: change.at)
        self.events = sorted(events, key=lambda event: event.at)

    def offset(self, at: datetime) -> str:
        """`at` counted from the start: "day 2", "day 0 +3h30m"."""
        days, rest = divmod(int((at - self.start).total_seconds()), DAY)
        hours, rest = divmod(rest, 3600)
        minutes, seconds = divmod(rest, 60)
        parts = ((hours, "h"), (minutes, "m"), (seconds, "s"))
        extra = "".join(f"{count}{unit}" for count, unit in parts if count)
        return f"day {days} +{extra}" if extra else f"day {days}"

    def _last_change(self, segment_id: int, at: datetime) -> Change | None:
        last = None
        for change in self.changes:
            if change.at > at:
                break
            if change.segment_id == segment_id:
                last = change
        return last

    def member(self, segment_id: int, at: datetime) -> bool:
        change = self._last_change(segment_id, at)
        return change.member if change else segment_id in self.members

    def matches(self, include: Collection[int], exclude: Collection[int], at: datetime) -> bool:
        """In at least one `include` segment (if any) and in no `exclude` segment, as a
        `wait_for_condition` step checks."""
        inside = not include or any(self.member(s, at) for s in include)
        return inside and not any(self.member(s, at) for s in exclude)

    def next_match(
        self, include: Collection[int], exclude: Collection[int], after: datetime
    ) -> datetime | None:
        """The first moment from `after` on at which the customer matches; None: never."""
        moments = sorted({change.at for change in self.changes if change.at > after})
        for moment in (after, *moments):
            if self.matches(include, exclude, moment):
                return moment
        return None

    def why(self, include: Collection[int], exclude: Collection[int], at: datetime) -> str:
        """The memberships by which the customer matches at `at`: "in segment 3 from day 2,
        not in segment 6 from the start"."""
        inside = [s for s in include if self.member(s, at)][:1]
        parts = [
            f"{'in' if s in inside else 'not in'} segment {s} {self._since(s, at)}"
            for s in (*inside, *exclude)
        ]
        return ", ".join(parts)

    def _since(self, segment_id: int, at: datetime) -> str:
        change = self._last_change(segment_id, at)
        return f"from {self.offset(change.at)}" if change else "from the start"

    def arrived(self, names: Collection[str], by: datetime) -> Received | None:
        """The first event named one of `names` that arrived at or before `by`."""
        return next((e for e in self.events if e.at <= by and e.name in names), None)

    def arriving(
        self, names: Collection[str], after: datetime, before: datetime | None
    ) -> Received | None:
        """The first event named one of `names` strictly between `after` and `before`
        (None: any time after)."""
        return next(
            (
                e
                for e in self.events
                if after < e.at and (before is None or e.at < before) and e.name in names
            ),
            None,
        )
