"""One pass of askfirst (`App.run_once`); the loop around it is in `loop.py`.

A pass: on a first start (no cursor), read back from the mailbox what askfirst already did
(`rebuild.py`); read new mail in the watched folder and act on each message (one transaction per
message), then turn due deadlines into declines, then look at drafts awaiting approval,
then send what the outbox holds, then set the flags and file the Sent copies still owed
(those three in `outbox.py`). Each stage only reads what the previous stages committed,
so a crash anywhere leaves a state the next pass completes.
"""

from __future__ import annotations

import asyncio
import random
import re
import sqlite3
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from typing import Any, Self

import structlog

from askfirst import logs, rebuild
from askfirst.answer import AnswerKind, answer_kind, not_the_inviter
from askfirst.budget import OverBudget, deadline
from askfirst.byhand import starts_by_hand
from askfirst.byhand_watch import ByHandWatch
from askfirst.clock import Clock, SystemClock, from_epoch, to_epoch
from askfirst.config import Settings, health_limit
from askfirst.edges import Mailbox, Sender
from askfirst.events import (
    Answered,
    ByHandStarted,
    DeadlinePassed,
    Detected,
    Event,
    Flag,
    Notify,
    ReminderDue,
    Send,
    Unflag,
)
from askfirst.imap import Fetched
from askfirst.judgement import Judgement, choose_template, judge
from askfirst.lifecycle import Invitation, State, keywords, transition
from askfirst.mailbox import ImapMailbox
from askfirst.mails import MailKind
from askfirst.message import Mail, clean, parse
from askfirst.metrics import Metrics
from askfirst.notifications import invitation_slug
from askfirst.ooo import return_date
from askfirst.outbox import UNFLAG, Outbox
from askfirst.record import DecisionRecord
from askfirst.render import Templates, compose, context_for, new_message_id, why_told
from askfirst.report import Report
from askfirst.rules import records_invitation
from askfirst.schedule import jittered, next_send_time
from askfirst.smtp import SmtpSender
from askfirst.store import StateBusy, Store, is_transient, mail_key

log = logs.get()

KW_QUARANTINE = "$askfirst-error"  # a mail askfirst could not handle; see `status`/the log
BATCH = 50  # messages fetched per round trip; bounds memory with large mails
_MSGID = re.compile(r"<[^<>\s]+>")
CLOCK_JUMP_SECONDS = 300.0  # wall time moving this much more or less than elapsed time


