"""A time budget for the work one mail causes (`limits.time_per_mail`).

Every pattern askfirst runs over mail text is linear and the text is capped (message.py),
so the budget should never be needed; it is the guarantee for what no review can promise:
a user's own `classify.networks` patterns, a parser corner not yet met. A mail over budget
is set aside (see `App`), never retried in a loop.

The budget is a real deadline, not a check between steps: SIGALRM's handler raises
`OverBudget`, and CPython's regex engine polls for signals while it matches, so even a
catastrophic pattern is stopped. Signals reach only the main thread; elsewhere (a test
that runs the app in a worker thread) the work runs without a deadline.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class OverBudget(Exception):
    """The work for one mail took longer than its budget."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"took longer than the {seconds:g} s a mail may take")
        self.seconds = seconds


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise `OverBudget` inside the block once `seconds` have passed (0: no deadline)."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise OverBudget(seconds)

    previous = signal.signal(signal.SIGALRM, expire)
    started = time.monotonic()
    outer, interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:  # someone else's timer (a test runner's timeout): give it back its rest
            left = outer - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001), interval)
