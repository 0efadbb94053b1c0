"""Folder names as the server spells them (RFC 2342 NAMESPACE). Pure.

askfirst names a few folders itself: the fallback `Sent` and `Drafts` (when the server
marks none with SPECIAL-USE) and `approve_folder` (`askfirst/Approve`). Written with `/`
between levels, they fit Dovecot's default layout. Cyrus keeps personal folders under
`INBOX.` with `.` as the separator and refuses a top-level `Sent` or `askfirst`: there
the same names are `INBOX.Sent` and `INBOX.askfirst.Approve`. A name that already starts
with the personal prefix, or is `INBOX`, is the server's own spelling and is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Personal:
    """The personal namespace: its prefix (`""`, `INBOX.`) and hierarchy separator."""

    prefix: str = ""
    separator: str = "/"

    def name(self, folder: str) -> str:
        """`folder` (levels split by `/`) as this server spells it."""
        if folder.upper() == "INBOX" or (self.prefix and folder.startswith(self.prefix)):
            return folder
        if folder.upper().startswith("INBOX/"):
            folder = folder[len("INBOX/") :]
            return self.name(folder) if self.prefix else f"INBOX{self.separator}{folder}"
        levels = [level for level in folder.split("/") if level]
        return self.prefix + self.separator.join(levels)


def personal_of(namespace: Any, listed_separator: str | None = None) -> Personal:
    """The first personal namespace from imapclient's `namespace()` answer; without one
    (no NAMESPACE capability), the separator LIST reports and no prefix."""
    entries = getattr(namespace, "personal", None) or ()
    for entry in entries:
        prefix, separator = (_text(entry[0]), _text(entry[1]) if len(entry) > 1 else "")
        return Personal(prefix, separator or listed_separator or "/")
    return Personal("", listed_separator or "/")


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
