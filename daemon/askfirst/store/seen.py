"""Mail already handled and the cursor per folder: what makes a rescan, a second delivery
or a restart do nothing twice. A mail is noted as seen in the same transaction as
everything it caused."""

from __future__ import annotations

import hashlib
from datetime import datetime

from askfirst.clock import to_epoch
from askfirst.message import Mail
from askfirst.store.db import Database


class SeenRecords(Database):
    """`Store`'s part for the mail seen and the cursors."""

    def cursor(self, folder: str) -> tuple[int, int] | None:
        row = self._db.execute(
            "SELECT uidvalidity, last_uid FROM cursor WHERE folder = ?", (folder,)
        ).fetchone()
        return (row["uidvalidity"], row["last_uid"]) if row else None

    def set_cursor(self, folder: str, uidvalidity: int, last_uid: int) -> None:
        self._db.execute(
            "INSERT INTO cursor (folder, uidvalidity, last_uid) VALUES (?, ?, ?) "
            "ON CONFLICT (folder) DO UPDATE SET uidvalidity = excluded.uidvalidity, "
            "last_uid = MAX(CASE WHEN cursor.uidvalidity = excluded.uidvalidity "
            "THEN cursor.last_uid ELSE 0 END, excluded.last_uid)",
            (folder, uidvalidity, last_uid),
        )

    def seen_message(self, message_id: str, key: str | None = None) -> bool:
        """This mail was handled (a rescan or a second delivery); `key` tells apart two
        different mails that share a Message-ID."""
        row = self._db.execute(
            "SELECT 1 FROM seen WHERE message_id = ? AND (mail_key IS NULL OR ? IS NULL "
            "OR mail_key = ?) LIMIT 1",
            (message_id, key, key),
        )
        return row.fetchone() is not None

    def mark_seen(
        self,
        folder: str,
        uidvalidity: int,
        uid: int,
        message_id: str,
        outcome: str,
        now: datetime,
        key: str | None = None,
    ) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO seen (folder, uidvalidity, uid, message_id, outcome, at, "
            "mail_key) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (folder, uidvalidity, uid, message_id, outcome, to_epoch(now), key),
        )
        self.set_cursor(folder, uidvalidity, uid)

    def uids_of(self, folder: str, uidvalidity: int, message_id: str) -> list[int]:
        """Every mail seen with this Message-ID (two different mails may share one)."""
        rows = self._db.execute(
            "SELECT uid FROM seen WHERE folder = ? AND uidvalidity = ? AND message_id = ?",
            (folder, uidvalidity, message_id),
        )
        return [int(r["uid"]) for r in rows]


def mail_key(mail: Mail) -> str:
    """A mail's identity beyond its Message-ID (which two different mails may share)."""
    parts = (mail.message_id, mail.from_addr, mail.header("date"), mail.subject)
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]
