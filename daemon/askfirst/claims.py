"""Taking an outbox row, and the marks on its way out: the compare-and-set claim that
re-checks the invitation still calls for the mail, the lease check that fences a replica
which lost the account, the DATA mark (the point of no return) and the sent mark.

Each of these is one transaction, so a crash between two of them leaves a row whose state
says exactly how far it got (`Outbox.recover`).
"""

from __future__ import annotations

from datetime import datetime

from askfirst import logs
from askfirst.effects import Effects
from askfirst.events import AskSent
from askfirst.lifecycle import SENT_IN
from askfirst.mails import TO_INVITER, MailKind, OutboxState
from askfirst.report import Report
from askfirst.store import LeaseLost, OutboxRow, Store

log = logs.get()


class Claims:
    """The guarded steps of an outbox row (each in its own transaction)."""

    def __init__(self, *, store: Store, effects: Effects) -> None:
        self.store = store
        self.effects = effects

    def unwanted(self, row: OutboxRow) -> str | None:
        """Why the invitation no longer calls for this mail, or None: an ask goes only
        while the invitation waits for it, a decline only while no answer came."""
        if row.invitation_id is None or row.kind not in TO_INVITER:
            return None
        inv = self.store.invitation(row.invitation_id)
        if inv.state is SENT_IN[row.kind]:
            return None
        return f"the invitation is {inv.state} ({inv.reason})"

    def claim(self, row: OutboxRow, state: OutboxState, report: Report, **fields: object) -> bool:
        """Take the row for sending (or drafting) in one transaction that re-checks the
        invitation; a compare-and-set, so nothing else can have taken it meanwhile. The
        lease is checked in the same transaction (fencing): a replica that lost the account
        raises `LeaseLost` here and sends nothing."""
        with self.store.transaction():
            self.fence(row, state)
            why = self.unwanted(row)
            if why is None:
                return self.store.claim(row.message_id, row.state, state, **fields)
            cancelled = self.store.claim(row.message_id, row.state, OutboxState.CANCELLED)
        if cancelled:
            report.cancelled += 1
            log.info("outbox.not_sent", kind=row.kind, message_id=row.message_id, why=why)
        return False

    def fence(self, row: OutboxRow, state: OutboxState) -> None:
        """Inside the claiming transaction: another replica may serve the account now."""
        if not self.store.holds_lease():
            log.warning("outbox.fenced", message_id=row.message_id, state=state)
            raise LeaseLost(row.message_id)

    def mark_data(self, row: OutboxRow) -> None:
        """The DATA mark, in one transaction with the lease check (fencing): a replica that
        lost the account raises `LeaseLost` here, before the body goes out."""
        with self.store.transaction():
            self.fence(row, OutboxState.DATA)
            self.store.set_outbox_state(row.message_id, OutboxState.DATA)

    def mark_sent(self, row: OutboxRow, now: datetime) -> None:
        """An ask that left starts the wait for an answer (the caller holds the transaction)."""
        if row.kind is MailKind.ASK and row.invitation_id is not None:
            inv = self.store.invitation(row.invitation_id)
            self.effects.apply(inv, AskSent(now, self.effects.decline_due(now)))
