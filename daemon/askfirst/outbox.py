"""The sending stage: the outbox, its brakes, approval through Drafts, --dry-run, and what
is owed to the mailbox afterwards (flags, Sent copies).

Every outgoing mail is an outbox row before anything is sent. A row is claimed
(`sending`, a compare-and-set in the transaction that re-checks the invitation still calls
for it), marked `data` just before the SMTP DATA command (the point of no return), then
`sent`; `recover` finishes what a killed process left, never sending twice. A connection
lost after the body went out leaves the row `uncertain` for the owner to decide.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from askfirst import logs
from askfirst.byhand import network_of
from askfirst.config import Settings
from askfirst.imap import MailboxThread
from askfirst.lifecycle import AskSent, Cancelled, Event, Invitation, SendFailed, State
from askfirst.limits import Brake, brake
from askfirst.message import parse
from askfirst.metrics import Metrics
from askfirst.render import Templates
from askfirst.schedule import decline_due
from askfirst.smtp import Envelope, SendError, SmtpSender
from askfirst.store import (
    AWAITING,
    CANCELLED,
    DATA,
    DRY_RUN,
    FAILED,
    PENDING,
    SENDING,
    SENT,
    UNCERTAIN,
    OutboxRow,
    Store,
)

if TYPE_CHECKING:
    from askfirst.app import Report
    from askfirst.clock import Clock

log = logs.get()

# Persisted retry schedule for transient SMTP failures; after the last step the mail fails.
RETRY_AFTER = tuple(
    timedelta(minutes=m) for m in (5, 15, 60, 240, 360, 360, 360, 360, 360, 360, 360, 360, 360)
)
KILL_ENV = "ASKFIRST_STOP"  # set (non-empty) in the daemon's environment: nothing is sent
KW_DRAFT = "$askfirst-draft"  # a draft waiting for the owner's approval ...
KW_AWAITING = "$askfirst-awaiting"  # ... and the invitation it answers


class Outbox:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        clock: Clock,
        sender: SmtpSender,
        mailbox: MailboxThread,
        templates: Templates,
        metrics: Metrics,
        apply: Callable[[Invitation, Event], Invitation],
        notify: Callable[[Invitation, str], None],
        dry_run: bool,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.sender = sender
        self.mailbox = mailbox
        self.templates = templates
        self.metrics = metrics
        self._apply = apply  # the lifecycle transition, recorded (App._apply)
        self._notify = notify  # a notice to the owner about an invitation (App)
        self.dry_run = dry_run

    async def recover(self) -> None:
        """Finish what a killed process left half done, without sending anything twice.
        Passes never overlap and one process holds the state, so at the start of a pass
        a `sending` or `data` row is always such a leftover (or `askfirst forget`)."""
        for row in self.store.outbox((SENDING,)):
            # DATA never started: the server cannot have accepted it. Send it again.
            self.store.set_outbox_state(row.message_id, PENDING)
            log.warning("outbox.requeued", message_id=row.message_id, why="stopped before DATA")
        for row in self.store.outbox((DATA,)):
            # Stopped during DATA: the server almost certainly has it. Never send twice.
            mb = self.mailbox.mailbox
            folder = await self.mailbox.call(mb.sent_folder)
            copied = await self.mailbox.call(mb.look_up, folder, row.message_id) is not None
            now = self.clock.now()
            with self.store.transaction():
                self.store.set_outbox_state(row.message_id, SENT, sent_at=now)
                self._mark_sent(row, now)  # the wait starts now, or the decline never comes
                if copied:
                    self.store.mark_copied(row.message_id)
            log.warning(
                "outbox.assumed_sent",
                message_id=row.message_id,
                in_sent_folder=copied,
                why="stopped during DATA: the server almost certainly has it",
            )

    def decline_due(self, asked_at: datetime) -> datetime:
        lifecycle = self.settings.lifecycle
        return decline_due(
            asked_at, lifecycle.decline_after, lifecycle.deadline, self.settings.owner.zone
        )

    async def send_due(self, report: Report) -> None:
        """Send what is due and not held by a brake; a notice queued by a failure in this
        pass goes out in it too."""
        tried: set[str] = set()
        held: Brake | None = None
        kill_switch: str | None = None
        checked = False  # the kill switch costs a mailbox search: only when mail is due
        while rows := [
            r
            for r in self.store.outbox((PENDING,), before=self.clock.now())
            if r.message_id not in tried
        ]:
            if not checked:
                kill_switch, checked = await self._kill_switch(), True
            for row in rows:
                tried.add(row.message_id)
                if self._unwanted(row):
                    self._claim(row, SENDING, report)  # cancels it, held or not
                    continue
                if self._refused(row, report):
                    continue
                now = self.clock.now()
                held = brake(now, self.store.history(now), self.settings.limits, kill_switch)
                if held and (held.holds_notices or row.kind != "handover"):
                    report.held += 1
                elif self.dry_run:
                    self._pretend_sent(row, report)
                elif row.kind != "handover" and not row.approved and self._needs_approval():
                    await self._to_drafts(row, report)
                else:
                    await self._send_row(row, report)
        if held and report.held:
            until = held.until.isoformat() if held.until else "lifted"
            log.warning("outbox.held", count=report.held, reason=held.reason, until=until)
        shown = held.reason if held and report.held else ""
        if (self.store.meta("brake") or "") != shown:
            with self.store.transaction():
                self.store.set_meta("brake", shown)

    def _unwanted(self, row: OutboxRow) -> str | None:
        """Why the invitation no longer calls for this mail, or None: an ask goes only
        while the invitation waits for it, a decline only while no answer came."""
        if row.invitation_id is None or row.kind not in ("ask", "decline"):
            return None
        inv = self.store.invitation(row.invitation_id)
        wanted = State.ASKED if row.kind == "ask" else State.DECLINED
        if inv.state is wanted:
            return None
        return f"the invitation is {inv.state} ({inv.reason})"

    def _claim(self, row: OutboxRow, state: str, report: Report, **fields: object) -> bool:
        """Take the row for sending (or drafting) in one transaction that re-checks the
        invitation; a compare-and-set, so nothing else can have taken it meanwhile."""
        with self.store.transaction():
            why = self._unwanted(row)
            if why is None:
                return self.store.claim(row.message_id, row.state, state, **fields)
            cancelled = self.store.claim(row.message_id, row.state, CANCELLED)
        if cancelled:
            report.cancelled += 1
            log.info("outbox.not_sent", kind=row.kind, message_id=row.message_id, why=why)
        return False

    def _refused(self, row: OutboxRow, report: Report) -> bool:
        """Nothing ever goes to a network (its relays included): every action inside the
        network is the owner's (README, networks that hide the inviter)."""
        own = self.settings.owner.addresses()
        domains = tuple(d.lower() for n in self.settings.classify.networks for d in n.domains)
        network = None if row.recipient in own else network_of(row.recipient, domains)
        if network is None:
            return False
        why = f"refused: {row.recipient} is an address of {network}; askfirst never writes there"
        self._send_failed(row, row.attempts + 1, SendError(why, transient=False), report)
        return True

    def _pretend_sent(self, row: OutboxRow, report: Report) -> None:
        """--dry-run: record what would have gone out, and let the lifecycle go on."""
        now = self.clock.now()
        if not self._claim(row, DRY_RUN, report, sent_at=now):
            return
        with self.store.transaction():
            self._mark_sent(row, now)
        report.sent += 1
        subject = parse(row.raw).subject
        log.info(
            "outbox.dry_run",
            kind=row.kind,
            to=row.recipient,
            subject=subject,
            message_id=row.message_id,
        )

    def _mark_sent(self, row: OutboxRow, now: datetime) -> None:
        """An ask that left starts the wait for an answer (the caller holds the transaction)."""
        if row.kind == "ask" and row.invitation_id is not None:
            inv = self.store.invitation(row.invitation_id)
            self._apply(inv, AskSent(now, self.decline_due(now)))

    # -- approval through the Drafts folder --------------------------------------------------

    def _needs_approval(self) -> bool:
        """Approve mode, or one of the first `approve_first` sends since install or since the
        templates last changed."""
        if self.settings.mode == "approve":
            return True
        fingerprint = self.templates.fingerprint
        if self.store.meta("templates_fingerprint") != fingerprint:
            with self.store.transaction():
                self.store.set_meta("templates_fingerprint", fingerprint)
                self.store.set_meta("approved_sends", "0")
        return int(self.store.meta("approved_sends") or 0) < self.settings.approve_first

    async def _to_drafts(self, row: OutboxRow, report: Report) -> None:
        """File the mail as a draft; the owner approves by flagging it (or moving it to
        `approve_folder`) and cancels by deleting it."""
        mb = self.mailbox.mailbox
        drafts = await self.mailbox.call(mb.special_folder, b"\\Drafts", "Drafts")
        await self.mailbox.call(mb.ensure_folder, drafts)
        if self._unwanted(row):
            self._claim(row, AWAITING, report)  # cancels it
            return
        if await self.mailbox.call(mb.look_up, drafts, row.message_id) is None:
            await self.mailbox.call(
                mb.append, drafts, row.raw, ["\\Draft", KW_DRAFT], self.clock.now()
            )
        with self.store.transaction():
            if not self._claim(row, AWAITING, report):
                return
            if row.invitation_id is not None:
                inv = self.store.invitation(row.invitation_id)
                self.store.add_flag_op(inv.source_message_id, (KW_AWAITING,))
        report.awaiting += 1
        log.info(
            "outbox.awaiting_approval",
            kind=row.kind,
            to=row.recipient,
            folder=drafts,
            message_id=row.message_id,
        )

    async def review_drafts(self, report: Report) -> None:
        """Flagged (or moved) drafts are approved, deleted ones cancelled."""
        waiting = self.store.outbox((AWAITING,))
        if not waiting or self.dry_run:
            return
        mb = self.mailbox.mailbox
        drafts = await self.mailbox.call(mb.special_folder, b"\\Drafts", "Drafts")
        for row in waiting:
            in_drafts = await self.mailbox.call(mb.look_up, drafts, row.message_id)
            if in_drafts is not None and "\\Flagged" not in in_drafts[1]:
                continue  # still waiting for the owner
            found = (drafts, in_drafts)
            if in_drafts is None:
                folder = self.settings.approve_folder
                found = (folder, await self.mailbox.call(mb.look_up, folder, row.message_id))
            folder, hit = found
            if hit is None:
                self._cancel(row)
                report.cancelled += 1
                continue
            with self.store.transaction():  # recorded first: a lost draft must not cancel it
                self.store.set_outbox_state(
                    row.message_id, PENDING, approved=1, next_attempt_at=self.clock.now()
                )
            await self.mailbox.call(mb.remove, folder, hit[0])
            log.info("outbox.approved", kind=row.kind, to=row.recipient, message_id=row.message_id)

    def _cancel(self, row: OutboxRow) -> None:
        with self.store.transaction():
            self.store.set_outbox_state(row.message_id, CANCELLED)
            if row.invitation_id is not None and row.kind in ("ask", "decline"):
                kind: Literal["ask", "decline"] = "ask" if row.kind == "ask" else "decline"
                self._apply(self.store.invitation(row.invitation_id), Cancelled(kind))
        log.info("outbox.cancelled", kind=row.kind, to=row.recipient, message_id=row.message_id)

    async def _kill_switch(self) -> str | None:
        """A file, an environment variable or an IMAP keyword stops all sending at once."""
        limits = self.settings.limits
        if limits.kill_file.exists():
            return f"the file {limits.kill_file} exists"
        if os.environ.get(KILL_ENV):
            return f"{KILL_ENV} is set"
        mb = self.mailbox.mailbox
        if await self.mailbox.call(mb.has_keyword, limits.kill_keyword):
            return f"a mail in {self.settings.imap.folder} has the keyword {limits.kill_keyword}"
        return None

    async def _send_row(self, row: OutboxRow, report: Report) -> None:
        """Claim, send, record. The DATA mark is the point of no return (see `recover`)."""
        if not self._claim(row, SENDING, report, attempts=row.attempts + 1):
            return
        envelope = Envelope(self.settings.owner.email, row.recipient, row.raw)
        try:
            await self.sender.send(
                envelope, before_data=lambda: self.store.set_outbox_state(row.message_id, DATA)
            )
        except SendError as exc:
            if exc.uncertain:
                self._uncertain(row, exc, report)
            else:
                self._send_failed(row, row.attempts + 1, exc, report)
            return
        now = self.clock.now()
        with self.store.transaction():
            self.store.set_outbox_state(row.message_id, SENT, sent_at=now)
            self._mark_sent(row, now)
            if row.approved:
                count = int(self.store.meta("approved_sends") or 0) + 1
                self.store.set_meta("approved_sends", str(count))
        self.metrics.mails_sent.labels(row.kind).inc()
        report.sent += 1
        log.info("outbox.sent", kind=row.kind, to=row.recipient, message_id=row.message_id)

    def _uncertain(self, row: OutboxRow, exc: SendError, report: Report) -> None:
        """The body went out and no reply came: the server may have it. Never resent on
        our own; the owner decides (`askfirst resend` or `askfirst forget`)."""
        report.failed += 1
        log.error("outbox.uncertain", kind=row.kind, message_id=row.message_id, error=str(exc))
        with self.store.transaction():
            self.store.set_outbox_state(row.message_id, UNCERTAIN, last_error=str(exc)[:500])
            if row.invitation_id is not None:
                self._notify(
                    self.store.invitation(row.invitation_id),
                    f"the {row.kind} {row.message_id} may or may not have reached "
                    f"{row.recipient}: {exc}. askfirst will not send it again on its own: "
                    f"`askfirst resend '{row.message_id}' --config ...` sends it again, "
                    f"`askfirst forget '{row.message_id}' --config ...` counts it as sent",
                )

    def _send_failed(self, row: OutboxRow, attempts: int, exc: SendError, report: Report) -> None:
        now = self.clock.now()
        if exc.transient and attempts <= len(RETRY_AFTER):
            report.retried += 1
            retry_at = now + RETRY_AFTER[attempts - 1]
            self.store.set_outbox_state(
                row.message_id, PENDING, next_attempt_at=retry_at, last_error=str(exc)[:500]
            )
            log.warning(
                "outbox.retry",
                kind=row.kind,
                message_id=row.message_id,
                at=retry_at.isoformat(),
                error=str(exc),
            )
            return
        report.failed += 1
        self.metrics.mails_failed.labels(row.kind).inc()
        log.error("outbox.failed", kind=row.kind, message_id=row.message_id, error=str(exc))
        with self.store.transaction():
            self.store.set_outbox_state(row.message_id, FAILED, last_error=str(exc)[:500])
            if row.invitation_id is not None and row.kind in ("ask", "decline"):
                inv = self.store.invitation(row.invitation_id)
                kind: Literal["ask", "decline"] = "ask" if row.kind == "ask" else "decline"
                self._apply(inv, SendFailed(kind, str(exc), hand_over=exc.hand_over))

    async def settle(self) -> None:
        """Set owed flags (one STORE per set of flags) and file owed Sent copies (MULTIAPPEND).
        Setting a flag twice is harmless; a crash between filing a copy and noting it can
        leave a second copy in Sent, never a second mail to anyone."""
        mb = self.mailbox.mailbox
        folder = self.settings.imap.folder
        ops = self.store.flag_ops()
        by_flags: dict[tuple[str, ...], list[int]] = {}
        for op in ops:
            uids = self.store.uids_of(folder, mb.uidvalidity, op.message_id)  # maybe several
            uids = uids or await self.mailbox.call(mb.find, op.message_id)
            by_flags.setdefault(op.flags, []).extend(uids)
        for flags, uids in by_flags.items():
            await self.mailbox.call(mb.add_flags, uids, flags)
        if ops:
            with self.store.transaction():
                for op in ops:
                    self.store.flag_op_done(op.id)
        uncopied = self.store.uncopied()
        if not uncopied:
            return
        sent = await self.mailbox.call(mb.sent_folder)
        await self.mailbox.call(mb.ensure_folder, sent)  # a mailbox without one gets one
        for start in range(0, len(uncopied), 50):
            batch = uncopied[start : start + 50]
            await self.mailbox.call(
                mb.append_many, sent, [r.raw for r in batch], ["\\Seen"], self.clock.now()
            )
            with self.store.transaction():
                for row in batch:
                    self.store.mark_copied(row.message_id)