@dataclass(frozen=True)
class Reading:
    """One mail's text, read: the judgement (verdict, decision, template) and, should it be
    an answer, its kind and an out-of-office's return date (`App._read`, under the time
    budget)."""

    judgement: Judgement
    kind: AnswerKind
    why: str
    back_at: datetime | None


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
        self.rnd = rnd or random.Random()  # noqa: S311 - jitter, not cryptography
        self.account = settings.name or "default"
        self.outbox = Outbox(
            settings=settings,
            store=store,
            clock=clock,
            sender=sender,
            mailbox=mailbox,
            templates=templates,
            metrics=self.metrics,
            apply=self._apply,
            notify=lambda inv, reason: self._enqueue_notice(inv, Notify(reason)),
            dry_run=dry_run,
        )
        self.by_hand = ByHandWatch(
            settings=settings,
            store=store,
            mailbox=mailbox,
            apply=self._apply,
            notify=self._enqueue_notice,
        )
        self._lock = asyncio.Lock()
        self._floor: datetime | None = None
        self._last_look: tuple[datetime, float] | None = None  # wall and monotonic time

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
            self._watch_clock()
            await self.mailbox.ensure_connected()
            await self.outbox.recover()
            if self.store.cursor(self.settings.imap.folder) is None:
                await self._rebuild()
            await self._read_mail(report)
            if not self.dry_run:  # nothing was flagged: nothing can have been unflagged
                await self.by_hand.stepped_out(report)
            started = time.monotonic()
            self._sweep(report)
            self.metrics.sweep_seconds.set(time.monotonic() - started)
            await self.outbox.review_drafts(report)
            await self.outbox.send_due(report)
            if not self.dry_run:
                await self.outbox.settle()
            self.heartbeat(connected=True)
        self.metrics.messages_seen.inc(report.fetched)
        if self.metrics.serving:  # a GROUP BY over every invitation: only when scraped
            for state, count in self.store.state_counts().items():
                self.metrics.invitations.labels(self.account, state).set(count)
        self.metrics.held.set(1 if report.held else 0)
        self.metrics.pass_completed()
        return report

    def _watch_clock(self) -> None:
        """Log a jump of the wall clock (forward or back) between passes. Nothing else
        changes: deadlines stay data, and the sends a jump makes due still wait for the
        hourly and daily caps (limits.py) like any other."""
        now, ticks = self.clock.now(), time.monotonic()
        last_pass = self.store.facts.last_pass_at if self._last_look is None else None
        if last_pass and to_epoch(now) < to_epoch(last_pass) - CLOCK_JUMP_SECONDS:
            log.warning(  # at start: the clock is behind the last pass an earlier run saw
                "clock.jumped",
                direction="back",
                seconds=to_epoch(now) - to_epoch(last_pass),
                now=now.isoformat(),
            )
        if self._last_look is not None:
            then, then_ticks = self._last_look
            drift = (now - then).total_seconds() - (ticks - then_ticks)
            if abs(drift) > CLOCK_JUMP_SECONDS:
                log.warning(
                    "clock.jumped",
                    direction="forward" if drift > 0 else "back",
                    seconds=round(drift),
                    now=now.isoformat(),
                )
        self._last_look = (now, ticks)

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

    async def _read_mail(self, report: Report) -> None:
        uids = await self._new_uids()
        for start in range(0, len(uids), BATCH):
            for fetched in await self.mailbox.fetch(uids[start : start + BATCH]):
                if not self._handle_safely(fetched, report) and not self.dry_run:
                    await self.mailbox.add_flags([fetched.uid], [KW_QUARANTINE])

    def _handle_safely(self, fetched: Fetched, report: Report) -> bool:
        """Handle one message; a failure is recorded against its UID, the mail is tagged
        `$askfirst-error`, the owner gets a notice, and the pass goes on. False when it
        failed. A busy or full state file is not the mail's fault: that error ends the
        pass (nothing of this mail was kept) and the next pass reads the mail again."""
        report.fetched += 1
        try:
            outcome = self._handle(fetched, self.mailbox.uidvalidity, report)
        except Exception as exc:  # one bad message must never stop the loop
            if is_transient(exc):
                raise
            report.errors += 1
            if isinstance(exc, OverBudget):
                outcome = f"error: set aside: reading it {exc}"
                log.warning("mail.set_aside", uid=fetched.uid, error=outcome)
            else:
                outcome = f"error: {type(exc).__name__}: {exc}"[:500]
                log.exception("mail.error", uid=fetched.uid, error=outcome)
            with self.store.transaction():
                self.store.mark_seen(
                    self.settings.imap.folder,
                    self.mailbox.uidvalidity,
                    fetched.uid,
                    f"<uid-{fetched.uid}@error>",
                    outcome,
                    self.clock.now(),
                )
                self._notice_set_aside(fetched, outcome)
            self.metrics.mails_set_aside.inc()
            report.outcomes.append(outcome)
            return False
        report.outcomes.append(outcome)
        return True

    async def _new_uids(self) -> list[int]:
        """UIDs not yet handled. The very first time, only mail inside `lifecycle.lookback`."""
        mb = self.mailbox
        folder = self.settings.imap.folder
        await mb.follow_folder()  # the folder may have been made anew
        cursor = self.store.cursor(folder)
        if cursor is not None and cursor[0] == mb.uidvalidity:
            return await mb.uids_after(cursor[1])
        floor = self._not_before()
        uids = await mb.uids_since(floor)
        if cursor is not None:
            log.warning("imap.uidvalidity_changed", folder=folder, rescan_since=floor.isoformat())
            with self.store.transaction():  # the mails are the same, their keywords are gone
                for inv in self.store.invitations():
                    tracked = (State.ASKED, State.DECLINED, State.BY_HAND, State.REMINDED)
                    if inv.state in tracked and keywords(inv):
                        self.store.add_flag_op(inv.source_message_id, keywords(inv))
        with self.store.transaction():  # with nothing in the window, start after the newest
            self.store.set_cursor(folder, mb.uidvalidity, min(uids) - 1 if uids else mb.uidnext - 1)
        return uids

    async def _rebuild(self) -> None:
        """A new or lost state file: first read back what askfirst already did (once)."""
        if self.store.facts.rebuilt is not None:
            return
        await rebuild.rebuild(
            store=self.store,
            mailbox=self.mailbox,
            settings=self.settings,
            since=self._not_before() - self.settings.lifecycle.decline_after,
            now=self.clock.now(),
            decline_due=self.outbox.decline_due,
        )

    def _not_before(self) -> datetime:
        """Mail older than this is never acted on: fixed on the first start, kept after
        (so it is read from the store once, not once per message)."""
        if self._floor is None:
            floor = self.store.facts.not_before
            fresh = from_epoch(to_epoch(self.clock.now() - self.settings.lifecycle.lookback))
            if floor is not None and floor > fresh:
                # Fixed while the clock ran ahead: kept, it would hide every mail until
                # the clock caught up with it. Start the window from today's clock.
                log.warning(
                    "clock.floor_in_future",
                    stored=floor.isoformat(),
                    now=self.clock.now().isoformat(),
                )
                floor = None
            if floor is None:
                floor = fresh
                with self.store.transaction():
                    self.store.facts.not_before = floor
            self._floor = floor
        return self._floor

    def _handle(self, fetched: Fetched, uidvalidity: int, report: Report) -> str:
        folder = self.settings.imap.folder
        with deadline(self.settings.limits.time_per_mail.total_seconds()):
            mail = parse(fetched.raw)  # the work a hostile mail could make long, under
            reading = self._read(mail)  # a deadline; nothing below waits on mail text
        key = mail_key(mail)
        now = self.clock.now()
        facts: dict[str, object] = {}
        with self.store.transaction():
            if fetched.internaldate and _aware(fetched.internaldate) < self._not_before():
                outcome = "ignored: older than the lookback window"
            elif self.store.seen_message(mail.message_id, key):
                outcome = "ignored: already handled (same Message-ID)"
            elif self.store.is_ours(mail.message_id):
                outcome = "ignored: a message askfirst sent"
            else:
                outcome = self._act(mail, reading, report, facts)
            if outcome.startswith("ignored"):
                report.ignored += 1
            self.store.mark_seen(
                folder, uidvalidity, fetched.uid, mail.message_id, outcome, now, key
            )
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

    def _read(self, mail: Mail) -> Reading:
        """What the mail's text says, before anything is written."""
        ask_again = self.clock.now() - self.settings.lifecycle.ask_again_after
        judgement = judge(
            mail,
            self.settings,
            self.templates,
            recently_asked=lambda address: self.store.asked_since(address, ask_again),
        )
        kind, why = answer_kind(mail)
        back_at = self._back_at(mail) if kind == "automatic" else None
        return Reading(judgement, kind, why, back_at)

    def _act(self, mail: Mail, reading: Reading, report: Report, facts: dict[str, object]) -> str:
        """Act on one new mail; `facts` collects the verdict for the log line."""
        related = self.store.by_thread(mail.thread_ids)
        judgement = reading.judgement
        verdict, decision = judgement.verdict, judgement.decision
        if related is None and not verdict.is_invitation and not mail.list_header:
            related = self.store.open_by_email(mail.from_addr) if mail.from_addr else None
        if related is not None:
            kind, why = reading.kind, reading.why
            other = None
            if kind not in ("bounce", "report"):  # delivery news is about our ask, from anyone
                other = not_the_inviter(mail, related.inviter_email, verdict.authenticated is True)
            if other and kind == "genuine":
                kind, why = "stranger", other
            back_at = reading.back_at if kind == "automatic" and not other else None
            facts.update(answer=kind, invitation=related.id, state_before=str(related.state))
            withdrawn = self.outbox.withdraw_unsent(related) if kind == "genuine" else ""
            after = self._apply(related, Answered(mail.message_id, kind, why, back_at, withdrawn))
            if kind == "stranger":
                return f"not an answer ({why}) in the thread of invitation {related.id}"
            report.answers += 1
            return f"answer ({kind}: {why}) to invitation {related.id}: {after.state}"
        if not verdict.is_invitation:
            heard = self.by_hand.network_message(mail, report, facts)
            if heard:
                return heard
        facts.update(
            invitation_found=verdict.is_invitation,
            network=verdict.network,
            action=decision.action,
            rule=decision.rule,
            hits=[r for r in judgement.reasons if not _plain_miss(r)],
        )
        if not records_invitation(verdict, decision):
            return f"ignored: {decision.reasons[-1]}"
        earlier = verdict.invitation_key and self.store.by_key(verdict.invitation_key)
        if earlier:
            return f"ignored: a repeat of invitation {earlier.id} (same invitation id)"
        report.invitations += 1
        inv = Invitation(
            source_message_id=mail.message_id,
            network=verdict.network or "email",
            inviter_name=verdict.inviter_name,
            inviter_email=judgement.inviter_email,
            subject=mail.subject,
            references=(*mail.references, mail.message_id)[-20:],
            invitation_key=verdict.invitation_key,
            decision=DecisionRecord(
                action=decision.action,
                rule=decision.rule,
                reasons=judgement.reasons,
                template=judgement.template,
                note=verdict.personal_note[:2000],
                language=verdict.language,
                authenticated=verdict.authenticated,
                phishing_suspect=verdict.phishing_suspect,
                profile_url=verdict.profile_url,
                profile_slug=invitation_slug(mail, verdict.network or ""),
            ),
        )
        by_hand = starts_by_hand(verdict, decision, self.settings.lifecycle.by_hand)
        due = self.outbox.decline_due(self.clock.now())
        after = self._apply(inv, ByHandStarted(decision, due) if by_hand else Detected(decision))
        return f"invitation {after.id}: {after.state} ({decision.rule})"

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
                    count += self._apply(current, event).state is outcome
        return count

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
            if send.kind is MailKind.ASK:
                after = replace(after, asked_message_id=mid)
        with self.store.transaction():
            after = self.store.save(after, now)
            if after.state is not inv.state and after.id is not None:
                self._cancel_unwanted(after)
            for send, mid in sends:
                self._enqueue_reply(after, send, mid)
            for effect in effects:
                if isinstance(effect, Notify):
                    self._enqueue_notice(after, effect)
                elif isinstance(effect, Flag):
                    self.store.add_flag_op(effect.message_id, effect.flags)
                elif isinstance(effect, Unflag):
                    self.store.add_flag_op(
                        effect.message_id, tuple(UNFLAG + f for f in effect.flags)
                    )
        log.info(  # a state entered is logged once; a change within it (the ask left) is not
            f"invitation.{after.state}" if after.state != inv.state else "invitation.updated",
            id=after.id,
            inviter=after.inviter_email,
            network=after.network,
            reason=after.reason,
            state_before=str(inv.state),
        )
        return after

    def _cancel_unwanted(self, inv: Invitation) -> None:
        """Held mail the invitation no longer calls for (the inviter wrote first, or the
        ask failed) never leaves; `Outbox` checks again when it claims a row."""
        for kind, wanted in ((MailKind.ASK, State.ASKED), (MailKind.DECLINE, State.DECLINED)):
            if inv.state is not wanted:
                for mid in self.store.cancel_open(inv.id or 0, kind):
                    log.info("outbox.not_sent", kind=kind, message_id=mid, why=inv.reason)

    def _context(self, inv: Invitation) -> dict[str, Any]:
        owner = self.settings.owner
        return context_for(inv, (owner.name, owner.email), self.settings.lifecycle.decline_after)

    def _template(self, kind: str, inv: Invitation) -> str:
        """A rule's template set and the invitation's language pick the file (README)."""
        language = inv.decision.language
        sets = self.settings.rules.template_sets
        return choose_template(self.templates, sets, kind, inv.inviter_email, inv.network, language)

    def _enqueue_reply(self, inv: Invitation, effect: Send, message_id: str) -> None:
        rendered = self.templates.render(self._template(effect.kind, inv), self._context(inv))
        parent = inv.asked_message_id if effect.kind is MailKind.DECLINE else inv.source_message_id
        refs = inv.references if effect.kind is MailKind.ASK else (*inv.references, parent or "")
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

    def _back_at(self, mail: Mail) -> datetime | None:
        """An out-of-office's return date, as a deadline: that day's start plus the grace."""
        back = return_date(mail.subject, mail.text, self.clock.now())
        if back is None:
            return None
        zone = self.settings.owner.zone
        start = datetime.combine(back, datetime.min.time(), zone).astimezone(UTC)
        return start + self.settings.lifecycle.ooo_grace

    def _enqueue_notice(self, inv: Invitation, effect: Notify) -> None:
        context = self._context(inv) | {
            "reason": why_told(inv, effect.reason),
            "not_their_answer": effect.not_their_answer,
            "flagged": list(effect.flagged),
        }
        asked_by_hand = effect.template == "byhand"
        if inv.decision.rule == "unreachable" and (inv.state is State.HANDED_OVER or asked_by_hand):
            context["ask_text"] = self.templates.render(self._template("ask", inv), context).body
        if effect.template == "remind":
            decline = self.templates.render(self._template("decline", inv), context)
            context["decline_text"] = decline.body
        name = effect.template
        template = name if name == "handover" else self._template(name, inv)
        self._notify(context, inv.source_message_id, inv.references, template)

    def _notice_set_aside(self, fetched: Fetched, outcome: str) -> None:
        """Tell the owner about a mail askfirst gave up on (the caller holds the transaction)."""
        head = BytesHeaderParser().parsebytes(fetched.raw[:32_768])  # bounded, never raises
        sender = clean(str(head.get("from", "")), 200) or "an unknown sender"
        message_id = next(iter(_MSGID.findall(str(head.get("message-id", "")))), None)
        inv = Invitation(
            source_message_id=message_id or "",
            network="email",
            inviter_name=sender,
            inviter_email="",
            subject=clean(str(head.get("subject", "")), 200),
        )
        detail = outcome.removeprefix("error: ")
        if detail.startswith("set aside: "):
            detail = detail.removeprefix("set aside: ")
        else:
            detail = f"handling it failed ({detail})"
        reason = f"{detail} (IMAP UID {fetched.uid})"
        context = self._context(inv) | {"state": "set_aside", "reason": reason}
        self._notify(context, message_id, ())

    def _notify(
        self,
        context: dict[str, Any],
        about: str | None,
        references: tuple[str, ...],
        template: str = "handover",
    ) -> None:
        """A notice to the owner (`handover`, or the by-hand ones), threaded to the mail it
        is about."""
        rendered = self.templates.render(template, context)
        owner = self.settings.owner
        domain = owner.email.rpartition("@")[2]
        out = compose(
            rendered,
            sender=(owner.name, owner.email),
            to=(owner.name, owner.email),
            date=self.clock.now(),
            message_id=new_message_id(domain),
            in_reply_to=about or None,
            references=tuple(r for r in references if r and r != about),
            auto_submitted="auto-generated",
            kind=MailKind.HANDOVER,
        )
        self.store.enqueue(
            out.message_id, None, MailKind.HANDOVER, owner.email, out.raw, self.clock.now()
        )


def _plain_miss(reason: str) -> bool:
    """A rule that simply did not apply (the log line keeps hits and exceptions)."""
    return bool(re.fullmatch(r"[\w-]+: miss( \[[^\]]*\])?", reason))


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)
