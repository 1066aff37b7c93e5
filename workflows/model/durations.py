"""When a `wait_for_duration` step ends (and a `wait_for_event` times out).

Years and months are calendar arithmetic from the moment the step starts (Jan 31 + 1 month
is Feb 28 or 29), in UTC; weeks and smaller units are exact durations added after them.
"""

import calendar
from datetime import datetime, timedelta

from workflows.model.machine import DURATION_UNITS, Duration


def add_months(moment: datetime, months: int) -> datetime:
    total = moment.month - 1 + months
    year, month = moment.year + total // 12, total % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def wait_until(start: datetime, step: Duration) -> datetime:
    moment = add_months(start, step.years * 12 + step.months)
    return moment + timedelta(
        weeks=step.weeks,
        days=step.days,
        hours=step.hours,
        minutes=step.minutes,
        seconds=step.seconds,
    )


def in_words(step: Duration) -> str:
    """The duration in words: "3 days", "1 day 12 hours", "0 seconds"."""
    parts = []
    for unit in DURATION_UNITS:
        count = getattr(step, unit)
        if count:
            parts.append(f"{count} {unit if count != 1 else unit[:-1]}")
    return " ".join(parts) or "0 seconds"
