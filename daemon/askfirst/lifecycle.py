"""The invitation lifecycle as a pure function: `transition(invitation, event, now)`.

```
            ┌── personal note / unreachable ─────────────▶ handed_over
 (new) ─────┼── boilerplate + reachable ──▶ asked ──┬── genuine answer ──▶ answered
            │                                       ├── deadline passed ──▶ declined
            └── a gate refuses ─▶ skipped           ├── ask bounced / failed ──▶ failed
                                                    ├── out-of-office ──▶ asked (a return
                                                    │   date moves the deadline later)
                                                    └── someone else replies ──▶ asked
                                                        (the owner is told)
 declined ── genuine answer (late) ──▶ answered      declined ── decline failed ──▶ failed
```
Effects come back as data; the app applies them (outbox, IMAP flags). Anything not in the
table leaves the invitation as it is, so replaying an event is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from askfirst.answer import AnswerKind
from askfirst.rules import Decision

FLAGGED = "\\Flagged"
KW_ASKED = "$askfirst-asked"
KW_ANSWERED = "$askfirst-answered"
KW_HANDOVER = "$askfirst-handover"
KW_DECLINED = "$askfirst-declined"


class State(StrEnum):
    ASKED = "asked"  # the ask is recorded (and sent, or in the outbox); waiting for an answer
    ANSWERED = "answered"  # the inviter answered; the owner has it
    DECLINED = "declined"  # no answer in time; the decline is recorded
    HANDED_OVER = "handed_over"  # personal note or unreachable: straight to the owner
    SKIPPED = "skipped"  # an invitation a gate refused (reason kept); nothing sent
    FAILED = "failed"  # an ask or decline failed for good or bounced; the owner is told
    CANCELLED = "cancelled"  # the owner deleted the draft of the ask or decline (approve mode)


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
    decision: dict[str, object] = field(default_factory=dict)
    invitation_key: str | None = None  # the network's invitation id, shared with reminders
    id: int | None = None
    asked_message_id: str | None = None
    asked_at: datetime | None = None
    decline_due_at: datetime | None = None
    answered_at: datetime | None = None
    declined_at: datetime | None = None
    handed_over_at: datetime | None = None


@dataclass(frozen=True)
class Detected:
    decision: Decision


@dataclass(frozen=True)
class Answered:
    message_id: str
    kind: AnswerKind
    reason: str
    back_at: datetime | None = None  # an out-of-office's return date (plus grace), if given


@dataclass(frozen=True)
class AskSent:
    """The ask actually left (maybe later than decided: send window, brake, approval);
    the wait is counted from here."""

    at: datetime
    decline_due_at: datetime


@dataclass(frozen=True)
class DeadlinePassed:
    pass


@dataclass(frozen=True)
class Cancelled:
    """The owner deleted the draft instead of approving it."""

    kind: Literal["ask", "decline"]


@dataclass(frozen=True)
class SendFailed:
    kind: Literal["ask", "decline"]
    reason: str


Event = Detected | Answered | AskSent | DeadlinePassed | SendFailed | Cancelled


@dataclass(frozen=True)
class Send:
    kind: Literal["ask", "decline"]
    to: str


@dataclass(frozen=True)
class Notify:
    """Tell the owner (the `handover` template), with the reason."""

    reason: str


@dataclass(frozen=True)
class Flag:
    message_id: str
    flags: tuple[str, ...]


Effect = Send | Notify | Flag
Result = tuple[Invitation, list[Effect]]


def transition(inv: Invitation, event: Event, now: datetime, decline_after: timedelta) -> Result:
    match inv.state, event:
        case None, Detected(decision=d) if d.action == "ask":
            asked = replace(
                inv,
                state=State.ASKED,
                reason=d.rule,
                asked_at=now,
                decline_due_at=now + decline_after,
            )
            return asked, [Send("ask", inv.inviter_email), Flag(inv.source_message_id, (KW_ASKED,))]
        case None, Detected(decision=d) if d.action == "hand_over":
            reason = d.reasons[-1] if d.reasons else d.rule
            return replace(inv, state=State.HANDED_OVER, reason=reason, handed_over_at=now), [
                Flag(inv.source_message_id, (FLAGGED, KW_HANDOVER)),
                Notify(reason),
            ]
        case None, Detected(decision=d):
            return replace(inv, state=State.SKIPPED, reason=d.reasons[-1] if d.reasons else ""), []
        case ((State.ASKED | State.DECLINED), Answered(kind="genuine", message_id=mid)):
            late = inv.state is State.DECLINED
            reason = "answered after the decline was sent" if late else "the inviter answered"
            flags = (FLAGGED, KW_ANSWERED)
            return replace(inv, state=State.ANSWERED, reason=reason, answered_at=now), [
                Flag(inv.source_message_id, flags),
                Flag(mid, flags),
                Notify(reason),
            ]
        case ((State.ASKED | State.DECLINED), Answered(kind="stranger", reason=why)):
            return inv, [Notify(why)]  # the invitation keeps waiting for the inviter
        case State.ASKED, Answered(kind="automatic", back_at=back) if (
            back and inv.decline_due_at and back > inv.decline_due_at
        ):
            return replace(inv, decline_due_at=back, reason="out of office until the due date"), []
        case (State.ASKED, Cancelled(kind="ask")) | (State.DECLINED, Cancelled(kind="decline")):
            what = "ask" if inv.state is State.ASKED else "decline"
            return replace(inv, state=State.CANCELLED, reason=f"you deleted the {what} draft"), []
        case State.ASKED, AskSent(at=at, decline_due_at=due):
            return replace(inv, asked_at=at, decline_due_at=due), []
        case State.ASKED, Answered(kind="bounce", reason=why):
            reason = f"the ask bounced: {why}"
            return replace(inv, state=State.FAILED, reason=reason), [Notify(reason)]
        case State.ASKED, DeadlinePassed() if inv.decline_due_at and now >= inv.decline_due_at:
            return replace(
                inv, state=State.DECLINED, reason="no answer in time", declined_at=now
            ), [
                Send("decline", inv.inviter_email),
                Flag(inv.source_message_id, (KW_DECLINED,)),
            ]
        case (State.ASKED, SendFailed(kind="ask", reason=why)) | (
            State.DECLINED,
            SendFailed(kind="decline", reason=why),
        ):
            what = "ask" if inv.state is State.ASKED else "decline"
            reason = f"the {what} could not be sent: {why}"
            return replace(inv, state=State.FAILED, reason=reason), [Notify(reason)]
    return inv, []
