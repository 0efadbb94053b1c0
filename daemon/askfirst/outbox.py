"""The sending stage: the outbox, its brakes, approval through Drafts, --dry-run, and what
is owed to the mailbox afterwards (flags, Sent copies).

Every outgoing mail is an outbox row before anything is sent. A row is claimed
(`sending`, a compare-and-set in the transaction that re-checks the invitation still calls
for it), marked `data` just before the SMTP DATA command (the point of no return), then
`sent`; `recover` finishes what a killed process left, never sending twice. A connection
lost after the body went out leaves the row `uncertain` for the owner to decide.

The mail due in one pass goes over one SMTP session (`SmtpSender.session`), connected at
the first mail that actually goes: held, drafted and dry-run rows open no connection. The
brakes read the send history once per batch of due rows and count the pass's own sends.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta

from askfirst import lifecycle, logs
from askfirst.byhand import network_of
from askfirst.clock import Clock
from askfirst.config import Settings
from askfirst.drafts import as_approved, reply_criteria
from askfirst.edges import Mailbox, Sender, Session
from askfirst.events import AskSent, Cancelled, Event, SendFailed
from askfirst.imap import ImapRefused
from askfirst.imap_folders import Hit
from askfirst.lifecycle import Invitation, State
from askfirst.limits import Brake, History, brake
from askfirst.mails import TO_INVITER, MailKind, OutboxState
from askfirst.message import parse
from askfirst.metrics import Metrics
from askfirst.render import Templates
from askfirst.report import Report
from askfirst.schedule import decline_due
from askfirst.smtp import Envelope, SenderRefused, SendError
from askfirst.store import LeaseLost, OutboxRow, Store

log = logs.get()

# Persisted retry schedule for transient SMTP failures; after the last step the mail fails.
RETRY_AFTER = tuple(
    timedelta(minutes=m) for m in (5, 15, 60, 240, 360, 360, 360, 360, 360, 360, 360, 360, 360)
)
KILL_ENV = "ASKFIRST_STOP"  # set (non-empty) in the daemon's environment: nothing is sent
KW_DRAFT = "$askfirst-draft"  # a draft waiting for the owner's approval ...
KW_AWAITING = lifecycle.KW_AWAITING  # ... and the invitation it answers
UNFLAG = "-"  # a flag op's keyword with this prefix is taken off, not set (`Unflag`)


class Outbox:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        clock: Clock,
        sender: Sender,
        mailbox: Mailbox,
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
        self.hold: Brake | None = None  # the brake holding due mail after the last pass
        self.refused: Brake | None = None  # the sender was refused: all mail waits (restart)
        self.refused_folders: dict[str, str] = {}  # folder -> the server's refusal (restart)

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
                self._uncertain(row, SendError(why, transient=False, uncertain=True))
                continue
            now = self.clock.now()
            with self.store.transaction():
                self.store.set_outbox_state(row.message_id, OutboxState.SENT, sent_at=now)
                self._mark_sent(row, now)  # the wait starts now, or the decline never comes
                if copied:
                    self.store.mark_copied(row.message_id)
            log.warning("outbox.counted_sent", message_id=row.message_id, in_sent_folder=copied)

    def decline_due(self, asked_at: datetime) -> datetime:
        lifecycle = self.settings.lifecycle
        return decline_due(
            asked_at, lifecycle.decline_after, lifecycle.deadline, self.settings.owner.zone
        )

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
                    if self._unwanted(row):
                        self._claim(row, OutboxState.SENDING, report)  # cancels it, held or not
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
                    elif (
                        row.kind is not MailKind.HANDOVER
                        and not row.approved
                        and self._needs_approval()
                    ):
                        await self._to_drafts(row, report)
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

    def _unwanted(self, row: OutboxRow) -> str | None:
        """Why the invitation no longer calls for this mail, or None: an ask goes only
        while the invitation waits for it, a decline only while no answer came."""
        if row.invitation_id is None or row.kind not in TO_INVITER:
            return None
        inv = self.store.invitation(row.invitation_id)
        wanted = State.ASKED if row.kind is MailKind.ASK else State.DECLINED
        if inv.state is wanted:
            return None
        return f"the invitation is {inv.state} ({inv.reason})"

    def _claim(self, row: OutboxRow, state: OutboxState, report: Report, **fields: object) -> bool:
        """Take the row for sending (or drafting) in one transaction that re-checks the
        invitation; a compare-and-set, so nothing else can have taken it meanwhile. The
        lease is checked in the same transaction (fencing): a replica that lost the account
        raises `LeaseLost` here and sends nothing."""
        with self.store.transaction():
            self._fence(row, state)
            why = self._unwanted(row)
            if why is None:
                return self.store.claim(row.message_id, row.state, state, **fields)
            cancelled = self.store.claim(row.message_id, row.state, OutboxState.CANCELLED)
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
        if not self._claim(row, OutboxState.DRY_RUN, report, sent_at=now):
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
        if row.kind is MailKind.ASK and row.invitation_id is not None:
            inv = self.store.invitation(row.invitation_id)
            self._apply(inv, AskSent(now, self.decline_due(now)))

    # -- approval through the Drafts folder --------------------------------------------------

    def _for_approval(self, row: OutboxRow) -> bool:
        """An ask or decline the owner has not approved, while approval is asked for."""
        return row.kind is not MailKind.HANDOVER and not row.approved and self._needs_approval()

    def _needs_approval(self) -> bool:
        """Approve mode, or one of the first `approve_first` sends since install or since the
        templates last changed."""
        if self.settings.mode == "approve":
            return True
        fingerprint = self.templates.fingerprint
        if self.store.facts.templates_fingerprint != fingerprint:
            with self.store.transaction():
                self.store.facts.templates_fingerprint = fingerprint
                self.store.facts.approved_sends = 0
        return self.store.facts.approved_sends < self.settings.approve_first

    async def _to_drafts(self, row: OutboxRow, report: Report) -> None:
        """File the mail as a draft; the owner approves by flagging it (or moving it to
        `approve_folder`) and cancels by deleting it."""
        drafts = await self.mailbox.drafts_folder()
        try:
            await self.mailbox.ensure_folder(drafts)
            if self._unwanted(row):
                self._claim(row, OutboxState.AWAITING, report)  # cancels it
                return
            if await self.mailbox.look_up(drafts, row.message_id) is None:
                flags = ["\\Draft", KW_DRAFT]
                await self.mailbox.append(drafts, [row.raw], flags, self.clock.now())
        except ImapRefused as exc:  # no drafts, no approval: asks and declines wait
            self._folder_refused(exc, "drafts awaiting approval")
            self.refused = self.refused or Brake(f"configuration: {exc}")
            report.held += 1
            return
        with self.store.transaction():
            if not self._claim(row, OutboxState.AWAITING, report):
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
        """Flagged (or moved) drafts are approved, with the owner's edits; deleted ones
        cancelled; withdrawn ones (the inviter answered first) taken out of Drafts."""
        waiting = self.store.outbox((OutboxState.AWAITING, OutboxState.WITHDRAWN))
        if not waiting or self.dry_run:
            return
        drafts = await self.mailbox.drafts_folder()
        for row in waiting:
            in_drafts = await self._find_draft(drafts, row)
            if row.state is OutboxState.WITHDRAWN:
                await self._withdraw(row, drafts, in_drafts)
                continue
            if in_drafts is not None and "\\Flagged" not in in_drafts.flags:
                continue  # still waiting for the owner
            found = (drafts, in_drafts)
            if in_drafts is None:
                folder = self.mailbox.folder_name(self.settings.approve_folder)
                found = (folder, await self._find_draft(folder, row))
            folder, hit = found
            if hit is None:
                self._cancel(row)
                report.cancelled += 1
                continue
            draft = await self.mailbox.read(folder, hit.uid)
            text = as_approved(draft, row.message_id) if draft else row.raw
            with self.store.transaction():  # recorded first: a lost draft must not cancel it
                self.store.set_outbox_state(
                    row.message_id,
                    OutboxState.PENDING,
                    approved=1,
                    next_attempt_at=self.clock.now(),
                    raw=text,
                )
            await self.mailbox.remove(folder, hit.uid)
            self._no_longer_awaiting(row)
            log.info(
                "outbox.approved",
                kind=row.kind,
                to=row.recipient,
                message_id=row.message_id,
                edited=text != row.raw,
            )

    async def _find_draft(self, folder: str, row: OutboxRow) -> Hit | None:
        """The draft of `row` in `folder`, as filed or as the owner's client saved an edit
        (see `drafts`)."""
        hit = await self.mailbox.look_up(folder, row.message_id)
        criteria = reply_criteria(row.raw, row.recipient)
        if hit is None and criteria is not None:
            hit = await self.mailbox.look_up_where(folder, criteria)
        return hit

    def withdraw_unsent(self, inv: Invitation) -> str:
        """The inviter answered: an ask or decline of theirs not yet sent never will be
        (a draft leaves Drafts on the next review). What was withdrawn, for the notice;
        the caller holds the transaction."""
        said = []
        for row in self.store.outbox((OutboxState.PENDING, OutboxState.AWAITING)):
            if row.invitation_id != inv.id or row.kind not in TO_INVITER:
                continue
            if row.state is OutboxState.AWAITING:
                self.store.set_outbox_state(row.message_id, OutboxState.WITHDRAWN)
                said.append(f"the {row.kind} waiting for your approval is withdrawn from Drafts")
            else:
                self.store.set_outbox_state(row.message_id, OutboxState.CANCELLED)
                said.append(f"the {row.kind} not yet sent is withdrawn")
        return "; ".join(said)

    async def _withdraw(self, row: OutboxRow, drafts: str, hit: Hit | None) -> None:
        """The inviter answered while this draft waited: out of Drafts, never sent."""
        if hit is not None:
            await self.mailbox.remove(drafts, hit.uid)
        with self.store.transaction():
            self.store.set_outbox_state(row.message_id, OutboxState.CANCELLED)
        self._no_longer_awaiting(row)
        log.info("outbox.withdrawn", kind=row.kind, to=row.recipient, message_id=row.message_id)

    def _no_longer_awaiting(self, row: OutboxRow) -> None:
        if row.invitation_id is not None:
            inv = self.store.invitation(row.invitation_id)
            with self.store.transaction():
                self.store.add_flag_op(inv.source_message_id, (UNFLAG + KW_AWAITING,))

    def _cancel(self, row: OutboxRow) -> None:
        with self.store.transaction():
            self.store.set_outbox_state(row.message_id, OutboxState.CANCELLED)
            if row.invitation_id is not None and row.kind in TO_INVITER:
                self._apply(self.store.invitation(row.invitation_id), Cancelled(row.kind))
        log.info("outbox.cancelled", kind=row.kind, to=row.recipient, message_id=row.message_id)

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
        if not self._claim(row, OutboxState.SENDING, report, attempts=row.attempts + 1):
            return None
        envelope = Envelope(self.settings.owner.email, row.recipient, row.raw)
        try:
            await smtp.send(envelope, before_data=lambda: self._mark_data(row))
        except SenderRefused as exc:
            self._hold_for_sender(row, exc, report)
            return None
        except SendError as exc:
            if exc.uncertain:
                self._uncertain(row, exc, report)
            else:
                self._send_failed(row, row.attempts + 1, exc, report)
            return None
        now = self.clock.now()
        with self.store.transaction():
            self.store.set_outbox_state(row.message_id, OutboxState.SENT, sent_at=now)
            if self.store.facts.config_error:  # the sender is accepted again
                self.store.facts.config_error = ""
            self._mark_sent(row, now)
            if row.approved:
                self.store.facts.approved_sends += 1
        self.metrics.mails_sent.labels(row.kind).inc()
        report.sent += 1
        log.info("outbox.sent", kind=row.kind, to=row.recipient, message_id=row.message_id)
        return now

    def _mark_data(self, row: OutboxRow) -> None:
        """The DATA mark, in one transaction with the lease check (fencing): a replica that
        lost the account raises `LeaseLost` here, before the body goes out."""
        with self.store.transaction():
            self._fence(row, OutboxState.DATA)
            self.store.set_outbox_state(row.message_id, OutboxState.DATA)

    def _fence(self, row: OutboxRow, state: OutboxState) -> None:
        """Inside the claiming transaction: another replica may serve the account now."""
        if not self.store.holds_lease():
            log.warning("outbox.fenced", message_id=row.message_id, state=state)
            raise LeaseLost(row.message_id)

    def _hold_for_sender(self, row: OutboxRow, exc: SenderRefused, report: Report) -> None:
        """A refused sender is a configuration error for all mail, notices included (they
        use the same sender): hold everything, fail nothing (so the breaker stays quiet),
        say why in `health` and `status`. The next start tries again."""
        owner = self.settings.owner.email
        reason = f"configuration: the SMTP server refuses owner.email {owner} as sender: {exc}"
        self.refused = Brake(reason, holds_notices=True)
        with self.store.transaction():
            self.store.set_outbox_state(
                row.message_id,
                OutboxState.PENDING,
                attempts=row.attempts,
                last_error=str(exc)[:500],
            )
            self.store.facts.config_error = reason
        report.held += 1
        log.error("smtp.sender_refused", sender=owner, error=str(exc), message_id=row.message_id)

    def _uncertain(self, row: OutboxRow, exc: SendError, report: Report | None = None) -> None:
        """The body went out (or may have) and no reply came: the server may have it. Never
        resent on our own; the owner decides (`askfirst resend` or `askfirst forget`)."""
        if report is not None:
            report.failed += 1
        log.error("outbox.uncertain", kind=row.kind, message_id=row.message_id, error=str(exc))
        with self.store.transaction():
            self.store.set_outbox_state(
                row.message_id, OutboxState.UNCERTAIN, last_error=str(exc)[:500]
            )
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
                row.message_id,
                OutboxState.PENDING,
                next_attempt_at=retry_at,
                last_error=str(exc)[:500],
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
            self.store.set_outbox_state(
                row.message_id, OutboxState.FAILED, last_error=str(exc)[:500]
            )
            if row.invitation_id is not None and row.kind in TO_INVITER:
                inv = self.store.invitation(row.invitation_id)
                self._apply(inv, SendFailed(row.kind, str(exc), hand_over=exc.hand_over))

    async def settle(self) -> None:
        """Set owed flags (one STORE per set of flags) and file owed Sent copies (MULTIAPPEND).
        Setting a flag twice is harmless; a crash between filing a copy and noting it can
        leave a second copy in Sent, never a second mail to anyone."""
        mb, folder = self.mailbox, self.settings.imap.folder
        ops = self.store.flag_ops()
        by_flags: dict[tuple[str, ...], list[int]] = {}
        for op in ops:
            uids = self.store.uids_of(folder, mb.uidvalidity, op.message_id)  # maybe several
            uids = uids or await mb.find(op.message_id)
            by_flags.setdefault(op.flags, []).extend(uids)
        for flags, uids in by_flags.items():  # set first, then take off (the later ops)
            if added := [f for f in flags if not f.startswith(UNFLAG)]:
                await mb.add_flags(uids, added)
        for flags, uids in by_flags.items():
            if taken := [f.removeprefix(UNFLAG) for f in flags if f.startswith(UNFLAG)]:
                await mb.remove_flags(uids, taken)
        if ops:
            with self.store.transaction():
                for op in ops:
                    self.store.flag_op_done(op.id)
        uncopied = self.store.uncopied()
        if not uncopied:
            return
        sent = await mb.sent_folder()
        if sent in self.refused_folders:
            return  # refused in this run: the copies wait for the fix and a restart
        try:
            await mb.ensure_folder(sent)  # a mailbox without one gets one
            for start in range(0, len(uncopied), 50):
                batch = uncopied[start : start + 50]
                await mb.append(sent, [r.raw for r in batch], ["\\Seen"], self.clock.now())
                with self.store.transaction():
                    for row in batch:
                        self.store.mark_copied(row.message_id)
        except ImapRefused as exc:  # the mail went out; only its copy waits
            self._folder_refused(exc, "copies of sent mail")

    def _folder_refused(self, exc: ImapRefused, what: str) -> None:
        """Say once what the server refused and where (log, `health`, `status`); the rest
        of the work goes on."""
        problem = f"IMAP server refused the folder for {what}: {exc}"
        if exc.folder not in self.refused_folders:
            log.error("imap.refused", folder=exc.folder, what=what, error=str(exc))
        self.refused_folders[exc.folder] = problem
        with self.store.transaction():
            self.store.facts.folder_error = problem
