"""Calendar arithmetic of wait_for_duration."""

from datetime import UTC, datetime, timedelta

from workflows.model.durations import wait_until
from workflows.model.machine import WaitForDurationStep


def wait(**units):
    return WaitForDurationStep(type="wait_for_duration", **units)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_months_clamp_to_the_end_of_the_month():
    assert wait_until(at(2026, 1, 31, 9, 30), wait(months=1)) == at(2026, 2, 28, 9, 30)
    assert wait_until(at(2028, 1, 31), wait(months=1)) == at(2028, 2, 29)
    assert wait_until(at(2026, 11, 30), wait(months=3)) == at(2027, 2, 28)
    assert wait_until(at(2026, 12, 15), wait(months=1)) == at(2027, 1, 15)


def test_years_are_calendar_years():
    assert wait_until(at(2028, 2, 29), wait(years=1)) == at(2029, 2, 28)
    assert wait_until(at(2026, 3, 1), wait(years=2, months=13)) == at(2029, 4, 1)


def test_small_units_are_exact_and_added_after_the_calendar_part():
    start = at(2026, 1, 31, 23, 0)
    assert wait_until(start, wait(days=3)) == start + timedelta(days=3)
    assert wait_until(start, wait(hours=48)) == start + timedelta(days=2)
    assert wait_until(start, wait(days=1, hours=12)) == start + timedelta(hours=36)
    assert wait_until(start, wait(months=1, days=1)) == at(2026, 3, 1, 23, 0)
    assert wait_until(start, wait(weeks=1, minutes=1, seconds=1)) == start + timedelta(
        weeks=1, minutes=1, seconds=1
    )
    assert wait_until(start, wait(days=0)) == start
