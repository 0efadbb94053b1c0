"""What a mail that did not go becomes: retried later (a transient failure, on a
persisted schedule), failed for good (the invitation is told), uncertain (the body went
out and no reply came: the owner decides), or held with all mail (the server refuses the
sender: a configuration problem)."""

from __future__ import annotations

from datetime import timedelta

from askfirst import logs
from askfirst.clock import Clock
from askfirst.config import Settings
from askfirst.effects import Effects
from askfirst.events import Notify, SendFailed
from askfirst.limits import Brake
from askfirst.mails import TO_INVITER, OutboxState
from askfirst.metrics import Metrics
from askfirst.report import Report
from askfirst.smtp import SenderRefused, SendError
from askfirst.store import OutboxRow, Store

log = logs.get()

# Persisted retry schedule for transient SMTP failures; after the last step the mail fails.
RETRY_AFTER = tuple(
    timedelta(minutes=m) for m in (5, 15, 60, 240, 360, 360, 360, 360, 360, 360, 360, 360, 360)
)


class Failures:
    """Records the outcome of a mail that did not go (each in its own transaction)."""

    def __init__(
        self, *, settings: Settings, store: Store, clock: Clock, metrics: Metrics, effects: Effects
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.metrics = metrics
        self.effects = effects

    def sender_refused(self, row: OutboxRow, exc: SenderRefused, report: Report) -> Brake:
        """A refused sender is a configuration error for all mail, notices included (they
        use the same sender): hold everything, fail nothing (so the breaker stays quiet),
        say why in `health` and `status`. The next start tries again."""
        owner = self.settings.owner.email
        reason = f"configuration: the SMTP server refuses owner.email {owner} as sender: {exc}"
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
        return Brake(reason, holds_notices=True)

    def uncertain(self, row: OutboxRow, exc: SendError, report: Report | None = None) -> None:
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
                why = (
                    f"the {row.kind} {row.message_id} may or may not have reached "
                    f"{row.recipient}: {exc}. askfirst will not send it again on its own: "
                    f"`askfirst resend '{row.message_id}' --config ...` sends it again, "
                    f"`askfirst forget '{row.message_id}' --config ...` counts it as sent"
                )
                self.effects.notice(self.store.invitation(row.invitation_id), Notify(why))

    def failed(self, row: OutboxRow, attempts: int, exc: SendError, report: Report) -> None:
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
                self.effects.apply(inv, SendFailed(row.kind, str(exc), hand_over=exc.hand_over))
