"""The long-running loop: a pass, then IDLE on the same IMAP connection until the server
reports a change, the next sweep or due decline or retry, or a stop; without IDLE, a pass
on every sweep and poll tick. One connection (and one thread) per account.

A mail that arrives during a pass, after its search, is announced in the answer to a
later command of the pass or to the NOOP sent before IDLE, and IDLE would not announce it
again: such news means another pass before IDLE. After every (re)connect the pass catches
up by UID on anything missed. IDLE is renewed at `poll_interval` at the latest, and the
folder selected again after it.

Any error in a pass (or in the IDLE after it) is survived: logged (one line), counted, and
the pass tried again after a backoff (1 s doubling to 5 min; after a refused login
`imap.login_retry`, doubling to 30 min, so a provider does not lock the account). A busy or
full state file rolls back the step in hand, and the mail is read again by the next pass.
Only a lost lease (`LeaseLost`, or the account's PostgreSQL session gone) ends the loop:
the replica lets the account go, and whoever holds its lease next serves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from datetime import UTC

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from askfirst import logs
from askfirst.app import App
from askfirst.imap import ImapError, ImapLoginError
from askfirst.store import LeaseLost, is_transient

log = logs.get()
NEWS_PASSES = 3  # passes in a row for mail that came during a pass, then IDLE reports it
LOGIN_BACKOFF_CAP = 1800.0  # seconds: after refused logins, retry at least every 30 min


async def run_forever(app: App, stop: asyncio.Event) -> None:
    """Passes until `stop` is set; the pass in hand is finished first."""
    wake = asyncio.Event()
    scheduler = AsyncIOScheduler(timezone=UTC)
    _wake_every(scheduler, "sweep", app.settings.lifecycle.sweep_interval.total_seconds(), wake)
    scheduler.start()
    polling, backoff, news = False, 1.0, 0
    try:
        while not stop.is_set():
            try:
                await app.run_once()
                backoff = 1.0
                if _idles(app):
                    if news < NEWS_PASSES and await app.mailbox.take_news():
                        news += 1
                        continue
                    news = 0
                    await _idle(app, stop)
                    continue
            except LeaseLost:
                raise  # another replica may serve the account now: this loop ends
            except Exception as exc:  # any failure: log, count, back off, try again
                if app.store.session_lost():
                    raise  # PostgreSQL: the lease went with the session (replicas.py)
                backoff = _pass_failed(app, exc, backoff)
                await _wait_any(stop, within=backoff)
                backoff = _next_backoff(backoff, _cap(exc))
                continue
            if not polling:
                seconds = app.settings.lifecycle.poll_interval.total_seconds()
                _wake_every(scheduler, "poll", seconds, wake)
                log.info("imap.polling", every=seconds)
                polling = True
            await _wait_any(stop, wake, within=_seconds_to_next_due(app))
            wake.clear()
    finally:
        scheduler.shutdown(wait=False)


def _idles(app: App) -> bool:
    return app.settings.imap.idle and "IDLE" in app.mailbox.capabilities


async def _idle(app: App, stop: asyncio.Event) -> None:
    """IDLE on the pass's connection until a change, the next sweep or due time, or `stop`
    (which shuts the socket: the connection is being closed anyway)."""
    due = _seconds_to_next_due(app)
    lifecycle = app.settings.lifecycle
    # renewed at poll_interval at the latest (a pass, which selects the folder again)
    within = min(lifecycle.sweep_interval, lifecycle.poll_interval).total_seconds()
    within = min(within, due) if due is not None else within
    idling = asyncio.ensure_future(app.mailbox.wait_for_change(within))
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait((idling, stopping), return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not idling.done():
        idling.cancel()  # the waiting IDLE returns at once (`ImapMailbox.wait_for_change`)
        with contextlib.suppress(asyncio.CancelledError):
            await idling
    else:
        idling.result()  # a dead connection raises ImapError here


def _pass_failed(app: App, exc: Exception, backoff: float) -> float:
    """Log and count one failed pass; the wait before the next one."""
    app.metrics.pass_failed(exc)
    error = f"{type(exc).__name__}: {exc}"[:300]
    if isinstance(exc, ImapLoginError):
        backoff = max(backoff, app.settings.imap.login_retry.total_seconds())
        log.error("imap.login_refused", error=str(exc), retry_in=round(backoff, 1))
    elif isinstance(exc, ImapError):
        log.warning("imap.unavailable", error=str(exc), retry_in=round(backoff, 1))
        app.metrics.imap_reconnects.inc()
    elif is_transient(exc):
        log.warning("pass.state_busy", error=error, retry_in=round(backoff, 1))
    else:
        log.error("pass.failed", error=error, retry_in=round(backoff, 1), exc_info=exc)
    if isinstance(exc, ImapError):
        app.metrics.imap_connected = False
    app.record_failure(error, connected=not isinstance(exc, ImapError))
    return backoff


def _cap(exc: Exception) -> float:
    return LOGIN_BACKOFF_CAP if isinstance(exc, ImapLoginError) else 300.0


def _seconds_to_next_due(app: App) -> float | None:
    """Sleep no longer than until the next decline or outbox retry falls due; mail held by
    a brake wakes the loop when the brake can lift, not at once (`Outbox.next_wake`)."""
    due = [d for d in (app.store.next_due(), app.outbox.next_wake()) if d is not None]
    if not due:
        return None
    return max(0.2, (min(due) - app.clock.now()).total_seconds() + 0.1)


def _wake_every(scheduler: AsyncIOScheduler, job: str, seconds: float, wake: asyncio.Event) -> None:
    """An APScheduler interval job that only wakes the loop; runs late never pile up."""

    async def tick() -> None:
        wake.set()

    scheduler.add_job(
        tick,
        "interval",
        seconds=seconds,
        id=job,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=None,
    )


async def _wait_any(
    stop: asyncio.Event, wake: asyncio.Event | None = None, within: float | None = None
) -> None:
    """Return when `stop` or `wake` is set, or after `within` seconds."""
    waits = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waits.append(asyncio.ensure_future(wake.wait()))
    _, pending = await asyncio.wait(waits, timeout=within, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()


def _next_backoff(seconds: float, cap: float = 300.0) -> float:
    """Double, up to `cap` (5 minutes), with jitter so many clients do not reconnect in step."""
    return max(seconds, min(seconds * 2, cap) * random.uniform(0.8, 1.0))  # noqa: S311
