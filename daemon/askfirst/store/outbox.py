"""The outbox table, and the flags owed to the mailbox: every outgoing mail is a row here
before anything is sent, and moves through its `OutboxState`s by compare-and-set (see
`askfirst.outbox` for what each step means)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta

from askfirst.clock import from_epoch, to_epoch
from askfirst.lifecycle import State
from askfirst.limits import History
from askfirst.mails import TO_INVITER, MailKind, OutboxState
from askfirst.store.db import Database, maybe_time

OPEN = (OutboxState.PENDING, OutboxState.AWAITING)  # not yet on its way: cancellable


@dataclass(frozen=True)
class OutboxRow:
    message_id: str
    invitation_id: int | None
    kind: MailKind
    recipient: str
    raw: bytes
    state: OutboxState
    attempts: int
    next_attempt_at: datetime
    last_error: str
    approved: bool = False


@dataclass(frozen=True)
class FlagOp:
    id: int
    message_id: str
    flags: tuple[str, ...]


class OutboxRecords(Database):
    """`Store`'s part for the outbox and the flag ops."""

    def enqueue(
        self,
        message_id: str,
        invitation_id: int | None,
        kind: MailKind,
        recipient: str,
        raw: bytes,
        now: datetime,
        not_before: datetime | None = None,
    ) -> None:
        due = to_epoch(not_before or now)
        self._db.execute(
            "INSERT INTO outbox (message_id, invitation_id, kind, recipient, raw, state, "
            "next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                message_id,
                invitation_id,
                kind,
                recipient,
                raw,
                OutboxState.PENDING,
                due,
                to_epoch(now),
            ),
        )

    def record_sent(
        self,
        message_id: str,
        invitation_id: int,
        kind: MailKind,
        recipient: str,
        raw: bytes,
        sent_at: datetime,
    ) -> None:
        """A mail found in the Sent folder (rebuild): sent, and its copy is filed."""
        at = to_epoch(sent_at)
        self._db.execute(
            "INSERT OR IGNORE INTO outbox (message_id, invitation_id, kind, recipient, raw, "
            "state, next_attempt_at, created_at, sent_at, copied) VALUES (?, ?, ?, ?, ?, ?, ?, "
            "?, ?, 1)",
            (message_id, invitation_id, kind, recipient, raw, OutboxState.SENT, at, at, at),
        )

    def is_ours(self, message_id: str) -> bool:
        row = self._db.execute("SELECT 1 FROM outbox WHERE message_id = ?", (message_id,))
        return row.fetchone() is not None

    def outbox(
        self, states: tuple[OutboxState, ...], before: datetime | None = None
    ) -> list[OutboxRow]:
        marks = ", ".join("?" for _ in states)
        sql = f"SELECT * FROM outbox WHERE state IN ({marks})"  # noqa: S608 - placeholders only
        args: list[object] = list(states)
        if before is not None:
            sql += " AND next_attempt_at <= ?"
            args.append(to_epoch(before))
        rows = self._db.execute(sql + " ORDER BY created_at, rowid", args).fetchall()
        return [_outbox(r) for r in rows]

    def outbox_row(self, message_id: str) -> OutboxRow | None:
        row = self._db.execute("SELECT * FROM outbox WHERE message_id = ?", (message_id,))
        found = row.fetchone()
        return _outbox(found) if found else None

    def next_attempt(self) -> datetime | None:
        row = self._db.execute(
            "SELECT MIN(next_attempt_at) AS due FROM outbox WHERE state = ?",
            (OutboxState.PENDING,),
        ).fetchone()
        return from_epoch(row["due"]) if row and row["due"] is not None else None

    def set_outbox_state(self, message_id: str, state: OutboxState, **fields: object) -> None:
        sets = ", ".join(["state = ?", *(f"{k} = ?" for k in fields)])
        self._db.execute(
            f"UPDATE outbox SET {sets} WHERE message_id = ?",  # noqa: S608 - names are ours
            (state, *(_plain(v) for v in fields.values()), message_id),
        )

    def claim(
        self, message_id: str, expected: OutboxState, state: OutboxState, **fields: object
    ) -> bool:
        """Compare-and-set: move the row to `state` only if it is still `expected`."""
        sets = ", ".join(["state = ?", *(f"{k} = ?" for k in fields)])
        cur = self._db.execute(
            f"UPDATE outbox SET {sets} WHERE message_id = ? AND state = ?",  # noqa: S608
            (state, *(_plain(v) for v in fields.values()), message_id, expected),
        )
        return bool(cur.rowcount == 1)

    def cancel_open(self, invitation_id: int, kind: MailKind) -> list[str]:
        """Cancel this invitation's mail of `kind` not yet on its way (held, waiting for
        approval or for a retry); the Message-IDs cancelled."""
        rows = self._db.execute(
            "UPDATE outbox SET state = ? WHERE invitation_id = ? AND kind = ? "
            "AND state IN (?, ?) RETURNING message_id",
            (OutboxState.CANCELLED, invitation_id, kind, *OPEN),
        ).fetchall()
        return [r["message_id"] for r in rows]

    def uncopied(self) -> list[OutboxRow]:
        rows = self._db.execute(
            "SELECT * FROM outbox WHERE state = ? AND copied = 0 AND kind != ?",
            (OutboxState.SENT, MailKind.HANDOVER),
        )
        return [_outbox(r) for r in rows]

    def mark_copied(self, message_id: str) -> None:
        self._db.execute("UPDATE outbox SET copied = 1 WHERE message_id = ?", (message_id,))

    def history(self, now: datetime) -> History:
        """Sends and failures of the last hour and day, for the brakes."""
        hour, day = to_epoch(now - timedelta(hours=1)), to_epoch(now - timedelta(days=1))
        sent = self._db.execute(
            "SELECT SUM(sent_at >= ?) AS hour_n, MIN(CASE WHEN sent_at >= ? THEN sent_at END) "
            "AS hour_oldest, COUNT(*) AS day_n, MIN(sent_at) AS day_oldest FROM outbox "
            "WHERE state = ? AND kind IN (?, ?) AND sent_at >= ?",
            (hour, hour, OutboxState.SENT, *TO_INVITER, day),
        ).fetchone()
        failed = self._db.execute(
            "SELECT COUNT(*) AS n, MAX(updated_at) AS last FROM invitations "
            "WHERE state = ? AND updated_at >= ?",
            (State.FAILED.value, day),
        ).fetchone()
        return History(
            sent_last_hour=sent["hour_n"] or 0,
            sent_last_day=sent["day_n"] or 0,
            oldest_sent_in_hour=maybe_time(sent["hour_oldest"]),
            oldest_sent_in_day=maybe_time(sent["day_oldest"]),
            failures_last_day=failed["n"] or 0,
            last_failure_at=maybe_time(failed["last"]),
        )

    def recent_problems(self, limit: int = 5) -> list[tuple[datetime, str]]:
        """The newest mails that could not be handled and mails that could not be sent."""
        rows = self._db.execute(
            "SELECT at, 'mail uid ' || uid || ': ' || outcome AS what FROM seen "
            "WHERE outcome LIKE 'error:%' UNION ALL "
            "SELECT created_at, kind || ' to ' || recipient || ': ' || last_error FROM outbox "
            "WHERE last_error != '' ORDER BY 1 DESC LIMIT ?",
            (limit,),
        )
        return [(from_epoch(r[0]), r[1]) for r in rows]

    def outbox_counts(self) -> dict[OutboxState, int]:
        rows = self._db.execute("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")
        return {OutboxState(r["state"]): r["n"] for r in rows}

    # -- flags to set in the mailbox -------------------------------------------------------

    def add_flag_op(self, message_id: str, flags: tuple[str, ...]) -> None:
        self._db.execute(
            "INSERT INTO flag_ops (message_id, flags) VALUES (?, ?)", (message_id, " ".join(flags))
        )

    def flag_ops(self) -> list[FlagOp]:
        rows = self._db.execute("SELECT * FROM flag_ops WHERE done = 0 ORDER BY id")
        return [FlagOp(r["id"], r["message_id"], tuple(r["flags"].split())) for r in rows]

    def flag_op_done(self, op_id: int) -> None:
        self._db.execute("UPDATE flag_ops SET done = 1 WHERE id = ?", (op_id,))


def _plain(value: object) -> object:
    return to_epoch(value) if isinstance(value, datetime) else value


def _outbox(row: sqlite3.Row) -> OutboxRow:
    return OutboxRow(
        message_id=row["message_id"],
        invitation_id=row["invitation_id"],
        kind=MailKind(row["kind"]),
        recipient=row["recipient"],
        raw=bytes(row["raw"]),
        state=OutboxState(row["state"]),
        attempts=row["attempts"],
        next_attempt_at=from_epoch(row["next_attempt_at"]),
        last_error=row["last_error"],
        approved=bool(row["approved"]),
    )
