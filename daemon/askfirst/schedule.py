"""When an outgoing mail may go out: send windows, jitter, and the decline deadline. Pure.

Windows and business days are read on the owner's clock (an IANA zone, DST-correct via
zoneinfo); every instant in and out is an aware UTC datetime, so the store and the clock
never see local time. Time is always passed in.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

DeadlineMode = Literal["calendar", "business"]

_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MINUTES_PER_DAY = 24 * 60
_LOOKAHEAD_DAYS = 15  # two weeks: any weekday recurs, even after a date skipped by a zone change


@dataclass(frozen=True)
class Window:
    """Weekdays (0 = Monday) and half-open [start, end) ranges in minutes of local wall time."""

    days: frozenset[int]
    ranges: tuple[tuple[int, int], ...]


ALWAYS = Window(frozenset(range(7)), ((0, _MINUTES_PER_DAY),))

# A window is an optional day spec, then one or more time ranges separated by commas:
#   "Mon-Fri 09:00-18:00", "Mon,Wed,Fri 10:00-12:00", "Mon-Fri 09:00-12:00, 13:00-17:00".
# The day spec is everything before the first digit; without one, every day is meant.
_SPEC = re.compile(r"\s*(?P<days>[^0-9]*?)\s*(?P<times>[0-9].*?)\s*")
# One day item: "mon" or a range "fri-mon" (ranges may wrap over the weekend).
_DAY_ITEM = re.compile(r"(?P<first>[a-z]+)(?:\s*-\s*(?P<last>[a-z]+))?")
# One time range: "09:00-18:00"; the end may be "24:00" (midnight at the end of the day).
_HH_MM = r"([0-9]{1,2}):([0-9]{2})"
_RANGE = re.compile(rf"{_HH_MM}\s*-\s*{_HH_MM}")


def parse_window(text: str) -> Window:
    """The window a config string describes; "always" or "" means any time.

    Raises ValueError naming the bad part; the config layer prefixes the key.
    """
    if text.strip().lower() in ("", "always"):
        return ALWAYS
    spec = _SPEC.fullmatch(text)
    if spec is None:
        raise ValueError(f"{text!r}: expected days and times, e.g. 'Mon-Fri 09:00-18:00'")
    days = _parse_days(spec["days"], text) if spec["days"] else frozenset(range(7))
    ranges = tuple(sorted(_parse_range(part.strip(), text) for part in spec["times"].split(",")))
    return Window(days, ranges)


def _parse_days(spec: str, text: str) -> frozenset[int]:
    days: set[int] = set()
    for item in spec.lower().split(","):
        match = _DAY_ITEM.fullmatch(item.strip())
        if match is None:
            raise ValueError(f"{text!r}: cannot read days {item.strip()!r}, e.g. 'Mon-Fri'")
        first = _day_index(match["first"], text)
        last = _day_index(match["last"] or match["first"], text)
        days.update((first + i) % 7 for i in range((last - first) % 7 + 1))
    return frozenset(days)


def _day_index(name: str, text: str) -> int:
    """0 for "mon", "mond" or "monday": English names, at least three letters."""
    for index, full in enumerate(_DAY_NAMES):
        if len(name) >= 3 and full.startswith(name):
            return index
    raise ValueError(f"{text!r}: unknown day {name!r} (use Mon, Tue, Wed, Thu, Fri, Sat, Sun)")


def _parse_range(part: str, text: str) -> tuple[int, int]:
    match = _RANGE.fullmatch(part)
    if match is None:
        raise ValueError(f"{text!r}: cannot read time range {part!r}, e.g. '09:00-18:00'")
    h1, m1, h2, m2 = (int(group) for group in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if h1 > 23 or m1 > 59 or m2 > 59 or end > _MINUTES_PER_DAY:
        raise ValueError(f"{text!r}: {part!r} is not a time of day (00:00 to 24:00)")
    if start >= end:
        raise ValueError(f"{text!r}: {part!r} ends before it starts (split ranges at midnight)")
    return start, end


def _first_instant(day: date, since_midnight: timedelta, tz: ZoneInfo) -> datetime:
    """The first instant the owner's clock shows `day` + `since_midnight` or later (UTC).

    A wall time skipped by a spring-forward gap becomes the moment the clocks jump (02:30 →
    03:00); one that occurs twice on a fall-back night means its first occurrence.
    """
    local = datetime.combine(day, time(), tzinfo=tz) + since_midnight  # wall-clock arithmetic
    wall = local.replace(tzinfo=None)
    if local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall:
        return local.astimezone(UTC)
    lo, hi = sorted(int(local.replace(fold=fold).timestamp()) for fold in (0, 1))
    while hi - lo > 1:  # wall(lo) < wall <= wall(hi); zone transitions fall on whole seconds
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def next_send_time(earliest: datetime, window: Window, tz: ZoneInfo) -> datetime:
    """The first instant at or after `earliest` inside `window` on the owner's clock (UTC).

    Held mail waits for the window to open instead of going out at 3 a.m. the owner's time.
    """
    if earliest.tzinfo is None:
        raise ValueError("next_send_time needs an aware datetime")
    earliest = earliest.astimezone(UTC)
    first_day = earliest.astimezone(tz).date()
    opens: list[datetime] = []
    for offset in range(_LOOKAHEAD_DAYS):
        day = first_day + timedelta(days=offset)
        if day.weekday() not in window.days:
            continue
        for start, end in window.ranges:
            begin = _first_instant(day, timedelta(minutes=start), tz)
            finish = _first_instant(day, timedelta(minutes=end), tz)
            if begin <= earliest < finish:
                return earliest
            if earliest < begin < finish:
                opens.append(begin)
    if not opens:
        raise ValueError(f"{window} never opens")
    return min(opens)


def jittered(when: datetime, jitter: timedelta, rnd: random.Random) -> datetime:
    """`when` plus a uniform random delay in [0, jitter], so replies do not look robotic."""
    if jitter < timedelta(0):
        raise ValueError(f"jitter must not be negative: {jitter}")
    return when + timedelta(seconds=rnd.uniform(0, jitter.total_seconds()))


def decline_due(asked_at: datetime, wait: timedelta, mode: DeadlineMode, tz: ZoneInfo) -> datetime:
    """When an unanswered ask is declined (UTC).

    "calendar": `asked_at + wait`, exactly. "business": `wait` in whole days counting only
    Monday to Friday on the owner's clock (public holidays are not known). Business days are
    counted from the next business day at the same local time: an ask made on a Saturday
    counts as made on Monday at that time, and each day moves to the next weekday at that
    time. So Friday 15:00 plus 7 business days is the Tuesday 11 days later, 15:00.
    """
    if asked_at.tzinfo is None:
        raise ValueError("decline_due needs an aware datetime")
    if mode == "calendar":
        return asked_at.astimezone(UTC) + wait
    if mode != "business":
        raise ValueError(f"unknown deadline mode {mode!r} (calendar or business)")
    if wait < timedelta(0) or wait % timedelta(days=1):
        raise ValueError(f"business-day waits are whole days, not {wait}")
    local = asked_at.astimezone(tz)
    day = _weekday_on_or_after(local.date())
    for _ in range(wait.days):
        day = _weekday_on_or_after(day + timedelta(days=1))
    clock = timedelta(
        hours=local.hour, minutes=local.minute, seconds=local.second, microseconds=local.microsecond
    )
    return _first_instant(day, clock, tz)


def _weekday_on_or_after(day: date) -> date:
    """`day`, or the Monday after it when it falls on a weekend."""
    return day + timedelta(days=7 - day.weekday() if day.weekday() >= 5 else 0)
