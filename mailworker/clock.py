"""The one place that reads the wall clock.

Logic takes a ``Clock`` and asks it for the time, so tests can pin or advance it.
Times are stored in UTC; the group's local zone (Asia/Seoul by default) is used only
to decide "which day" and to show times to people.
"""
from __future__ import annotations

import datetime as _dt
import functools
from typing import Protocol
from zoneinfo import ZoneInfo

UTC = _dt.timezone.utc
DEFAULT_ZONE = "Asia/Seoul"


class Clock(Protocol):
    def now(self) -> _dt.datetime:
        """An aware datetime in UTC."""


class SystemClock:
    def now(self) -> _dt.datetime:
        return _dt.datetime.now(UTC)


class FixedClock:
    """A clock for tests: it stays where it is put and moves only when told."""

    def __init__(self, start: _dt.datetime):
        if start.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> _dt.datetime:
        return self._now

    def set(self, when: _dt.datetime) -> None:
        self._now = when.astimezone(UTC)

    def advance(self, **delta) -> None:
        self._now += _dt.timedelta(**delta)


def zone(name: str = DEFAULT_ZONE) -> ZoneInfo:
    return ZoneInfo(name)


def to_utc(when: _dt.datetime) -> _dt.datetime:
    """Aware UTC datetime; naive datetimes are taken to be UTC already (as stored)."""
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


_naive_last: tuple = (None, None)


def naive_utc(when: _dt.datetime) -> _dt.datetime:
    """The form we store in the database: naive, in UTC."""
    global _naive_last
    last = _naive_last   # one message's rows ask for the same instant several times
    if when is last[0]:
        return last[1]
    out = to_utc(when).replace(tzinfo=None)
    _naive_last = (when, out)
    return out


@functools.lru_cache(maxsize=256)   # the same instant is asked for several times per message
def local_day(when: _dt.datetime, tz: ZoneInfo) -> _dt.date:
    return to_utc(when).astimezone(tz).date()


def local_day_bounds_utc(day: _dt.date, tz: ZoneInfo) -> tuple[_dt.datetime, _dt.datetime]:
    """[start, end) of a local calendar day, as naive UTC datetimes for queries."""
    start = _dt.datetime.combine(day, _dt.time(0), tzinfo=tz)
    end = start + _dt.timedelta(days=1)
    return naive_utc(start), naive_utc(end)


def half_year_start(when: _dt.datetime, tz: ZoneInfo) -> _dt.date:
    """First day of the half-year (Jan-Jun or Jul-Dec) holding ``when`` in local time."""
    d = local_day(when, tz)
    return _dt.date(d.year, 1 if d.month <= 6 else 7, 1)
