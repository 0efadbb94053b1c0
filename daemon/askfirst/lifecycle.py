"""The invitation lifecycle as a pure function: `transition(invitation, event, now)`.

```
            ┌── personal note / unreachable ─────────────▶ handed_over
 (new) ─────┼── boilerplate + reachable ──▶ asked ──┬── genuine answer ──▶ answered
            │                                       ├── deadline passed ──▶ declined
            └── a gate refuses ─▶ skipped           ├── ask bounced / failed ──▶ failed
                                                    ├── ask cannot go ──▶ handed_over
                                                    ├── out-of-office ──▶ asked (a return
                                                    │   date moves the deadline later)
                                                    └── someone else replies ──▶ asked
                                                        (the owner is told)
 declined ── genuine answer (late) ──▶ answered      declined ── decline failed ──▶ failed
 failed / cancelled ── genuine answer ──▶ answered (an answer always reaches the owner)
```
A network that hides the inviter's address (`by_hand`, see `byhand.py`):
```
 (new) ── boilerplate, no reply address ──▶ by_hand ─┬── the network says they wrote ──▶ answered
                                                     ├── wait over ──▶ reminded (then as by_hand)
                                                     └── owner takes the flag off ──▶ cancelled
```
A bounce is a delivery report that says `Action: failed` (`dsn`); a delay warning or a
relay report (kind `report`) changes nothing. Every notice says what it flagged.
Events go in and effects come back as data (`events`); the app applies the effects (outbox,
IMAP flags). Anything not in the table leaves the invitation as it is, so replaying an
event is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from askfirst.events import (
    Answered,
    AskSent,
    ByHandStarted,
    Cancelled,
    DeadlinePassed,
    Detected,
    Effect,
    Event,
    Flag,
    NetworkMessage,
    Notify,
    OwnerStepsOut,
    ReminderDue,
    Send,
    SendFailed,
    Unflag,
)
from askfirst.mails import MailKind, ToInviter
from askfirst.record import DecisionRecord

FLAGGED = "\\Flagged"
KW_ASKED = "$askfirst-asked"
KW_ANSWERED = "$askfirst-answered"
KW_HANDOVER = "$askfirst-handover"
KW_DECLINED = "$askfirst-declined"
KW_AWAITING = "$askfirst-awaiting"  # the ask or decline waits as a draft for the owner
KW_BY_HAND = "$askfirst-byhand"
KW_REMINDED = "$askfirst-reminded"


class State(StrEnum):
    ASKED = "asked"  # the ask is recorded; once it left (asked_at), waiting for an answer
    ANSWERED = "answered"  # the inviter answered; the owner has it
    DECLINED = "declined"  # no answer in time; the decline is recorded
    HANDED_OVER = "handed_over"  # personal note or unreachable: straight to the owner
    SKIPPED = "skipped"  # an invitation a gate refused (reason kept); nothing sent
    FAILED = "failed"  # an ask or decline failed for good or bounced; the owner is told
    CANCELLED = "cancelled"  # the owner deleted the draft (approve mode) or stepped out (by hand)
    BY_HAND = "by_hand"  # no reply address: the owner asks inside the network, askfirst waits
    REMINDED = "reminded"  # by hand, no answer in time: the owner was reminded to decline


# The one state in which each mail to the inviter may still leave: held mail whose
# invitation moved on is cancelled (`Effects`), and never claimed for sending (`Claims`).
SENT_IN: dict[ToInviter, State] = {MailKind.ASK: State.ASKED, MailKind.DECLINE: State.DECLINED}


@dataclass(frozen=True)
class Invitation:
    source_message_id: str
    network: str
    inviter_name: str
    inviter_email: str
    subject: str = ""
    references: tuple[str, ...] = ()
    state: State | None = None  # None: just detected, not yet stored
    reason: str = ""
    decision: DecisionRecord = field(default_factory=DecisionRecord)
    invitation_key: str | None = None  # the network's invitation id, shared with reminders
    id: int | None = None
    asked_message_id: str | None = None
    asked_at: datetime | None = None
    decline_due_at: datetime | None = None
    answered_at: datetime | None = None
    declined_at: datetime | None = None
    handed_over_at: datetime | None = None


Result = tuple[Invitation, list[Effect]]


def keywords(inv: Invitation) -> tuple[str, ...]:
    """The keywords the invitation mail carries in its state (set again after the folder's
    UIDVALIDITY changed)."""
    return {
        State.ASKED: (KW_ASKED,),
        State.DECLINED: (KW_ASKED, KW_DECLINED),
        State.ANSWERED: (FLAGGED, KW_ANSWERED),
        State.HANDED_OVER: (FLAGGED, KW_HANDOVER),
        State.BY_HAND: (FLAGGED, KW_BY_HAND),
        State.REMINDED: (FLAGGED, KW_BY_HAND, KW_REMINDED),
    }.get(inv.state or State.SKIPPED, ())


def transition(inv: Invitation, event: Event, now: datetime, decline_after: timedelta) -> Result:
    after, effects = _transition(inv, event, now, decline_after)
    if not any(isinstance(e, Notify) for e in effects):
        return after, effects
    flagged = tuple(
        _what(e.message_id, inv, event)
        for e in effects
        if isinstance(e, Flag) and FLAGGED in e.flags
    )
    return after, [replace(e, flagged=flagged) if isinstance(e, Notify) else e for e in effects]


def _what(message_id: str, inv: Invitation, event: Event) -> str:
    """A flagged mail, as the notice names it."""
    if message_id == inv.source_message_id:
        return "the invitation"
    if isinstance(event, Answered) and event.kind == "bounce":
        return "the delivery report"
    if isinstance(event, NetworkMessage):
        return "the network's message"
    return "their answer"


def _why_answered(inv: Invitation) -> str:
    """Why the owner hears of an answer, by the state it came in."""
    return {
        State.DECLINED: "answered after the decline was sent",
        State.FAILED: f"the inviter answered, although askfirst had noted: {inv.reason}",
        State.CANCELLED: "the inviter wrote, after you deleted the draft",
    }.get(inv.state or State.ASKED, "the inviter answered")


def _transition(inv: Invitation, event: Event, now: datetime, decline_after: timedelta) -> Result:
    # An ask's deadline comes with `AskSent`, when the ask has left (the outbox computes it
    # with the send window and business days); `decline_after` times the by-hand reminder.
    match inv.state, event:
        case None, Detected(decision=d) if d.action == "ask":
            # No deadline yet: the wait counts from the moment the ask leaves (AskSent).
            asked = replace(inv, state=State.ASKED, reason=d.rule)
            return asked, [
                Send(MailKind.ASK, inv.inviter_email),
                Flag(inv.source_message_id, (KW_ASKED,)),
            ]
        case None, Detected(decision=d) if d.action == "hand_over":
            reason = d.reasons[-1] if d.reasons else d.rule
            return replace(inv, state=State.HANDED_OVER, reason=reason, handed_over_at=now), [
                Flag(inv.source_message_id, (FLAGGED, KW_HANDOVER)),
                Notify(reason),
            ]
        case None, Detected(decision=d):
            return replace(inv, state=State.SKIPPED, reason=d.reasons[-1] if d.reasons else ""), []
        case (
            (State.ASKED | State.DECLINED | State.FAILED | State.CANCELLED),
            Answered(kind="genuine", message_id=mid, withdrawn=withdrawn),
        ):
            reason = f"the inviter answered; {withdrawn}" if withdrawn else _why_answered(inv)
            return _answered(inv, mid, reason, now)
        case ((State.ASKED | State.DECLINED), Answered(kind="stranger", reason=why)):
            return inv, [Notify(why, not_their_answer=True)]  # it keeps waiting for the inviter
        case State.ASKED, Answered(kind="automatic", back_at=back) if (
            back and inv.decline_due_at and back > inv.decline_due_at
        ):
            return replace(inv, decline_due_at=back, reason="out of office until the due date"), []
        case (State.ASKED, Cancelled(kind=MailKind.ASK)) | (
            State.DECLINED,
            Cancelled(kind=MailKind.DECLINE),
        ):
            what = "ask" if inv.state is State.ASKED else "decline"
            said = KW_ASKED if inv.state is State.ASKED else KW_DECLINED
            return replace(inv, state=State.CANCELLED, reason=f"you deleted the {what} draft"), [
                Unflag(inv.source_message_id, (said, KW_AWAITING))
            ]
        case State.ASKED, AskSent(at=at, decline_due_at=due):
            return replace(inv, asked_at=at, decline_due_at=due), []
        case State.ASKED, Answered(kind="bounce", reason=why, message_id=mid):
            reason = f"the ask bounced: {why}"
            return replace(inv, state=State.FAILED, reason=reason), [
                Flag(inv.source_message_id, (FLAGGED,)),
                Flag(mid, (FLAGGED,)),
                Notify(reason),
            ]
        case State.ASKED, DeadlinePassed() if inv.decline_due_at and now >= inv.decline_due_at:
            return replace(
                inv, state=State.DECLINED, reason="no answer in time", declined_at=now
            ), [
                Send(MailKind.DECLINE, inv.inviter_email),
                Flag(inv.source_message_id, (KW_DECLINED,)),
            ]
        case State.ASKED, SendFailed(kind=MailKind.ASK, reason=why, hand_over=True):
            reason = f"the ask could not be sent: {why}"
            return replace(inv, state=State.HANDED_OVER, reason=reason, handed_over_at=now), [
                Flag(inv.source_message_id, (FLAGGED, KW_HANDOVER)),
                Notify(reason),
            ]
        case (State.ASKED, SendFailed(kind=MailKind.ASK, reason=why)) | (
            State.DECLINED,
            SendFailed(kind=MailKind.DECLINE, reason=why),
        ):
            what = "ask" if inv.state is State.ASKED else "decline"
            reason = f"the {what} could not be sent: {why}"
            return replace(inv, state=State.FAILED, reason=reason), [Notify(reason)]
    return _by_hand(inv, event, now, decline_after)


def _by_hand(inv: Invitation, event: Event, now: datetime, decline_after: timedelta) -> Result:
    """The owner asks inside the network; askfirst watches the notifications and the clock."""
    match inv.state, event:
        case None, ByHandStarted(remind_due_at=due):
            reason = "no address where a reply reaches the inviter: you ask, askfirst waits"
            return replace(
                inv,
                state=State.BY_HAND,
                reason=reason,
                handed_over_at=now,
                decline_due_at=due or now + decline_after,
            ), [Flag(inv.source_message_id, (FLAGGED, KW_BY_HAND)), Notify(reason, "byhand")]
        case ((State.BY_HAND | State.REMINDED), NetworkMessage(message_id=mid, reason=why)):
            late = " after the reminder" if inv.state is State.REMINDED else ""
            return _answered(inv, mid, f"the inviter answered{late}: {why}", now)
        case State.BY_HAND, ReminderDue() if inv.decline_due_at and now >= inv.decline_due_at:
            reason = "no answer in time: decline by hand"
            return replace(inv, state=State.REMINDED, reason=reason), [
                Flag(inv.source_message_id, (KW_REMINDED,)),
                Notify(reason, "remind"),
            ]
        case ((State.BY_HAND | State.REMINDED), OwnerStepsOut(reason=why)):
            return replace(inv, state=State.CANCELLED, reason=why), []
    return inv, []


def _answered(inv: Invitation, message_id: str, reason: str, now: datetime) -> Result:
    """The owner has it: invitation and answer flagged, and a notice."""
    flags = (FLAGGED, KW_ANSWERED)
    return replace(inv, state=State.ANSWERED, reason=reason, answered_at=now), [
        Flag(inv.source_message_id, flags),
        Flag(message_id, flags),
        Notify(reason),
    ]
