"""What happens to an invitation and what askfirst does about it, as data: the events
`lifecycle.transition` takes and the effects it returns (the app applies them: outbox,
IMAP flags, notices)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from askfirst.answer import AnswerKind
from askfirst.mails import ToInviter
from askfirst.rules import Decision


@dataclass(frozen=True)
class Detected:
    decision: Decision


@dataclass(frozen=True)
class Answered:
    message_id: str
    kind: AnswerKind
    reason: str
    back_at: datetime | None = None  # an out-of-office's return date (plus grace), if given
    withdrawn: str = ""  # what of ours was still unsent and is withdrawn now, said for the notice


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

    kind: ToInviter


@dataclass(frozen=True)
class SendFailed:
    kind: ToInviter
    reason: str
    hand_over: bool = False  # the ask cannot go as it is (no SMTPUTF8): a person writes


@dataclass(frozen=True)
class ByHandStarted:
    """A network invitation without a reply address: the owner asks by hand; the reminder
    falls due at `remind_due_at` (None: `decline_after` from now)."""

    decision: Decision
    remind_due_at: datetime | None = None


@dataclass(frozen=True)
class NetworkMessage:
    """The network's authenticated notification says the inviter wrote to the owner."""

    message_id: str
    reason: str


@dataclass(frozen=True)
class ReminderDue:
    pass


@dataclass(frozen=True)
class OwnerStepsOut:
    """The owner took the flag off the invitation: askfirst lets it go."""

    reason: str


Event = (
    Detected
    | Answered
    | AskSent
    | DeadlinePassed
    | SendFailed
    | Cancelled
    | ByHandStarted
    | NetworkMessage
    | ReminderDue
    | OwnerStepsOut
)


@dataclass(frozen=True)
class Send:
    kind: ToInviter
    to: str


@dataclass(frozen=True)
class Notify:
    """Tell the owner (the `handover` template, or another one), with the reason and what
    was flagged (filled in by `transition` from the `Flag` effects beside it)."""

    reason: str
    template: str = "handover"
    not_their_answer: bool = False  # a mail in the thread from someone else: nothing changes
    flagged: tuple[str, ...] = ()


@dataclass(frozen=True)
class Flag:
    message_id: str
    flags: tuple[str, ...]


@dataclass(frozen=True)
class Unflag:
    """Take keywords off a mail again (a cancelled ask was never asked)."""

    message_id: str
    flags: tuple[str, ...]


Effect = Send | Notify | Flag | Unflag
