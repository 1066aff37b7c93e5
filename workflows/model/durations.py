"""When a `wait_for_duration` step ends (and a `wait_for_event` times out).

Years and months are calendar arithmetic from the moment the step starts (Jan 31 + 1 month
is Feb 28 or 29), in UTC; weeks and smaller units are exact durations added after them.
"""

import calendar
from datetime import datetime, timedelta

from workflows.model.machine import Duration


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
