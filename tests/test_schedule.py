"""schedule: send windows on the owner's clock (DST included), jitter, decline deadlines."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from askfirst.schedule import (
    ALWAYS,
    Window,
    decline_due,
    jittered,
    next_send_time,
    parse_window,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
OFFICE = "Mon-Fri 09:00-18:00"
WEEKDAYS = frozenset(range(5))


def local(tz: ZoneInfo, y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=tz)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("Mon-Fri 09:00-18:00", Window(WEEKDAYS, ((540, 1080),))),
        ("Mon,Wed,Fri 10:00-12:00", Window(frozenset({0, 2, 4}), ((600, 720),))),
        ("Mon, Wed, Fri 10:00-12:00", Window(frozenset({0, 2, 4}), ((600, 720),))),
        ("Sat-Sun 10:00-16:00", Window(frozenset({5, 6}), ((600, 960),))),
        ("Mon-Fri 09:00-12:00, 13:00-17:00", Window(WEEKDAYS, ((540, 720), (780, 1020)))),
        ("Mon-Fri 13:00-17:00,09:00-12:00", Window(WEEKDAYS, ((540, 720), (780, 1020)))),
        ("Fri-Mon 08:00-20:00", Window(frozenset({4, 5, 6, 0}), ((480, 1200),))),
        ("Monday - Friday 9:00-17:30", Window(WEEKDAYS, ((540, 1050),))),
        ("Mon-Wed,Fri 09:00-18:00", Window(frozenset({0, 1, 2, 4}), ((540, 1080),))),
        ("sun 22:00-24:00", Window(frozenset({6}), ((1320, 1440),))),
        ("09:00-18:00", Window(frozenset(range(7)), ((540, 1080),))),
        ("always", ALWAYS),
        (" Always ", ALWAYS),
        ("", ALWAYS),
    ],
)
def test_parse_window(text: str, window: Window) -> None:
    assert parse_window(text) == window


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("Mox-Fri 09:00-18:00", "unknown day 'mox'"),
        ("weekdays 09:00-18:00", "unknown day 'weekdays'"),
        ("Mon-Fri", "expected days and times"),
        ("Mon--Fri 09:00-18:00", "cannot read days"),
        ("Mon-Fri 18:00-09:00", "ends before it starts"),
        ("Mon-Fri 09:00-09:00", "ends before it starts"),
        ("Mon-Fri 24:00-24:00", "not a time of day"),
        ("Mon-Fri 09:60-10:00", "not a time of day"),
        ("Mon-Fri 09:00-24:01", "not a time of day"),
        ("Mon-Fri 9-17", "cannot read time range '9-17'"),
        ("Mon-Fri 09:00-18:00,", "cannot read time range ''"),
        ("Mon-Fri 09:00 to 18:00", "cannot read time range"),
    ],
)
def test_parse_window_names_what_is_wrong(text: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint) as error:
        parse_window(text)
    assert repr(text) in str(error.value)


@pytest.mark.parametrize(
    ("earliest", "window", "tz", "expected"),
    [
        # inside the window: now
        (utc(2026, 6, 10, 10), OFFICE, BERLIN, utc(2026, 6, 10, 10)),
        # before it opens: 09:00 CEST
        (utc(2026, 6, 10, 5), OFFICE, BERLIN, utc(2026, 6, 10, 7)),
        # the end is exclusive: Friday 18:00 waits for Monday
        (utc(2026, 6, 12, 16), OFFICE, BERLIN, utc(2026, 6, 15, 7)),
        (utc(2026, 6, 13, 12), OFFICE, BERLIN, utc(2026, 6, 15, 7)),
        # between two ranges of one day
        (
            utc(2026, 6, 10, 10, 30),
            "Mon-Fri 09:00-12:00, 13:00-17:00",
            BERLIN,
            utc(2026, 6, 10, 11),
        ),
        # across the spring-forward weekend (29 March 2026): 09:00 CET → 09:00 CEST
        (utc(2026, 3, 27, 17), OFFICE, BERLIN, utc(2026, 3, 30, 7)),
        # across the fall-back weekend (25 October 2026): 09:00 CEST → 09:00 CET
        (utc(2026, 10, 23, 16), OFFICE, BERLIN, utc(2026, 10, 26, 8)),
        # 02:30 does not exist on 29 March: the window opens when clocks jump to 03:00 CEST
        (utc(2026, 3, 28, 12), "Sun 02:30-04:00", BERLIN, utc(2026, 3, 29, 1)),
        (utc(2026, 3, 29, 1, 30), "Sun 02:30-04:00", BERLIN, utc(2026, 3, 29, 1, 30)),
        # a window wholly inside the gap never opens that day: the next Sunday
        (utc(2026, 3, 28, 12), "Sun 02:10-02:50", BERLIN, utc(2026, 4, 5, 0, 10)),
        # 02:00 occurs twice on 25 October: the first occurrence (CEST)
        (utc(2026, 10, 24, 12), "Sun 02:00-02:45", BERLIN, utc(2026, 10, 25, 0)),
        # New York: DST starts 8 March 2026 and ends 1 November 2026
        (utc(2026, 3, 6, 22), "Mon-Fri 09:00-17:00", NEW_YORK, utc(2026, 3, 9, 13)),
        (utc(2026, 10, 30, 21), "Mon-Fri 09:00-17:00", NEW_YORK, utc(2026, 11, 2, 14)),
        (utc(2026, 3, 7, 12), "Sun 02:30-03:30", NEW_YORK, utc(2026, 3, 8, 7)),
        # up to midnight, and any time
        (utc(2026, 6, 14, 21, 59), "Sun 22:00-24:00", BERLIN, utc(2026, 6, 14, 21, 59)),
        (utc(2026, 6, 14, 22), "Sun 22:00-24:00", BERLIN, utc(2026, 6, 21, 20)),
        (utc(2026, 3, 29, 1, 30), "always", BERLIN, utc(2026, 3, 29, 1, 30)),
    ],
)
def test_next_send_time(earliest: datetime, window: str, tz: ZoneInfo, expected: datetime) -> None:
    sent = next_send_time(earliest, parse_window(window), tz)
    assert sent == expected
    assert sent.tzinfo is UTC


def test_next_send_time_answers_in_utc_whatever_zone_it_was_given() -> None:
    earliest = local(BERLIN, 2026, 6, 10, 7)  # 05:00 UTC
    assert next_send_time(earliest, parse_window(OFFICE), BERLIN) == utc(2026, 6, 10, 7)


def test_next_send_time_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_send_time(datetime(2026, 6, 10, 10), ALWAYS, BERLIN)


def inside(when: datetime, window: Window, tz: ZoneInfo) -> bool:
    wall = when.astimezone(tz)
    minute = wall.hour * 60 + wall.minute
    return wall.weekday() in window.days and any(s <= minute < e for s, e in window.ranges)


@settings(max_examples=60, deadline=None)
@given(
    earliest=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31)),
    text=st.sampled_from(
        [OFFICE, "Sat-Sun 10:00-16:00", "Mon,Wed,Fri 10:00-12:00, 13:00-17:00", "Tue 00:00-01:00"]
    ),
    tz=st.sampled_from([BERLIN, NEW_YORK]),
)
def test_next_send_time_is_the_first_instant_inside(
    earliest: datetime, text: str, tz: ZoneInfo
) -> None:
    """Brute force on quarter hours (the windows open on whole hours, the zones are whole hours)."""
    earliest = earliest.replace(tzinfo=UTC)
    window = parse_window(text)
    sent = next_send_time(earliest, window, tz)
    assert sent >= earliest
    assert inside(sent, window, tz)
    assert next_send_time(sent, window, tz) == sent
    if inside(earliest, window, tz):
        assert sent == earliest
    step = timedelta(minutes=15)
    probe = earliest.replace(minute=earliest.minute // 15 * 15, second=0, microsecond=0) + step
    while probe < sent:
        assert not inside(probe, window, tz), probe
        probe += step


@pytest.mark.parametrize("seed", range(5))
def test_jittered_stays_within_the_jitter(seed: int) -> None:
    when, jitter = utc(2026, 6, 10, 9), timedelta(minutes=10)
    late = jittered(when, jitter, random.Random(seed))
    assert when <= late <= when + jitter
    assert late == jittered(when, jitter, random.Random(seed))


def test_jittered_spreads_sends() -> None:
    rnd = random.Random(7)
    when = utc(2026, 6, 10, 9)
    assert len({jittered(when, timedelta(minutes=10), rnd) for _ in range(20)}) == 20


def test_no_jitter_is_no_delay() -> None:
    assert jittered(utc(2026, 6, 10, 9), timedelta(0), random.Random(1)) == utc(2026, 6, 10, 9)


def test_negative_jitter_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        jittered(utc(2026, 6, 10, 9), timedelta(minutes=-1), random.Random(1))


def test_calendar_deadline_is_plain_elapsed_time_even_across_dst() -> None:
    asked = local(BERLIN, 2026, 3, 27, 15)
    due = decline_due(asked, timedelta(days=7), "calendar", BERLIN)
    assert due == asked.astimezone(UTC) + timedelta(hours=168)  # ZoneInfo "+" is wall time
    assert due.astimezone(BERLIN).hour == 16  # a week of elapsed time, one clock hour later
    assert due.tzinfo is UTC


@pytest.mark.parametrize(
    ("asked", "days", "due"),
    [
        # Friday 15:00 plus 7 business days: the Tuesday 11 days later, 15:00
        (local(BERLIN, 2026, 6, 12, 15), 7, local(BERLIN, 2026, 6, 23, 15)),
        (local(BERLIN, 2026, 6, 8, 10), 5, local(BERLIN, 2026, 6, 15, 10)),
        (local(BERLIN, 2026, 6, 10, 10, 30, 15), 1, local(BERLIN, 2026, 6, 11, 10, 30, 15)),
        (local(BERLIN, 2026, 6, 12, 15), 1, local(BERLIN, 2026, 6, 15, 15)),
        # asked on a weekend: counted from Monday at the same local time
        (local(BERLIN, 2026, 6, 13, 15), 1, local(BERLIN, 2026, 6, 16, 15)),
        (local(BERLIN, 2026, 6, 14, 23, 59), 0, local(BERLIN, 2026, 6, 15, 23, 59)),
        # across spring-forward and fall-back: the same local time, not the same UTC time
        (local(BERLIN, 2026, 3, 27, 15), 1, local(BERLIN, 2026, 3, 30, 15)),
        (local(BERLIN, 2026, 10, 23, 15), 1, local(BERLIN, 2026, 10, 26, 15)),
        (local(NEW_YORK, 2026, 3, 6, 9), 2, local(NEW_YORK, 2026, 3, 10, 9)),
    ],
)
def test_business_deadline(asked: datetime, days: int, due: datetime) -> None:
    tz = asked.tzinfo
    assert isinstance(tz, ZoneInfo)
    result = decline_due(asked.astimezone(UTC), timedelta(days=days), "business", tz)
    assert result == due
    assert result.tzinfo is UTC


@pytest.mark.parametrize("wait", [timedelta(hours=36), timedelta(days=-1)])
def test_business_deadline_needs_whole_days(wait: timedelta) -> None:
    with pytest.raises(ValueError, match="whole days"):
        decline_due(utc(2026, 6, 10, 9), wait, "business", BERLIN)
