"""One pass of askfirst (`run_once`) and the long-running loop around it (`run_forever`).

A pass: read new mail in the watched folder and act on each message (one transaction per
message), then turn due deadlines into declines, then send what the outbox holds, then set
the flags and Sent copies that are still owed to the mailbox. Each stage only reads what
the previous stages committed, so a crash anywhere leaves a state the next pass completes.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from daemon import logs
from daemon.answer import answer_kind
from daemon.classify import classify
from daemon.clock import Clock, from_epoch, to_epoch
from daemon.config import Settings
from daemon.imap import Fetched, ImapError, MailboxThread
from daemon.lifecycle import (
    Answered,
    AskSent,
    Cancelled,
    DeadlinePassed,
    Detected,
    Event,
    Flag,
    Invitation,
    Notify,
    Send,
    SendFailed,
    State,
    transition,
)
from daemon.limits import Brake, brake
from daemon.message import Mail, parse
from daemon.metrics import Metrics
from daemon.ooo import return_date
from daemon.render import Templates, compose, context_for, new_message_id
from daemon.rules import Context, decide, template_set
from daemon.schedule import decline_due, jittered, next_send_time
from daemon.smtp import Envelope, SendError, SmtpSender
from daemon.store import (
    AWAITING,
    CANCELLED,
    DATA,
    DRY_RUN,
    FAILED,
    PENDING,
    SENDING,
    SENT,
    OutboxRow,
    Store,
)

log = logs.get()

# Persisted retry schedule for transient SMTP failures; after the last step the mail fails.
RETRY_AFTER = tuple(
    timedelta(minutes=m) for m in (5, 15, 60, 240, 360, 360, 360, 360, 360, 360, 360, 360, 360)
)
KILL_ENV = "ASKFIRST_STOP"  # set (non-empty) in the daemon's environment: nothing is sent
KW_DRAFT = "$askfirst-draft"  # a draft waiting for the owner's approval ...
KW_AWAITING = "$askfirst-awaiting"  # ... and the invitation it answers
KW_QUARANTINE = "$askfirst-error"  # a mail askfirst could not handle; see `status`/the log
BATCH = 50  # messages fetched per round trip; bounds memory with large mails


@dataclass
class Report:
    """What one pass did; `run_once` returns it and the log prints it."""

    fetched: int = 0
    invitations: int = 0
    answers: int = 0
    ignored: int = 0
    errors: int = 0
    declined: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    held: int = 0
    awaiting: int = 0
    cancelled: int = 0
    outcomes: list[str] = field(default_factory=list)


class App:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        clock: Clock,
        templates: Templates,
        sender: SmtpSender,
        mailbox: MailboxThread,
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
        self.rnd = rnd or random.Random()  # noqa: S311 - jitter, not cryptography
        self.dry_run = dry_run  # everything runs; nothing is sent, flagged or filed
        self.account = settings.name or "default"
        self._lock = asyncio.Lock()
        self._recovered = False

    # -- one pass ------------------------------------------------------------------------

    async def run_once(self) -> Report:
        """Drain new mail, then due deadlines, then the outbox; safe to call at any time."""
        report = Report()
        structlog.contextvars.bind_contextvars(account=self.account)
        async with self._lock:
            await self.mailbox.ensure_connected()
            if not self._recovered:
                await self._recover()
                self._recovered = True
            await self._read_mail(report)
            started = time.monotonic()
            self._sweep(report)
            self.metrics.sweep_seconds.set(time.monotonic() - started)
            await self._review_drafts(report)
            await self._send_outbox(report)
            if not self.dry_run:
                await self._settle_mailbox()
            self._heartbeat(connected=True)
        self.metrics.messages_seen.inc(report.fetched)
        for state, count in self.store.state_counts().items():
            self.metrics.invitations.labels(self.account, state).set(count)
        self.metrics.held.set(1 if report.held else 0)
        self.metrics.pass_completed()
        return report

    def _heartbeat(self, *, connected: bool, error: str = "") -> None:
        """What `askfirst health` and `status` read: when the last pass ended, and how."""
        with self.store.transaction():
            if connected:
                self.store.set_meta("last_pass_at", str(to_epoch(self.clock.now())))
            self.store.set_meta("imap_connected", "1" if connected else "0")
            self.store.set_meta("last_error", error)

    async def _recover(self) -> None:
        """Finish what a killed process left half done, without sending anything twice."""
        for row in self.store.outbox((SENDING,)):
            # DATA never started: the server cannot have accepted it. Send it again.
            self.store.set_outbox_state(row.message_id, PENDING)
            log.warning("outbox.requeued", message_id=row.message_id, why="stopped before DATA")
        for row in self.store.outbox((DATA,)):
            # Stopped during DATA: the server almost certainly has it. Never send twice.
            mb = self.mailbox.mailbox
            folder = await self.mailbox.call(mb.sent_folder)
            copied = bool(await self.mailbox.call(mb.find, row.message_id, folder))
            self.store.set_outbox_state(row.message_id, SENT, sent_at=self.clock.now())
            if copied:
                self.store.mark_copied(row.message_id)
            log.warning(
                "outbox.assumed_sent",
                message_id=row.message_id,
                in_sent_folder=copied,
                why="stopped during DATA: the server almost certainly has it",
            )

    # -- incoming mail ---------------------------------------------------------------------

    async def _read_mail(self, report: Report) -> None:
        mb = self.mailbox.mailbox
        uids = await self._new_uids()
        for start in range(0, len(uids), BATCH):
            batch = uids[start : start + BATCH]
            for fetched in await self.mailbox.call(lambda batch=batch: list(mb.fetch(batch))):
                if not self._handle_safely(fetched, report) and not self.dry_run:
                    await self.mailbox.call(mb.add_flags, fetched.uid, [KW_QUARANTINE])

    def _handle_safely(self, fetched: Fetched, report: Report) -> bool:
        """Handle one message; a failure is recorded against its UID (and the mail is
        tagged `$askfirst-error`) and the pass goes on. False when it failed."""
        report.fetched += 1
        try:
            outcome = self._handle(fetched, self.mailbox.mailbox.uidvalidity, report)
        except Exception as exc:  # one bad message must never stop the loop
            report.errors += 1
            outcome = f"error: {type(exc).__name__}: {exc}"[:500]
            log.exception("mail.error", uid=fetched.uid, error=outcome)
            with self.store.transaction():
                self.store.mark_seen(
                    self.settings.imap.folder,
                    self.mailbox.mailbox.uidvalidity,
                    fetched.uid,
                    f"<uid-{fetched.uid}@error>",
                    outcome,
                    self.clock.now(),
                )
            report.outcomes.append(outcome)
            return False
        report.outcomes.append(outcome)
        return True

    async def _new_uids(self) -> list[int]:
        """UIDs not yet handled. The very first time, only mail inside `lifecycle.lookback`."""
        mb = self.mailbox.mailbox
        folder = self.settings.imap.folder
        cursor = self.store.cursor(folder)
        if cursor is not None and cursor[0] == mb.uidvalidity:
            return await self.mailbox.call(mb.uids_after, cursor[1])
        floor = self._not_before()
        uids = await self.mailbox.call(mb.uids_since, floor)
        if cursor is not None:
            log.warning("imap.uidvalidity_changed", folder=folder, rescan_since=floor.isoformat())
        with self.store.transaction():
            self.store.set_cursor(folder, mb.uidvalidity, (min(uids) - 1) if uids else 0)
        return uids

    def _not_before(self) -> datetime:
        """Mail older than this is never acted on: fixed on the first start, kept after."""
        floor = self.store.meta("not_before")
        if floor is None:
            floor = str(to_epoch(self.clock.now() - self.settings.lifecycle.lookback))
            with self.store.transaction():
                self.store.set_meta("not_before", floor)
        return from_epoch(int(floor))

    def _handle(self, fetched: Fetched, uidvalidity: int, report: Report) -> str:
        folder = self.settings.imap.folder
        mail = parse(fetched.raw)
        now = self.clock.now()
        facts: dict[str, object] = {}
        with self.store.transaction():
            if fetched.internaldate and _aware(fetched.internaldate) < self._not_before():
                outcome = "ignored: older than the lookback window"
            elif self.store.seen_message(mail.message_id):
                outcome = "ignored: already handled (same Message-ID)"
            elif self.store.is_ours(mail.message_id):
                outcome = "ignored: a message askfirst sent"
            else:
                outcome = self._act(mail, report, facts)
            if outcome.startswith("ignored"):
                report.ignored += 1
            self.store.mark_seen(folder, uidvalidity, fetched.uid, mail.message_id, outcome, now)
        log.info(  # the one canonical line per message
            "mail.processed",
            uid=fetched.uid,
            message_id=mail.message_id,
            sender=mail.from_addr,
            subject=mail.subject[:120],
            outcome=outcome,
            defects=len(mail.defects),
            **facts,
        )
        return outcome

    def _act(self, mail: Mail, report: Report, facts: dict[str, object]) -> str:
        """Act on one new mail; `facts` collects the verdict for the log line."""
        related = self.store.by_thread(mail.thread_ids)
        owner = self.settings.owner.addresses()
        verdict = classify(mail, self.settings.classify, owner)
        if related is None and not verdict.is_invitation and mail.from_addr:
            related = self.store.open_by_email(mail.from_addr)
        if related is not None:
            kind, why = answer_kind(mail)
            back_at = self._back_at(mail) if kind == "automatic" else None
            facts.update(answer=kind, invitation=related.id, state_before=str(related.state))
            report.answers += 1
            after = self._apply(related, Answered(mail.message_id, kind, why, back_at))
            return f"answer ({kind}: {why}) to invitation {related.id}: {after.state}"
        ask_again = self.clock.now() - self.settings.lifecycle.ask_again_after
        reply = verdict.reply_address
        ctx = Context(
            owner_addresses=owner,
            allow=tuple(self.settings.rules.allow),
            deny=tuple(self.settings.rules.deny),
            recently_asked=bool(reply) and self.store.asked_since(reply or "", ask_again),
        )
        decision = decide(mail, verdict, ctx)
        facts.update(
            invitation_found=verdict.is_invitation,
            network=verdict.network,
            action=decision.action,
            rule=decision.rule,
            hits=[r for r in (*verdict.reasons, *decision.reasons) if not r.endswith(": miss")],
        )
        if not verdict.is_invitation or decision.rule == "own-address":
            return f"ignored: {decision.reasons[-1]}"
        earlier = verdict.invitation_key and self.store.by_key(verdict.invitation_key)
        if earlier:
            return f"ignored: a repeat of invitation {earlier.id} (same invitation id)"
        report.invitations += 1
        inv = Invitation(
            source_message_id=mail.message_id,
            network=verdict.network or "email",
            inviter_name=verdict.inviter_name,
            inviter_email=verdict.reply_address or mail.from_addr,
            subject=mail.subject,
            references=(*mail.references, mail.message_id)[-20:],
            invitation_key=verdict.invitation_key,
            decision={
                "action": decision.action,
                "rule": decision.rule,
                "reasons": [*verdict.reasons, *decision.reasons],
                "note": verdict.personal_note[:2000],
                "language": verdict.language,
                "authenticated": verdict.authenticated,
                "phishing_suspect": verdict.phishing_suspect,
                "profile_url": verdict.profile_url,
            },
        )
        after = self._apply(inv, Detected(decision))
        return f"invitation {after.id}: {after.state} ({decision.rule})"

    # -- deadlines -------------------------------------------------------------------------

    def _sweep(self, report: Report) -> None:
        """Every invitation whose decline is due gets its decline, once."""
        now = self.clock.now()
        for due in self.store.due(now):
            with self.store.transaction():
                current = self.store.invitation(due.id or 0)
                if current.state is State.ASKED:
                    after = self._apply(current, DeadlinePassed())
                    report.declined += after.state is State.DECLINED

    # -- effects ---------------------------------------------------------------------------

    def _apply(self, inv: Invitation, event: Event) -> Invitation:
        """Run the pure transition and record its effects; the caller holds the transaction."""
        now = self.clock.now()
        after, effects = transition(inv, event, now, self.settings.lifecycle.decline_after)
        if after == inv and not effects:
            log.info(
                "invitation.unchanged",
                id=inv.id,
                state=str(inv.state),
                trigger=type(event).__name__,
            )
            return inv
        domain = self.settings.owner.email.rpartition("@")[2]
        sends = [(e, new_message_id(domain)) for e in effects if isinstance(e, Send)]
        for send, mid in sends:
            if send.kind == "ask":
                after = replace(after, asked_message_id=mid)
        with self.store.transaction():
            after = self.store.save(after, now)
            for send, mid in sends:
                self._enqueue_reply(after, send, mid)
            for effect in effects:
                if isinstance(effect, Notify):
                    self._enqueue_notice(after, effect)
                elif isinstance(effect, Flag):
                    self.store.add_flag_op(effect.message_id, effect.flags)
        log.info(
            f"invitation.{after.state}",
            id=after.id,
            inviter=after.inviter_email,
            network=after.network,
            reason=after.reason,
            state_before=str(inv.state),
        )
        return after

    def _context(self, inv: Invitation) -> dict[str, Any]:
        owner = self.settings.owner
        return context_for(inv, (owner.name, owner.email), self.settings.lifecycle.decline_after)

    def _template(self, kind: str, inv: Invitation) -> str:
        """A rule's template set and the invitation's language pick the file (README)."""
        language = inv.decision.get("language")
        chosen = template_set(self.settings.rules.template_sets, inv.inviter_email, inv.network)
        return self.templates.choose(kind, chosen, language if isinstance(language, str) else None)

    def _enqueue_reply(self, inv: Invitation, effect: Send, message_id: str) -> None:
        rendered = self.templates.render(self._template(effect.kind, inv), self._context(inv))
        parent = inv.asked_message_id if effect.kind == "decline" else inv.source_message_id
        refs = inv.references if effect.kind == "ask" else (*inv.references, parent or "")
        owner = self.settings.owner
        out = compose(
            rendered,
            sender=(owner.name, owner.email),
            to=(inv.inviter_name, effect.to),
            date=self.clock.now(),
            message_id=message_id,
            in_reply_to=parent,
            references=tuple(r for r in refs if r),
            kind=effect.kind,
        )
        now = self.clock.now()
        self.store.enqueue(
            out.message_id,
            inv.id,
            effect.kind,
            effect.to,
            out.raw,
            now,
            not_before=self._send_time(now),
        )

    def _send_time(self, now: datetime) -> datetime:
        """When a mail to an inviter may go: inside the send window, after a little jitter."""
        lifecycle, zone = self.settings.lifecycle, self.settings.owner.zone
        earliest = next_send_time(now, lifecycle.window, zone)
        return next_send_time(
            jittered(earliest, lifecycle.send_jitter, self.rnd), lifecycle.window, zone
        )

    def _decline_due(self, asked_at: datetime) -> datetime:
        lifecycle = self.settings.lifecycle
        return decline_due(
            asked_at, lifecycle.decline_after, lifecycle.deadline, self.settings.owner.zone
        )

    def _back_at(self, mail: Mail) -> datetime | None:
        """An out-of-office's return date, as a deadline: that day's start plus the grace."""
        back = return_date(mail.subject, mail.text, self.clock.now())
        if back is None:
            return None
        zone = self.settings.owner.zone
        start = datetime.combine(back, datetime.min.time(), zone).astimezone(UTC)
        return start + self.settings.lifecycle.ooo_grace

    def _enqueue_notice(self, inv: Invitation, effect: Notify) -> None:
        context = self._context(inv) | {"reason": effect.reason}
        if inv.decision.get("rule") == "unreachable" and inv.state is State.HANDED_OVER:
            context["ask_text"] = self.templates.render(self._template("ask", inv), context).body
        rendered = self.templates.render("handover", context)
        owner = self.settings.owner
        domain = owner.email.rpartition("@")[2]
        out = compose(
            rendered,
            sender=(owner.name, owner.email),
            to=(owner.name, owner.email),
            date=self.clock.now(),
            message_id=new_message_id(domain),
            auto_submitted="auto-generated",
            kind="handover",
        )
        self.store.enqueue(out.message_id, None, "handover", owner.email, out.raw, self.clock.now())

    # -- the outbox ------------------------------------------------------------------------

    async def _send_outbox(self, report: Report) -> None:
        """Send what is due and not held by a brake; a notice queued by a failure in this
        pass goes out in it too."""
        kill_switch = await self._kill_switch()
        tried: set[str] = set()
        held: Brake | None = None
        while rows := [
            r
            for r in self.store.outbox((PENDING,), before=self.clock.now())
            if r.message_id not in tried
        ]:
            for row in rows:
                tried.add(row.message_id)
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
        with self.store.transaction():
            self.store.set_meta("brake", held.reason if held and report.held else "")

    def _pretend_sent(self, row: OutboxRow, report: Report) -> None:
        """--dry-run: record what would have gone out, and let the lifecycle go on."""
        now = self.clock.now()
        with self.store.transaction():
            self.store.set_outbox_state(row.message_id, DRY_RUN, sent_at=now)
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
            self._apply(inv, AskSent(now, self._decline_due(now)))

    # -- approval through the Drafts folder --------------------------------------------------

    def _needs_approval(self) -> bool:
        """Approve mode, or one of the first `approve_first` sends since install or since the
        templates last changed."""
        if self.settings.mode == "approve":
            return True
        fingerprint = self.templates.fingerprint()
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
        if await self.mailbox.call(mb.look_up, drafts, row.message_id) is None:
            await self.mailbox.call(
                mb.append, drafts, row.raw, ["\\Draft", KW_DRAFT], self.clock.now()
            )
        with self.store.transaction():
            self.store.set_outbox_state(row.message_id, AWAITING)
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

    async def _review_drafts(self, report: Report) -> None:
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
        """Claim, send, record. The DATA mark is the point of no return (see `_recover`)."""
        self.store.set_outbox_state(row.message_id, SENDING, attempts=row.attempts + 1)
        envelope = Envelope(self.settings.owner.email, row.recipient, row.raw)
        try:
            await self.sender.send(
                envelope, before_data=lambda: self.store.set_outbox_state(row.message_id, DATA)
            )
        except SendError as exc:
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
                self._apply(inv, SendFailed("ask" if row.kind == "ask" else "decline", str(exc)))

    async def _settle_mailbox(self) -> None:
        """Set owed flags and file owed Sent copies; both are idempotent."""
        mb = self.mailbox.mailbox
        folder = self.settings.imap.folder
        for op in self.store.flag_ops():
            uid = self.store.uid_of(folder, mb.uidvalidity, op.message_id)
            uids = [uid] if uid else await self.mailbox.call(mb.find, op.message_id)
            for found in uids:
                await self.mailbox.call(mb.add_flags, found, op.flags)
            self.store.flag_op_done(op.id)
        uncopied = self.store.uncopied()
        if not uncopied:
            return
        sent = await self.mailbox.call(mb.sent_folder)
        for row in uncopied:
            if not await self.mailbox.call(mb.find, row.message_id, sent):
                await self.mailbox.call(mb.append, sent, row.raw, ["\\Seen"], self.clock.now())
            self.store.mark_copied(row.message_id)

    # -- the long-running loop -------------------------------------------------------------

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Passes on every IDLE push, every `sweep_interval`, and (without IDLE) every
        `poll_interval`, until `stop` is set; the pass in hand is finished first."""
        wake = asyncio.Event()
        lifecycle = self.settings.lifecycle

        async def tick() -> None:
            wake.set()

        scheduler = AsyncIOScheduler(timezone=UTC)
        scheduler.add_job(
            tick,
            "interval",
            seconds=lifecycle.sweep_interval.total_seconds(),
            id="sweep",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
        )
        scheduler.start()
        watcher: asyncio.Task[None] | None = None
        watching = False
        backoff = 1.0
        try:
            while not stop.is_set():
                try:
                    await self.run_once()
                    backoff = 1.0
                except ImapError as exc:
                    log.warning("imap.unavailable", error=str(exc), retry_in=round(backoff, 1))
                    self._heartbeat(connected=False, error=str(exc))
                    self.metrics.imap_reconnects.inc()
                    self.metrics.imap_connected = False
                    await _wait_any(stop, within=backoff)
                    backoff = min(backoff * 2, 300.0) * random.uniform(0.8, 1.0)  # noqa: S311
                    continue
                if not watching:
                    watcher, watching = self._start_watcher(scheduler, wake, stop), True
                await _wait_any(stop, wake, within=self._seconds_to_next_due())
                wake.clear()
        finally:
            scheduler.shutdown(wait=False)
            if watcher is not None:
                await watcher
            await self.mailbox.close()

    def _seconds_to_next_due(self) -> float | None:
        """Sleep no longer than until the next decline or outbox retry falls due."""
        due = [d for d in (self.store.next_due(), self.store.next_attempt()) if d is not None]
        if not due:
            return None
        return max(0.2, (min(due) - self.clock.now()).total_seconds() + 0.1)

    def _start_watcher(
        self, scheduler: AsyncIOScheduler, wake: asyncio.Event, stop: asyncio.Event
    ) -> asyncio.Task[None] | None:
        """IDLE on a second connection when the server offers it; else poll on a timer."""
        settings = self.settings
        if settings.imap.idle and "IDLE" in self.mailbox.mailbox.capabilities:
            return asyncio.create_task(_idle_watch(settings, wake, stop))

        async def tick() -> None:
            wake.set()

        scheduler.add_job(
            tick,
            "interval",
            seconds=settings.lifecycle.poll_interval.total_seconds(),
            id="poll",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
        )
        log.info("imap.polling", every=settings.lifecycle.poll_interval.total_seconds())
        return None


async def _idle_watch(settings: Settings, wake: asyncio.Event, stop: asyncio.Event) -> None:
    """Wake the main loop whenever the server reports a change; reconnect when it breaks."""
    thread = MailboxThread(settings.imap, "idle")
    halt = threading.Event()
    stopper = asyncio.create_task(stop.wait())
    stopper.add_done_callback(lambda _: halt.set())
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
            except ImapError as exc:
                log.warning("imap.idle_lost", error=str(exc), reconnect_in=round(backoff, 1))
                await _wait_any(stop, within=backoff)
                backoff = min(backoff * 2, 300.0) * random.uniform(0.8, 1.0)  # noqa: S311
    finally:
        stopper.cancel()
        await thread.close()


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


def health_limit(settings: Settings) -> float:
    """Seconds without a completed pass after which askfirst counts as unhealthy."""
    return 3 * settings.lifecycle.sweep_interval.total_seconds() + 60


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)
