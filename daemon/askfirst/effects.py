"""What the lifecycle decides, recorded: the invitation saved, mail to the inviter
rendered and queued in the outbox, flags owed, notices to the owner.

`apply` runs the pure `lifecycle.transition` and writes its effects in the caller's
transaction, so a decision and everything it calls for are kept together or not at all.
Nothing here talks to a server: the outbox (`outbox.py`) sends, later, what is queued.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import datetime
from email.parser import BytesHeaderParser
from typing import Any

from askfirst import logs
from askfirst.clock import Clock
from askfirst.config import Settings
from askfirst.events import Event, Flag, Notify, Send, Unflag
from askfirst.headerfields import clean
from askfirst.imap import Fetched
from askfirst.judgement import choose_template
from askfirst.lifecycle import SENT_IN, Invitation, State, transition
from askfirst.mails import MailKind
from askfirst.render import Templates, compose, context_for, new_message_id, why_told
from askfirst.schedule import decline_due, jittered, next_send_time
from askfirst.settle import UNFLAG
from askfirst.store import Store

log = logs.get()
_MSGID = re.compile(r"<[^<>\s]+>")


class Effects:
    """Records transitions and queues the mail they call for (inside a transaction)."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        clock: Clock,
        templates: Templates,
        rnd: random.Random,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.templates = templates
        self.rnd = rnd  # the send jitter

    def decline_due(self, asked_at: datetime) -> datetime:
        """When the decline falls due for an ask that left at `asked_at`."""
        lifecycle = self.settings.lifecycle
        return decline_due(
            asked_at, lifecycle.decline_after, lifecycle.deadline, self.settings.owner.zone
        )

    def apply(self, inv: Invitation, event: Event) -> Invitation:
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
            if after.state is not inv.state and inv.id is not None:  # a new one has no mail
                self._cancel_unwanted(after)
            for send, mid in sends:
                self._enqueue_reply(after, send, mid)
            for effect in effects:
                if isinstance(effect, Notify):
                    self.notice(after, effect)
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
        for kind, wanted in SENT_IN.items():
            if inv.state is not wanted:
                for mid in self.store.cancel_open(inv.id or 0, kind):
                    log.info("outbox.not_sent", kind=kind, message_id=mid, why=inv.reason)

    def _context(self, inv: Invitation) -> dict[str, Any]:
        owner = self.settings.owner
        return context_for(inv, (owner.name, owner.email), self.settings.lifecycle.decline_after)

    def template(self, kind: str, inv: Invitation) -> str:
        """A rule's template set and the invitation's language pick the file (README)."""
        language = inv.decision.language
        sets = self.settings.rules.template_sets
        return choose_template(self.templates, sets, kind, inv.inviter_email, inv.network, language)

    def _enqueue_reply(self, inv: Invitation, effect: Send, message_id: str) -> None:
        rendered = self.templates.render(self.template(effect.kind, inv), self._context(inv))
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

    def notice(self, inv: Invitation, effect: Notify) -> None:
        context = self._context(inv) | {
            "reason": why_told(inv, effect.reason),
            "not_their_answer": effect.not_their_answer,
            "flagged": list(effect.flagged),
        }
        asked_by_hand = effect.template == "byhand"
        if inv.decision.rule == "unreachable" and (inv.state is State.HANDED_OVER or asked_by_hand):
            context["ask_text"] = self.templates.render(self.template("ask", inv), context).body
        if effect.template == "remind":
            decline = self.templates.render(self.template("decline", inv), context)
            context["decline_text"] = decline.body
        name = effect.template
        template = name if name == "handover" else self.template(name, inv)
        self._notify(context, inv.source_message_id, inv.references, template)

    def notice_set_aside(self, fetched: Fetched, outcome: str) -> None:
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
