"""Which draft in the Drafts folder is askfirst's, and what to send once it is approved. Pure.

A mail client that saves an edited draft APPENDs a new copy and deletes the old one; some
keep the Message-ID, some make a new one, and few keep unknown headers or keywords. What
they all keep is the reply itself: its `In-Reply-To` and its recipient. So a waiting ask
or decline is found in Drafts (or in `approve_folder`), in this order:

1. by its Message-ID (the draft as askfirst filed it, or an edit that kept it);
2. by `In-Reply-To` (the mail it answers) and `To` (the inviter): an edited copy.

When the owner approves it, the draft's text as it is then (edited or not) is what gets
sent, under askfirst's Message-ID, so that an answer still finds the invitation. A `Bcc`
the client kept in the draft is dropped: the only recipient is the inviter.
"""

from __future__ import annotations

import re

from askfirst.message import parse

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_DROPPED = re.compile(rb"^(message-id|bcc)[ \t]*:", re.I)


def reply_criteria(raw: bytes, recipient: str) -> list[str] | None:
    """IMAP SEARCH criteria for an edited copy of this draft, or None (it answers nothing)."""
    parents = parse(raw).in_reply_to
    if not parents:
        return None
    return ["HEADER", "In-Reply-To", parents[0], "TO", recipient]


def as_approved(draft: bytes, message_id: str) -> bytes:
    """The approved draft as it will be sent: the owner's text, askfirst's Message-ID."""
    match = _HEADER_END.search(draft)
    if match is None:
        return draft
    head, body = draft[: match.start()], draft[match.start() :]
    kept: list[bytes] = []
    dropping = False
    for line in re.split(rb"\r?\n", head):
        if line[:1] in (b" ", b"\t"):  # a folded continuation belongs to the line above
            if not dropping:
                kept.append(line)
            continue
        dropping = bool(_DROPPED.match(line))
        if not dropping:
            kept.append(line)
    kept.append(b"Message-ID: " + message_id.encode("ascii"))
    return b"\r\n".join(kept) + body
