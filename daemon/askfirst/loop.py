"""The long-running loop: a pass on every IDLE push, on the sweep timer, when a decline or
retry falls due, and (without IDLE) on the poll timer, until asked to stop.

IDLE runs on a second IMAP connection in its own thread; it only wakes the loop, and
after every (re)connect it wakes it too, so a pass catches up by UID on anything missed.

Any error in a pass is survived: logged (one line), counted, and the pass tried again after
a backoff (1 s doubling to 5 min; after a refused login `imap.login_retry`, doubling to 30
min, so a provider does not lock the account). A busy or full state file rolls back the
step in hand, and the mail is read again by the next pass.
"""

from __future__ import annotations

import asyncio
import random
import threading
from datetime import UTC
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from askfirst import logs
from askfirst.config import Settings
from askfirst.imap import ImapError, ImapLoginError, MailboxThread
from askfirst.store import is_transient

if TYPE_CHECKING:
    from askfirst.app import App

log = logs.get()
LOGIN_BACKOFF_CAP = 1800.0  # seconds: after refused logins, retry at least every 30 min
WATCHER_STOP_SECONDS = 5.0  # shutdown waits this long for the IDLE thread, no longer


async def run_forever(app: App, stop: asyncio.Event) -> None:
    """Passes on every IDLE push, every `sweep_interval`, and (without IDLE) every
    `poll_interval`, until `stop` is set; the pass in hand is finished first."""
    wake = asyncio.Event()
    scheduler = AsyncIOScheduler(timezone=UTC)
    _wake_every(scheduler, "sweep", app.settings.lifecycle.sweep_interval.total_seconds(), wake)
    scheduler.start()
    watcher: asyncio.Task[None] | None = None
    watching = False
    backoff = 1.0
    try:
        while not stop.is_set():
            try:
                await app.run_once()
                backoff = 1.0
            except Exception as exc:  # any failure: log, count, back off, try again
                backoff = _pass_failed(app, exc, backoff)
                await _wait_any(stop, within=backoff)
                backoff = _next_backoff(backoff, _cap(exc))
                continue
            if not watching:
                watcher, watching = _start_watcher(app, scheduler, wake, stop), True
            await _wait_any(stop, wake, within=_seconds_to_next_due(app))
            wake.clear()
    finally:
        scheduler.shutdown(wait=False)
        if watcher is not None:  # it closes its own connection, within a bounded time
            await asyncio.wait([watcher], timeout=WATCHER_STOP_SECONDS + 1)
        await app.mailbox.close()


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


def _start_watcher(
    app: App, scheduler: AsyncIOScheduler, wake: asyncio.Event, stop: asyncio.Event
) -> asyncio.Task[None] | None:
    """IDLE on a second connection when the server offers it; else poll on a timer."""
    settings = app.settings
    if settings.imap.idle and "IDLE" in app.mailbox.mailbox.capabilities:
        return asyncio.create_task(_idle_watch(settings, wake, stop))

    _wake_every(scheduler, "poll", settings.lifecycle.poll_interval.total_seconds(), wake)
    log.info("imap.polling", every=settings.lifecycle.poll_interval.total_seconds())
    return None


async def _idle_watch(settings: Settings, wake: asyncio.Event, stop: asyncio.Event) -> None:
    """Wake the main loop whenever the server reports a change; reconnect when it breaks."""
    thread = MailboxThread(settings.imap, "idle")
    halt = threading.Event()
    stopper = asyncio.create_task(stop.wait())

    def wake_idle(_: object) -> None:
        halt.set()
        thread.mailbox.interrupt()  # a waiting idle_check returns at once

    stopper.add_done_callback(wake_idle)
    backoff = 1.0
    try:
        while not stop.is_set():
            try:
                await thread.ensure_connected()
                wake.set()  # after every (re)connect, catch up by UID
                while not stop.is_set():
                    if await thread.call(
                        thread.mailbox.wait_for_change,
                        halt,
                        settings.lifecycle.poll_interval.total_seconds(),
                    ):
                        wake.set()
                    backoff = 1.0
            except ImapLoginError as exc:
                backoff = max(backoff, settings.imap.login_retry.total_seconds())
                log.error(  # noqa: TRY400 - a refused login needs no traceback
                    "imap.login_refused", error=str(exc), retry_in=round(backoff, 1), idle=True
                )
                await _wait_any(stop, within=backoff)
                backoff = _next_backoff(backoff, LOGIN_BACKOFF_CAP)
            except ImapError as exc:
                log.warning("imap.idle_lost", error=str(exc), reconnect_in=round(backoff, 1))
                await _wait_any(stop, within=backoff)
                backoff = _next_backoff(backoff)
    finally:
        stopper.cancel()
        await thread.close(within=WATCHER_STOP_SECONDS)


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
