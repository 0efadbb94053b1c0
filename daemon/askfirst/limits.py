"""Brakes on sending: a kill switch, a circuit breaker, hourly and daily caps. Pure.

They hold asks and declines in the outbox (nothing is dropped: held mail goes out when
the brake lifts). The kill switch holds everything, notices to the owner included.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from askfirst.config import Limits


@dataclass(frozen=True)
class History:
    """What was sent and what failed recently (from the store)."""

    sent_last_hour: int = 0
    sent_last_day: int = 0
    oldest_sent_in_hour: datetime | None = None
    oldest_sent_in_day: datetime | None = None
    failures_last_day: int = 0
    last_failure_at: datetime | None = None

    def with_send(self, at: datetime) -> History:
        """One more ask or decline, sent `at` (in whole seconds, as the store keeps it): a
        sending pass counts its own sends rather than asking the store before every mail."""
        at = at.replace(microsecond=0)
        return replace(
            self,
            sent_last_hour=self.sent_last_hour + 1,
            sent_last_day=self.sent_last_day + 1,
            oldest_sent_in_hour=self.oldest_sent_in_hour or at,
            oldest_sent_in_day=self.oldest_sent_in_day or at,
        )


@dataclass(frozen=True)
class Brake:
    reason: str
    until: datetime | None = None  # None: until someone lifts it
    holds_notices: bool = False


def brake(now: datetime, history: History, limits: Limits, kill_switch: str | None) -> Brake | None:
    """Why asks and declines must wait now, if they must."""
    if kill_switch:
        return Brake(f"kill switch: {kill_switch}", holds_notices=True)
    if history.failures_last_day >= limits.breaker_failures and history.last_failure_at:
        until = history.last_failure_at + limits.breaker_pause
        if now < until:
            return Brake(
                f"circuit breaker: {history.failures_last_day} failed or bounced mails in 24 h",
                until,
            )
    if history.sent_last_hour >= limits.max_per_hour and history.oldest_sent_in_hour:
        return Brake(
            f"hourly cap of {limits.max_per_hour} reached",
            history.oldest_sent_in_hour + timedelta(hours=1),
        )
    if history.sent_last_day >= limits.max_per_day and history.oldest_sent_in_day:
        return Brake(
            f"daily cap of {limits.max_per_day} reached",
            history.oldest_sent_in_day + timedelta(days=1),
        )
    return None
