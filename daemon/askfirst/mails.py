"""What askfirst writes: its kinds of mail and the states of an outbox row.

The values are contracts: the state keeps them (the outbox's `kind` and `state` columns),
`status` prints them, log lines and metrics carry them, and a mail's kind is its
`X-Askfirst` header. They never change. This module imports nothing of askfirst, so every
module can use it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Literal, TypeAlias


class MailKind(StrEnum):
    """Whom a mail goes to and why."""

    ASK = "ask"  # to the inviter: "tell me about yourself"
    DECLINE = "decline"  # to the inviter: no answer came in time
    HANDOVER = "handover"  # to the owner: a notice (handed over, ask by hand, reminder, ...)


ToInviter: TypeAlias = Literal[MailKind.ASK, MailKind.DECLINE]  # the mails an invitation calls for
TO_INVITER: Final[tuple[ToInviter, ...]] = (MailKind.ASK, MailKind.DECLINE)


class OutboxState(StrEnum):
    """Where an outbox row is. `data` is the point of no return: the SMTP DATA command has
    started. `uncertain`: the connection dropped after the body went out, before the
    server's reply; never resent on its own (`askfirst resend` / `askfirst forget` decide)."""

    PENDING = "pending"  # due at its `next_attempt_at` (a send time or a retry)
    SENDING = "sending"  # claimed; DATA not started, so the server cannot have it
    DATA = "data"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"
    FORGOTTEN = "forgotten"  # `askfirst forget`: counted as sent; the next pass finishes it
    CANCELLED = "cancelled"
    AWAITING = "awaiting_approval"  # a draft in Drafts, waiting for the owner's flag
    WITHDRAWN = "withdrawn"  # a draft the inviter's answer made moot; leaves Drafts next
    DRY_RUN = "dry_run"  # `run --dry-run`: what would have been sent
