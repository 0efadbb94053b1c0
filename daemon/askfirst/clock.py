"""The one place that reads the wall clock; everything else is handed a `Clock`."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from askfirst import logs

log = logs.get()
JUMP_SECONDS = 300.0  # wall time moving this much more or less than elapsed time


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


class SystemClock:
    """Real time, for the daemon."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """Time that moves only when told to, so a 7-day lifecycle runs in milliseconds."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when.astimezone(UTC)


def to_epoch(when: datetime) -> int:
    return int(when.timestamp())


def from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class JumpWatch:
    """Notices the wall clock jumping between passes (a suspended VM, a fixed NTP drift)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._last_look: tuple[datetime, float] | None = None  # wall and monotonic time

    def look(self, last_pass: Callable[[], datetime | None]) -> None:
        """Log a jump of the wall clock (forward or back) since the last look, or, at the
        first look, behind `last_pass` (the end of the last pass an earlier run saw).
        Nothing else changes: deadlines stay data, and the sends a jump makes due still
        wait for the hourly and daily caps (limits.py) like any other."""
        now, ticks = self.clock.now(), time.monotonic()
        earlier = last_pass() if self._last_look is None else None  # read at the first look
        if earlier is not None and to_epoch(now) < to_epoch(earlier) - JUMP_SECONDS:
            log.warning(  # at start: the clock is behind the last pass an earlier run saw
                "clock.jumped",
                direction="back",
                seconds=to_epoch(now) - to_epoch(earlier),
                now=now.isoformat(),
            )
        if self._last_look is not None:
            then, then_ticks = self._last_look
            drift = (now - then).total_seconds() - (ticks - then_ticks)
            if abs(drift) > JUMP_SECONDS:
                log.warning(
                    "clock.jumped",
                    direction="forward" if drift > 0 else "back",
                    seconds=round(drift),
                    now=now.isoformat(),
                )
        self._last_look = (now, ticks)
