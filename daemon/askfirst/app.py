"""One pass of askfirst (`App.run_once`); the loop around it is in `loop.py`.

A pass: on a first start (no cursor), read back from the mailbox what askfirst already did
(`rebuild.py`); read new mail in the watched folder and act on each message (`intake.py`,
one transaction per message), then turn due deadlines into declines, then look at drafts
awaiting approval (`approval.py`), then send what the outbox holds (`outbox.py`), then set
the flags and file the Sent copies still owed (`settle.py`). Decisions are recorded with
what they call for by `effects.py`. Each stage only reads what the previous stages
committed, so a crash anywhere leaves a state the next pass completes.

`build_app` wires an App to the real edges; App owns them (`async with app:` closes them).
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from typing import Self

import structlog

from askfirst import logs, rebuild
from askfirst.approval import Approval
from askfirst.byhand_watch import ByHandWatch
from askfirst.claims import Claims
from askfirst.clock import Clock, JumpWatch, SystemClock
from askfirst.config import Settings, health_limit
from askfirst.edges import Mailbox, Sender
from askfirst.effects import Effects
from askfirst.events import DeadlinePassed, Event, ReminderDue
from askfirst.failures import Failures
from askfirst.intake import Intake
from askfirst.lifecycle import Invitation, State
from askfirst.mailbox import ImapMailbox
from askfirst.metrics import Metrics
from askfirst.outbox import Outbox
from askfirst.render import Templates
from askfirst.report import Report
from askfirst.settle import Settler
from askfirst.smtp import SmtpSender
from askfirst.store import StateBusy, Store

log = logs.get()


def build_app(
    settings: Settings,
    templates: Templates | None = None,
    *,
    clock: Clock | None = None,
    store: Store | None = None,
    metrics: Metrics | None = None,
    dry_run: bool = False,
) -> App:
    """An App wired to the real edges (IMAP, SMTP, the state file), as `askfirst run`,
    the tests and the bench use it: `async with build_app(settings) as app: ...`."""
    return App(
        settings=settings,
        store=store or Store(settings.state.path),
        clock=clock or SystemClock(),
        templates=templates or Templates(settings.templates.dir),
        sender=SmtpSender(settings.smtp),
        mailbox=ImapMailbox(settings.imap, settings.name or "main"),
        metrics=metrics,
        dry_run=dry_run,
    )


class App:
    """One account's daemon: the pass over its mailbox, and the parts it runs on."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        clock: Clock,
        templates: Templates,
        sender: Sender,
        mailbox: Mailbox,
        metrics: Metrics | None = None,
        rnd: random.Random | None = None,
        dry_run: bool = False,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.templates = templates
        self.sender = sender
        self.mailbox = mailbox
        self.metrics = metrics or Metrics(stale_after=health_limit(settings))
        self.account = settings.name or "default"
        self.effects = Effects(
            settings=settings,
            store=store,
            clock=clock,
            templates=templates,
            rnd=rnd or random.Random(),  # noqa: S311 - jitter, not cryptography
        )
        self.settler = Settler(settings=settings, store=store, clock=clock, mailbox=mailbox)
        claims = Claims(store=store, effects=self.effects)
        self.approval = Approval(
            settings=settings,
            store=store,
            clock=clock,
            mailbox=mailbox,
            templates=templates,
            claims=claims,
            settler=self.settler,
            effects=self.effects,
        )
        failures = Failures(
            settings=settings, store=store, clock=clock, metrics=self.metrics, effects=self.effects
        )
        self.outbox = Outbox(
            settings=settings,
            store=store,
            clock=clock,
            sender=sender,
            mailbox=mailbox,
            metrics=self.metrics,
            claims=claims,
            failures=failures,
            approval=self.approval,
            dry_run=dry_run,
        )
        self.by_hand = ByHandWatch(
            settings=settings,
            store=store,
            mailbox=mailbox,
            apply=self.effects.apply,
            notify=self.effects.notice,
        )
        self.intake = Intake(
            settings=settings,
            store=store,
            clock=clock,
            templates=templates,
            mailbox=mailbox,
            metrics=self.metrics,
            effects=self.effects,
            approval=self.approval,
            by_hand=self.by_hand,
        )
        self._lock = asyncio.Lock()
        self._jumps = JumpWatch(clock)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        """The parts App was given are its own: the connection and the state close here."""
        try:
            await self.mailbox.close()
        finally:
            self.store.close()

    # -- one pass ------------------------------------------------------------------------

    async def run_once(self) -> Report:
        """New mail, due deadlines, approvals, the outbox, what the mailbox is owed; safe
        to call at any time (passes never overlap)."""
        report = Report()
        structlog.contextvars.bind_contextvars(account=self.account)
        async with self._lock:
            self._jumps.look(lambda: self.store.facts.last_pass_at)
            await self.mailbox.ensure_connected()
            await self.outbox.recover()
            if self.store.cursor(self.settings.imap.folder) is None:
                await self._rebuild()
            await self.intake.read_mail(report, dry_run=self.dry_run)
            if not self.dry_run:  # nothing was flagged: nothing can have been unflagged
                await self.by_hand.stepped_out(report)
            started = time.monotonic()
            self._sweep(report)
            self.metrics.sweep_seconds.set(time.monotonic() - started)
            if not self.dry_run:
                await self.approval.review(report)
            await self.outbox.send_due(report)
            if not self.dry_run:
                await self.settler.settle()
            self.heartbeat(connected=True)
        self.metrics.messages_seen.inc(report.fetched)
        if self.metrics.serving:  # a GROUP BY over every invitation: only when scraped
            for state, count in self.store.state_counts().items():
                self.metrics.invitations.labels(self.account, state).set(count)
        self.metrics.held.set(1 if report.held else 0)
        self.metrics.pass_completed()
        return report

    def heartbeat(self, *, connected: bool, error: str = "") -> None:
        """What `askfirst health` and `status` read: when the last pass ended, and how."""
        with self.store.transaction():
            if connected:
                self.store.facts.last_pass_at = self.clock.now()
                self.store.facts.failed_passes = 0
            self.store.facts.imap_connected = connected
            self.store.facts.last_error = error

    def record_failure(self, error: str, *, connected: bool) -> None:
        """A failed pass, for `status` and `health` (failing passes in a row make the
        daemon unhealthy). A busy state file cannot take the note: then the heartbeat
        simply goes stale, which `health` reports too."""
        try:
            with self.store.transaction():
                self.store.facts.failed_passes += 1
                self.store.facts.last_error = error
                if not connected:
                    self.store.facts.imap_connected = False
        except (sqlite3.Error, StateBusy) as exc:
            log.warning("state.unwritable", error=str(exc))

    @property
    def dry_run(self) -> bool:
        """Everything runs; nothing is sent, flagged or filed (`run --dry-run`)."""
        return self.outbox.dry_run

    @dry_run.setter
    def dry_run(self, value: bool) -> None:
        self.outbox.dry_run = value

    # -- incoming mail ---------------------------------------------------------------------

    async def _rebuild(self) -> None:
        """A new or lost state file: first read back what askfirst already did (once)."""
        if self.store.facts.rebuilt is not None:
            return
        await rebuild.rebuild(
            store=self.store,
            mailbox=self.mailbox,
            settings=self.settings,
            since=self.intake.not_before() - self.settings.lifecycle.decline_after,
            now=self.clock.now(),
            decline_due=self.effects.decline_due,
        )

    # -- deadlines -------------------------------------------------------------------------

    def _sweep(self, report: Report) -> None:
        """Every invitation whose decline is due gets its decline, once; every one asked
        by hand whose wait is over, its one reminder."""
        now = self.clock.now()
        report.declined += self._fall_due(self.store.due(now), DeadlinePassed(), State.DECLINED)
        reminders = self.store.reminders_due(now)
        report.reminded += self._fall_due(reminders, ReminderDue(), State.REMINDED)

    def _fall_due(self, found: list[Invitation], event: Event, outcome: State) -> int:
        """Apply `event` to each invitation still in the state it was found in; how many
        reached `outcome`."""
        count = 0
        for due in found:
            with self.store.transaction():
                current = self.store.invitation(due.id or 0)
                if current.state is due.state:
                    count += self.effects.apply(current, event).state is outcome
        return count

    # -- effects ---------------------------------------------------------------------------
