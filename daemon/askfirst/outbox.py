"""The sending stage: the outbox, its brakes, --dry-run.

Every outgoing mail is an outbox row before anything is sent. A row is claimed
(`sending`, a compare-and-set in the transaction that re-checks the invitation still calls
for it), marked `data` just before the SMTP DATA command (the point of no return), then
`sent` (those marks in `claims.py`); `recover` finishes what a killed process left, never
sending twice. A connection lost after the body went out leaves the row `uncertain` for the
owner to decide (`failures.py`). Asks and declines the owner must approve go to Drafts
instead (`approval.py`); flags and Sent copies are filed afterwards (`settle.py`).

The mail due in one pass goes over one SMTP session (`SmtpSender.session`), connected at
the first mail that actually goes: held, drafted and dry-run rows open no connection. The
brakes read the send history once per batch of due rows and count the pass's own sends.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from askfirst import logs
from askfirst.approval import Approval
from askfirst.byhand import network_of
from askfirst.claims import Claims
from askfirst.clock import Clock
from askfirst.config import Settings
from askfirst.edges import Mailbox, Sender, Session
from askfirst.failures import Failures
from askfirst.limits import Brake, History, brake
from askfirst.mails import TO_INVITER, MailKind, OutboxState
from askfirst.message import parse
from askfirst.metrics import Metrics
from askfirst.report import Report
from askfirst.smtp import Envelope, SenderRefused, SendError
from askfirst.store import OutboxRow, Store

log = logs.get()

KILL_ENV = "ASKFIRST_STOP"  # set (non-empty) in the daemon's environment: nothing is sent


class Outbox:
    """Sends what is due, holds what a brake holds, and finishes what a crash left."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        clock: Clock,
        sender: Sender,
        mailbox: Mailbox,
        metrics: Metrics,
        claims: Claims,
        failures: Failures,
        approval: Approval,
        dry_run: bool,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.sender = sender
        self.mailbox = mailbox
        self.metrics = metrics
        self.claims = claims
        self.failures = failures
        self.approval = approval
        self.dry_run = dry_run
        self.hold: Brake | None = None  # the brake holding due mail after the last pass
        self.refused: Brake | None = None  # the sender was refused: all mail waits (restart)

    async def recover(self) -> None:
        """Finish what a killed process left half done, without sending anything twice.
        Passes never overlap and one process holds the state, so at the start of a pass
        a `sending` or `data` row is always such a leftover; a `forgotten` row is the
        owner's `askfirst forget`."""
        if self.store.facts.folder_error:  # a new start looks at every folder again
            with self.store.transaction():
                self.store.facts.folder_error = ""
        for row in self.store.outbox((OutboxState.SENDING,)):
            # DATA never started: the server cannot have accepted it. Send it again.
            self.store.set_outbox_state(row.message_id, OutboxState.PENDING)
            log.warning("outbox.requeued", message_id=row.message_id, why="stopped before DATA")
        folder = ""
        for row in self.store.outbox((OutboxState.DATA, OutboxState.FORGOTTEN)):
            # Stopped during DATA: the server may or may not have it, and only a copy in Sent
            # (filed after the server took it) would tell. Without one the owner decides;
            # a mail the owner counted as sent (`askfirst forget`) is finished as sent.
            folder = folder or await self.mailbox.sent_folder()
            copied = await self.mailbox.look_up(folder, row.message_id) is not None
            if row.state is OutboxState.DATA and not copied:
                why = "askfirst stopped during the SMTP DATA command"
                self.failures.uncertain(row, SendError(why, transient=False, uncertain=True))
                continue
            now = self.clock.now()
            with self.store.transaction():
                self.store.set_outbox_state(row.message_id, OutboxState.SENT, sent_at=now)
                self.claims.mark_sent(row, now)  # the wait starts now, or the decline never comes
                if copied:
                    self.store.mark_copied(row.message_id)
            log.warning("outbox.counted_sent", message_id=row.message_id, in_sent_folder=copied)

    async def send_due(self, report: Report) -> None:
        """Send what is due and not held by a brake, over one SMTP session (connected at the
        first mail that goes); a notice queued by a failure in this pass goes out in it too."""
        tried: set[str] = set()
        held: Brake | None = None
        kill_switch: str | None = None
        checked = False  # the kill switch costs a mailbox search: only when mail is due
        async with self.sender.session() as smtp:
            while rows := [
                r
                for r in self.store.outbox((OutboxState.PENDING,), before=self.clock.now())
                if r.message_id not in tried
            ]:
                if not checked:
                    kill_switch, checked = await self._kill_switch(), True
                history: History | None = None  # the store's, plus the sends since it was read
                for row in rows:
                    tried.add(row.message_id)
                    if self.claims.unwanted(row):
                        self.claims.claim(
                            row, OutboxState.SENDING, report
                        )  # cancels it, held or not
                        continue
                    if self._refused(row, report):
                        history = None  # a failure: the breaker may trip
                        continue
                    now = self.clock.now()
                    if history is None:
                        history = self.store.history(now)
                    held = self.refused or brake(now, history, self.settings.limits, kill_switch)
                    if held and (held.holds_notices or row.kind is not MailKind.HANDOVER):
                        report.held += 1
                    elif self.dry_run:
                        self._pretend_sent(row, report)
                    elif self.approval.wanted_for(row):
                        refused = await self.approval.to_drafts(row, report)
                        self.refused = self.refused or refused
                    elif (sent_at := await self._send_row(row, report, smtp)) is None:
                        history = None  # not sent: a failure may trip the breaker
                    elif row.kind in TO_INVITER:  # what the caps count (Store.history)
                        history = history.with_send(sent_at)
        held = self.refused or held
        self.hold = held if held and report.held else None
        shown = self.hold.reason if self.hold else ""
        before = self.store.facts.brake
        if before != shown:  # logged once per change, not once per pass
            if self.hold:
                until = self.hold.until.isoformat() if self.hold.until else "lifted"
                log.warning("outbox.held", count=report.held, reason=shown, until=until)
            else:
                log.info("outbox.released", reason=before)
            with self.store.transaction():
                self.store.facts.brake = shown

    def next_wake(self) -> datetime | None:
        """When the outbox next needs a pass: its next retry or send time; while a brake
        holds the due mail, when the brake can lift (None: a kill switch, lifted by hand,
        is looked at again on the sweep or when the mailbox changes)."""
        upcoming = self.store.next_attempt()
        if self.hold is None or upcoming is None or upcoming > self.clock.now():
            return upcoming
        # the store keeps whole seconds: a second later, the brake has surely lifted
        return self.hold.until + timedelta(seconds=1) if self.hold.until else None

    def _refused(self, row: OutboxRow, report: Report) -> bool:
        """Nothing ever goes to a network (its relays included): every action inside the
        network is the owner's (README, networks that hide the inviter)."""
        own = self.settings.owner.addresses()
        domains = tuple(d.lower() for n in self.settings.classify.networks for d in n.domains)
        network = None if row.recipient in own else network_of(row.recipient, domains)
        if network is None:
            return False
        why = f"refused: {row.recipient} is an address of {network}; askfirst never writes there"
        self.failures.failed(row, row.attempts + 1, SendError(why, transient=False), report)
        return True

    def _pretend_sent(self, row: OutboxRow, report: Report) -> None:
        """--dry-run: record what would have gone out, and let the lifecycle go on."""
        now = self.clock.now()
        if not self.claims.claim(row, OutboxState.DRY_RUN, report, sent_at=now):
            return
        with self.store.transaction():
            self.claims.mark_sent(row, now)
        report.sent += 1
        subject = parse(row.raw).subject
        log.info(
            "outbox.dry_run",
            kind=row.kind,
            to=row.recipient,
            subject=subject,
            message_id=row.message_id,
        )

    async def _kill_switch(self) -> str | None:
        """A file, an environment variable or an IMAP keyword stops all sending at once."""
        limits = self.settings.limits
        if limits.kill_file.exists():
            return f"the file {limits.kill_file} exists"
        if os.environ.get(KILL_ENV):
            return f"{KILL_ENV} is set"
        if await self.mailbox.has_keyword(limits.kill_keyword):
            return f"a mail in {self.settings.imap.folder} has the keyword {limits.kill_keyword}"
        return None

    async def _send_row(self, row: OutboxRow, report: Report, smtp: Session) -> datetime | None:
        """Claim, send, record; when it was sent, or None. The DATA mark is the point of no
        return (see `recover`)."""
        if not self.claims.claim(row, OutboxState.SENDING, report, attempts=row.attempts + 1):
            return None
        envelope = Envelope(self.settings.owner.email, row.recipient, row.raw)
        try:
            await smtp.send(envelope, before_data=lambda: self.claims.mark_data(row))
        except SenderRefused as exc:
            self.refused = self.failures.sender_refused(row, exc, report)
            return None
        except SendError as exc:
            if exc.uncertain:
                self.failures.uncertain(row, exc, report)
            else:
                self.failures.failed(row, row.attempts + 1, exc, report)
            return None
        now = self.clock.now()
        with self.store.transaction():
            self.store.set_outbox_state(row.message_id, OutboxState.SENT, sent_at=now)
            if self.store.facts.config_error:  # the sender is accepted again
                self.store.facts.config_error = ""
            self.claims.mark_sent(row, now)
            if row.approved:
                self.store.facts.approved_sends += 1
        self.metrics.mails_sent.labels(row.kind).inc()
        report.sent += 1
        log.info("outbox.sent", kind=row.kind, to=row.recipient, message_id=row.message_id)
        return now
