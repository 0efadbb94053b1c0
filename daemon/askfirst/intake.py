"""New mail in the watched folder, read and acted on, one transaction per mail.

Each mail is parsed and judged under the time budget (`budget.py`) before anything is
written; then, in one transaction, it is matched to an invitation it answers, or taken as
a new invitation, or ignored, and marked seen with its outcome. A mail that cannot be
handled is set aside (`$askfirst-error`, a notice to the owner) and the pass goes on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from askfirst import logs
from askfirst.answer import AnswerKind, answer_kind, not_the_inviter
from askfirst.approval import Approval
from askfirst.budget import OverBudget, deadline
from askfirst.byhand import starts_by_hand
from askfirst.byhand_watch import ByHandWatch
from askfirst.clock import Clock, from_epoch, to_epoch
from askfirst.config import Settings
from askfirst.edges import Mailbox
from askfirst.effects import Effects
from askfirst.events import Answered, ByHandStarted, Detected
from askfirst.imap import Fetched
from askfirst.judgement import Judgement, judge
from askfirst.lifecycle import State, keywords
from askfirst.message import Mail, parse
from askfirst.metrics import Metrics
from askfirst.ooo import return_date
from askfirst.render import Templates
from askfirst.report import Report
from askfirst.rules import records_invitation
from askfirst.store import Store, is_transient, mail_key

log = logs.get()

KW_QUARANTINE = "$askfirst-error"  # a mail askfirst could not handle; see `status`/the log
BATCH = 50  # messages fetched per round trip; bounds memory with large mails


@dataclass(frozen=True)
class Reading:
    """One mail's text, read: the judgement (verdict, decision, template) and, should it be
    an answer, its kind and an out-of-office's return date (`Intake._read`, under the time
    budget)."""

    judgement: Judgement
    kind: AnswerKind
    why: str
    back_at: datetime | None


class Intake:
    """Reads the watched folder from the cursor on and acts on each new mail."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        clock: Clock,
        templates: Templates,
        mailbox: Mailbox,
        metrics: Metrics,
        effects: Effects,
        approval: Approval,
        by_hand: ByHandWatch,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.templates = templates
        self.mailbox = mailbox
        self.metrics = metrics
        self.effects = effects
        self.approval = approval
        self.by_hand = by_hand
        self._floor: datetime | None = None  # the lookback floor, once read

    def not_before(self) -> datetime:
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

    async def read_mail(self, report: Report, *, dry_run: bool) -> None:
        """Every new mail in the watched folder, in batches, each acted on once (with
        `dry_run`, a mail set aside is not tagged)."""
        uids = await self._new_uids()
        for start in range(0, len(uids), BATCH):
            for fetched in await self.mailbox.fetch(uids[start : start + BATCH]):
                if not self._handle_safely(fetched, report) and not dry_run:
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
                self.effects.notice_set_aside(fetched, outcome)
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
        floor = self.not_before()
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

    def _handle(self, fetched: Fetched, uidvalidity: int, report: Report) -> str:
        folder = self.settings.imap.folder
        with deadline(self.settings.limits.time_per_mail.total_seconds()):
            mail = parse(fetched.raw)  # the work a hostile mail could make long, under
            reading = self._read(mail)  # a deadline; nothing below waits on mail text
        key = mail_key(mail)
        now = self.clock.now()
        facts: dict[str, object] = {}
        with self.store.transaction():
            if fetched.internaldate and _aware(fetched.internaldate) < self.not_before():
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
            withdrawn = self.approval.withdraw_unsent(related) if kind == "genuine" else ""
            answered = Answered(mail.message_id, kind, why, back_at, withdrawn)
            after = self.effects.apply(related, answered)
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
        inv = judgement.invitation(mail)
        by_hand = starts_by_hand(verdict, decision, self.settings.lifecycle.by_hand)
        due = self.effects.decline_due(self.clock.now())
        event = ByHandStarted(decision, due) if by_hand else Detected(decision)
        after = self.effects.apply(inv, event)
        return f"invitation {after.id}: {after.state} ({decision.rule})"

    def _back_at(self, mail: Mail) -> datetime | None:
        """An out-of-office's return date, as a deadline: that day's start plus the grace."""
        back = return_date(mail.subject, mail.text, self.clock.now())
        if back is None:
            return None
        zone = self.settings.owner.zone
        start = datetime.combine(back, datetime.min.time(), zone).astimezone(UTC)
        return start + self.settings.lifecycle.ooo_grace


def _plain_miss(reason: str) -> bool:
    """A rule that simply did not apply (the log line keeps hits and exceptions)."""
    return bool(re.fullmatch(r"[\w-]+: miss( \[[^\]]*\])?", reason))


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)
