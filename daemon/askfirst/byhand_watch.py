"""The by-hand part of a pass: a network's notification as the inviter's answer, and the
owner's gesture (taking the flag off the invitation). The decisions are `byhand.py`'s and
the lifecycle's; this reads the store and the mailbox and records through `apply`."""

from __future__ import annotations

from collections.abc import Callable

from askfirst.byhand import match
from askfirst.config import Settings
from askfirst.edges import Mailbox
from askfirst.events import Event, NetworkMessage, Notify, OwnerStepsOut
from askfirst.lifecycle import FLAGGED, Invitation
from askfirst.message import Mail
from askfirst.notifications import recognise
from askfirst.report import Report
from askfirst.store import Store

STEPPED_OUT = "you took the flag off the invitation"


class ByHandWatch:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        mailbox: Mailbox,
        apply: Callable[[Invitation, Event], Invitation],
        notify: Callable[[Invitation, Notify], None],
    ) -> None:
        self.settings = settings
        self.store = store
        self.mailbox = mailbox
        self._apply = apply  # the lifecycle transition, recorded (`Effects.apply`)
        self._notify = notify  # a notice to the owner outside any transition

    def network_message(self, mail: Mail, report: Report, facts: dict[str, object]) -> str:
        """A network's notification that someone wrote: the answer to a by-hand invitation
        when it is authentic and names its inviter; "" when the mail is no notification.
        The caller holds the transaction."""
        notification = recognise(mail, self.settings.classify.authserv_id)
        if notification is None:
            return ""
        facts.update(notification=notification.network, authentic=notification.authentic)
        if not notification.authentic:
            return (
                f"ignored: network notification: {notification.describe()}, "
                f"but it does not count: {notification.why}"
            )
        found = match(notification, self.store.open_by_hand())
        if found.ambiguous:
            reason = f"{notification.describe()}; {found.why}: look, and take the flag off "
            self._notify(found.ambiguous[0], Notify(reason + "the invitation they did not answer"))
            return f"ignored: network notification: {found.why} (you were asked)"
        if not found.invitations:
            return f"ignored: network notification: {notification.describe()}; {found.why}"
        report.answers += 1
        for inv in found.invitations:
            self._apply(inv, NetworkMessage(mail.message_id, notification.describe()))
        return f"network message to invitation {found.why}: answered"

    async def stepped_out(self, report: Report) -> None:
        """Taking the flag off a by-hand invitation lets it go. Only once its own flags were
        set (none owed), and a mail moved away or archived is not a gesture."""
        owed = {op.message_id for op in self.store.flag_ops()}
        folder = self.settings.imap.folder
        watched: dict[int, Invitation] = {}
        for inv in self.store.open_by_hand():
            uids = self.store.uids_of(folder, self.mailbox.uidvalidity, inv.source_message_id)
            if uids and inv.source_message_id not in owed:
                watched[uids[0]] = inv
        if not watched:
            return
        flags = await self.mailbox.flags_of(list(watched))
        for uid, inv in watched.items():
            if uid in flags and FLAGGED not in flags[uid]:
                with self.store.transaction():
                    self._apply(self.store.invitation(inv.id or 0), OwnerStepsOut(STEPPED_OUT))
                report.stepped_out += 1
