"""Customers' local time: IANA zones and the quiet-hours window a marketing send waits out."""

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

HOUR_MINUTE = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """The IANA zone `name` (ValueError if there is none by that name)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"{name!r} is not an IANA time zone such as Europe/Paris or America/New_York"
        ) from None


def zone_name(value: str | None) -> str | None:
    """A field validator: an IANA zone name, or None."""
    if value is not None:
        zone(value)
    return value


def clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _at(day: date, moment: time, where: ZoneInfo) -> datetime:
    """`moment` on `day` in `where`, as UTC. A wall time a spring-forward skips is taken
    after the gap (02:30 on the change day is 03:30 summer time); one repeated by the
    fall-back is its first occurrence (PEP 495's fold=0 does both)."""
    return datetime.combine(day, moment, tzinfo=where).astimezone(UTC)


def quiet_until(moment: datetime, where: str, start: str, end: str) -> datetime | None:
    """When the quiet window (`start` to `end`, local wall clock, overnight if `end` is
    earlier) that `moment` falls in ends, in UTC; None if `moment` is outside it."""
    local_zone = zone(where)
    begins, ends = clock(start), clock(end)
    if begins == ends:
        return None
    local = moment.astimezone(local_zone)
    today = local.date()
    # The window that may hold `moment` began today or, overnight, yesterday.
    for first in (today - timedelta(days=1), today):
        opened = _at(first, begins, local_zone)
        closes_on = first if ends > begins else first + timedelta(days=1)
        closed = _at(closes_on, ends, local_zone)
        if opened <= moment < closed:
            return closed
    return None


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def step_zone(wanted: str, customer_zone: str | None, place_zone: str) -> str:
    """The zone a `wait_until` step's `timezone` means: `customer` (theirs, else the
    place's), `place`, or the IANA zone it names."""
    if wanted == "customer":
        return customer_zone or place_zone
    if wanted == "place":
        return place_zone
    return wanted


def next_time(moment: datetime, where: str, at: str, weekdays: tuple[str, ...] = ()) -> datetime:
    """The first local wall-clock `at` strictly after `moment` in zone `where`, on one of
    `weekdays` (any day if none), in UTC. DST-correct: 10:00 is 10:00 local on either side of
    a change (a skipped wall time counts as the same time after the gap)."""
    local_zone = zone(where)
    wanted = clock(at)
    day = moment.astimezone(local_zone).date()
    allowed = {WEEKDAYS.index(d) for d in weekdays} if weekdays else set(range(7))
    for offset in range(8):
        candidate = day + timedelta(days=offset)
        if candidate.weekday() not in allowed:
            continue
        when = _at(candidate, wanted, local_zone)
        if when > moment:
            return when
    raise AssertionError("a week always holds an allowed day")  # pragma: no cover
