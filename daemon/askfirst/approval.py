"""Approval through the Drafts folder: in `approve` mode, and for the first
`approve_first` sends since install or since the templates changed, an ask or decline is
filed as a draft instead of sent. The owner approves by flagging it (or moving it to
`approve_folder`), edits it in place if they like, and cancels by deleting it; an answer
from the inviter withdraws a waiting draft.
"""

from __future__ import annotations

from askfirst import lifecycle, logs
from askfirst.claims import Claims
from askfirst.clock import Clock
from askfirst.config import Settings
from askfirst.drafts import as_approved, reply_criteria
from askfirst.edges import Mailbox
from askfirst.effects import Effects
from askfirst.events import Cancelled
from askfirst.imap import ImapRefused
from askfirst.imap_folders import Hit
from askfirst.lifecycle import Invitation
from askfirst.limits import Brake
from askfirst.mails import TO_INVITER, MailKind, OutboxState
from askfirst.render import Templates
from askfirst.report import Report
from askfirst.settle import UNFLAG, Settler
from askfirst.store import OutboxRow, Store

log = logs.get()

KW_DRAFT = "$askfirst-draft"  # a draft waiting for the owner's approval ...
KW_AWAITING = lifecycle.KW_AWAITING  # ... and the invitation it answers


class Approval:
    """Files drafts, and reads back the owner's verdict on them."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        clock: Clock,
        mailbox: Mailbox,
        templates: Templates,
        claims: Claims,
        settler: Settler,
        effects: Effects,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.mailbox = mailbox
        self.templates = templates
        self.claims = claims
        self.settler = settler
        self.effects = effects

    def wanted_for(self, row: OutboxRow) -> bool:
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

    async def to_drafts(self, row: OutboxRow, report: Report) -> Brake | None:
        """File the mail as a draft; the owner approves by flagging it (or moving it to
        `approve_folder`) and cancels by deleting it."""
        drafts = await self.mailbox.drafts_folder()
        try:
            await self.mailbox.ensure_folder(drafts)
            if self.claims.unwanted(row):
                self.claims.claim(row, OutboxState.AWAITING, report)  # cancels it
                return None
            if await self.mailbox.look_up(drafts, row.message_id) is None:
                flags = ["\\Draft", KW_DRAFT]
                await self.mailbox.append(drafts, [row.raw], flags, self.clock.now())
        except ImapRefused as exc:  # no drafts, no approval: asks and declines wait
            self.settler.folder_refused(exc, "drafts awaiting approval")
            report.held += 1
            return Brake(f"configuration: {exc}")
        with self.store.transaction():
            if not self.claims.claim(row, OutboxState.AWAITING, report):
                return None
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
        return None

    async def review(self, report: Report) -> None:
        """Flagged (or moved) drafts are approved, with the owner's edits; deleted ones
        cancelled; withdrawn ones (the inviter answered first) taken out of Drafts."""
        waiting = self.store.outbox((OutboxState.AWAITING, OutboxState.WITHDRAWN))
        if not waiting:
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
                self.effects.apply(self.store.invitation(row.invitation_id), Cancelled(row.kind))
        log.info("outbox.cancelled", kind=row.kind, to=row.recipient, message_id=row.message_id)
