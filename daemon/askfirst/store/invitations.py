"""The invitations table: an invitation saved and found again (by its mail, its key, its
thread, its inviter), and the ones whose deadline has come."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from askfirst.clock import from_epoch, to_epoch
from askfirst.lifecycle import Invitation, State
from askfirst.record import DecisionRecord
from askfirst.store.db import Database, maybe_epoch, maybe_time


class InvitationRecords(Database):
    """`Store`'s part for the invitations table."""

    def save(self, inv: Invitation, now: datetime) -> Invitation:
        assert inv.state is not None
        values = {
            "source_message_id": inv.source_message_id,
            "network": inv.network,
            "inviter_name": inv.inviter_name,
            "inviter_email": inv.inviter_email,
            "subject": inv.subject,
            "refs": " ".join(inv.references),
            "state": inv.state.value,
            "reason": inv.reason,
            "decision_json": json.dumps(inv.decision.to_json()),
            "asked_message_id": inv.asked_message_id,
            "asked_at": maybe_epoch(inv.asked_at),
            "decline_due_at": maybe_epoch(inv.decline_due_at),
            "answered_at": maybe_epoch(inv.answered_at),
            "declined_at": maybe_epoch(inv.declined_at),
            "handed_over_at": maybe_epoch(inv.handed_over_at),
            "updated_at": to_epoch(now),
            "invitation_key": inv.invitation_key,
        }
        with self.transaction():
            if inv.id is None:
                cols = ", ".join(values)
                marks = ", ".join(f":{k}" for k in values)
                sql = f"INSERT INTO invitations ({cols}) VALUES ({marks})"  # noqa: S608 - our columns
                cur = self._db.execute(sql, values)
                return self.invitation(int(cur.lastrowid or 0))
            sets = ", ".join(f"{k} = :{k}" for k in values)
            sql = f"UPDATE invitations SET {sets} WHERE id = :id"  # noqa: S608 - our columns
            self._db.execute(sql, {**values, "id": inv.id})
            return self.invitation(inv.id)

    def invitation(self, invitation_id: int) -> Invitation:
        row = self._db.execute(
            "SELECT * FROM invitations WHERE id = ?", (invitation_id,)
        ).fetchone()
        return _invitation(row)

    def by_source(self, message_id: str) -> Invitation | None:
        row = self._db.execute(
            "SELECT * FROM invitations WHERE source_message_id = ?", (message_id,)
        ).fetchone()
        return _invitation(row) if row else None

    def by_key(self, key: str) -> Invitation | None:
        row = self._db.execute(
            "SELECT * FROM invitations WHERE invitation_key = ? ORDER BY id LIMIT 1", (key,)
        ).fetchone()
        return _invitation(row) if row else None

    def by_thread(self, message_ids: tuple[str, ...]) -> Invitation | None:
        """The invitation one of our own sent mails (ask, decline) belongs to."""
        for mid in message_ids:
            row = self._db.execute(
                "SELECT invitation_id FROM outbox "
                "WHERE message_id = ? AND invitation_id IS NOT NULL",
                (mid,),
            ).fetchone()
            if row:
                return self.invitation(row["invitation_id"])
        return None

    def open_by_email(self, email: str) -> Invitation | None:
        """The newest invitation from this address that still waits for (or just got) a decline."""
        row = self._db.execute(
            "SELECT * FROM invitations WHERE inviter_email = ? AND state IN (?, ?) "
            "ORDER BY id DESC LIMIT 1",
            (email, State.ASKED.value, State.DECLINED.value),
        ).fetchone()
        return _invitation(row) if row else None

    def asked_since(self, email: str, since: datetime) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM invitations WHERE inviter_email = ? AND (asked_at >= ? "
            "OR (state = ? AND asked_at IS NULL)) LIMIT 1",  # an ask still in the outbox
            (email, to_epoch(since), State.ASKED.value),
        ).fetchone()
        return row is not None

    def due(self, now: datetime, limit: int = 500) -> list[Invitation]:
        rows = self._db.execute(
            "SELECT * FROM invitations WHERE state = ? AND decline_due_at <= ? "
            "ORDER BY decline_due_at LIMIT ?",
            (State.ASKED.value, to_epoch(now), limit),
        ).fetchall()
        return [_invitation(r) for r in rows]

    def next_due(self) -> datetime | None:
        row = self._db.execute(
            "SELECT MIN(decline_due_at) AS due FROM invitations WHERE state IN (?, ?)",
            (State.ASKED.value, State.BY_HAND.value),
        ).fetchone()
        return from_epoch(row["due"]) if row and row["due"] is not None else None

    def reminders_due(self, now: datetime, limit: int = 500) -> list[Invitation]:
        """By-hand invitations whose wait is over (the owner gets one reminder each)."""
        rows = self._db.execute(
            "SELECT * FROM invitations WHERE state = ? AND decline_due_at <= ? "
            "ORDER BY decline_due_at LIMIT ?",
            (State.BY_HAND.value, to_epoch(now), limit),
        ).fetchall()
        return [_invitation(r) for r in rows]

    def open_by_hand(self) -> list[Invitation]:
        """Invitations the owner asks by hand that an answer can still reach."""
        rows = self._db.execute(
            "SELECT * FROM invitations WHERE state IN (?, ?) ORDER BY id",
            (State.BY_HAND.value, State.REMINDED.value),
        ).fetchall()
        return [_invitation(r) for r in rows]

    def invitations(self) -> list[Invitation]:
        return [_invitation(r) for r in self._db.execute("SELECT * FROM invitations ORDER BY id")]

    def state_counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT state, COUNT(*) AS n FROM invitations GROUP BY state")
        return {r["state"]: r["n"] for r in rows}


def _invitation(row: sqlite3.Row) -> Invitation:
    return Invitation(
        id=row["id"],
        source_message_id=row["source_message_id"],
        network=row["network"],
        inviter_name=row["inviter_name"],
        inviter_email=row["inviter_email"],
        subject=row["subject"],
        references=tuple(row["refs"].split()),
        state=State(row["state"]),
        reason=row["reason"],
        decision=DecisionRecord.from_json(json.loads(row["decision_json"])),
        asked_message_id=row["asked_message_id"],
        asked_at=maybe_time(row["asked_at"]),
        decline_due_at=maybe_time(row["decline_due_at"]),
        answered_at=maybe_time(row["answered_at"]),
        declined_at=maybe_time(row["declined_at"]),
        handed_over_at=maybe_time(row["handed_over_at"]),
        invitation_key=row["invitation_key"],
    )
