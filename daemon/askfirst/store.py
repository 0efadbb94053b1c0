"""SQLite state: invitations, mail already seen, the IMAP cursor, the outbox, pending flags.

One connection, used from the event-loop thread only. Every change that one mail causes is
written in one transaction together with the note that the mail was seen, so a crash at
any point either loses the whole step (and it is redone) or keeps all of it. Times are
stored as integer UTC epoch seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from askfirst.clock import from_epoch, to_epoch
from askfirst.config import ConfigError, Settings, dry_run_path
from askfirst.lifecycle import Invitation, State
from askfirst.limits import History
from askfirst.mails import TO_INVITER, MailKind, OutboxState
from askfirst.message import Mail
from askfirst.record import DecisionRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS invitations (
    id INTEGER PRIMARY KEY,
    source_message_id TEXT NOT NULL,
    network TEXT NOT NULL,
    inviter_name TEXT NOT NULL,
    inviter_email TEXT NOT NULL,
    subject TEXT NOT NULL,
    refs TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    decision_json TEXT NOT NULL,
    asked_message_id TEXT,
    asked_at INTEGER,
    decline_due_at INTEGER,
    answered_at INTEGER,
    declined_at INTEGER,
    handed_over_at INTEGER,
    updated_at INTEGER NOT NULL,
    invitation_key TEXT
);
CREATE INDEX IF NOT EXISTS invitations_due ON invitations (state, decline_due_at);
CREATE INDEX IF NOT EXISTS invitations_email ON invitations (inviter_email);
CREATE INDEX IF NOT EXISTS invitations_key ON invitations (invitation_key);
CREATE INDEX IF NOT EXISTS invitations_source ON invitations (source_message_id);
CREATE TABLE IF NOT EXISTS seen (
    folder TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    at INTEGER NOT NULL,
    mail_key TEXT,
    PRIMARY KEY (folder, uidvalidity, uid)
);
CREATE INDEX IF NOT EXISTS seen_message_id ON seen (message_id);
CREATE TABLE IF NOT EXISTS cursor (
    folder TEXT PRIMARY KEY,
    uidvalidity INTEGER NOT NULL,
    last_uid INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    message_id TEXT PRIMARY KEY,
    invitation_id INTEGER,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    raw BLOB NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    sent_at INTEGER,
    copied INTEGER NOT NULL DEFAULT 0,
    approved INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox (state, next_attempt_at);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS flag_ops (
    id INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL,
    flags TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0
);
"""

# Changes to a database made by an earlier version, in order; `PRAGMA user_version` counts
# the ones applied. A new database gets SCHEMA, which already includes them all.
MIGRATIONS = (
    "ALTER TABLE invitations ADD COLUMN invitation_key TEXT",
    "ALTER TABLE outbox ADD COLUMN approved INTEGER NOT NULL DEFAULT 0",
    # A mail is known by Message-ID and `mail_key` (From, Date, Subject): two different
    # invitations may share a Message-ID. Older rows (no key) still match by Message-ID.
    "ALTER TABLE seen ADD COLUMN mail_key TEXT",
    # ... so `source_message_id` is no longer unique (SQLite drops a constraint by copying).
    "BEGIN; CREATE TABLE invitations_copy AS SELECT * FROM invitations; "  # noqa: S608
    "DROP TABLE invitations; " + SCHEMA.split(";")[0] + "; "  # our own schema
    "INSERT INTO invitations SELECT * FROM invitations_copy; DROP TABLE invitations_copy; "
    "COMMIT",
)

OPEN = (OutboxState.PENDING, OutboxState.AWAITING)  # not yet on its way: cancellable


class StateError(Exception):
    """The state file cannot be used as it is; the message names the file and the fix.
    Someone has to act (the CLI exits 2); retrying would not help."""


class StateBusy(Exception):
    """The state file is locked by another program, or the disk is full: the step was
    rolled back as a whole and the next pass tries again."""


def is_transient(exc: BaseException) -> bool:
    """SQLite's busy, locked, disk-full and I/O errors: they pass; nothing is wrong with
    the data or the mail being handled."""
    if isinstance(exc, StateBusy):
        return True
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and any(
        word in text for word in ("locked", "busy", "full", "disk i/o")
    )


class LeaseLost(Exception):
    """Another replica may serve this account now: this process must not send for it."""


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


class Connection(Protocol):
    """What the store needs of a database connection: `sqlite3.Connection`, or
    `pgstate.PgConnection`, which takes the same SQL (see there)."""

    def execute(self, sql: str, parameters: Any = (), /) -> Any: ...
    def executescript(self, script: str, /) -> Any: ...
    def close(self) -> None: ...

    @property
    def in_transaction(self) -> bool: ...


def open_store(settings: Settings, *, dry_run: bool = False, read_only: bool = False) -> Store:
    """The account's state: its SQLite file, or its schema when `state.url` is set.
    `read_only` (status, health): nothing is created, migrated or written."""
    url = settings.state.url.get_secret_value()
    path = dry_run_path(settings.state.path) if dry_run else settings.state.path
    if not url:
        return Store(path, read_only=read_only)
    from askfirst import pgstate  # psycopg only when PostgreSQL is configured

    db = pgstate.connect(url, account_key(settings, dry_run=dry_run))
    if read_only:
        return Store(path, db=db, read_only=True)
    with db.setting_up():
        return Store(path, db=db)


def shared_url(accounts: Sequence[Settings]) -> str:
    """`state.url`, which every account shares (a config error if they differ)."""
    urls = {settings.state.url.get_secret_value() for settings in accounts}
    if len(urls) > 1:
        raise ConfigError(["state.url: one PostgreSQL for all accounts (set it in [state])"])
    return urls.pop()


def state_where(settings: Settings) -> str:
    """Where the state is, for logs and `check` (no password)."""
    url = urlsplit(settings.state.url.get_secret_value())
    if not url.scheme:
        return str(settings.state.path)
    return f"{url.scheme}://{url.hostname}:{url.port or 5432}{url.path}"


def account_key(settings: Settings, *, dry_run: bool = False) -> str:
    """The account's name in a shared state (a dry run keeps its own)."""
    return (settings.name or "default") + (".dry-run" if dry_run else "")


class Store:
    """`read_only`: for `status` and `health`: nothing is created, migrated or written, so
    it works on a file (or volume) askfirst may not write to. `db`: another connection that
    takes the store's SQL (PostgreSQL, see `open_store`); `path` is then only a name."""

    def __init__(
        self, path: Path, *, db: Connection | None = None, read_only: bool = False
    ) -> None:
        self.path = path
        self._depth = 0
        if db is not None:
            self._db: Connection = db
            try:
                self._check_version(db, path)
                if not read_only:
                    self._migrate()
                elif not self._has_tables():
                    raise StateError(  # noqa: TRY301 - the session is closed below
                        "state.url: no state for this account yet (has askfirst run?)"
                    )
            except BaseException:
                db.close()
                raise
            return
        try:
            self._db = self._open(path, read_only)
        except sqlite3.DatabaseError as exc:
            raise _unusable(path, exc) from exc
        except OSError as exc:
            raise StateError(
                f"state.path: cannot create {path}: {exc.strerror}; make its folder "
                "writable by the user askfirst runs as, or set state.path to a writable place"
            ) from exc

    def _open(self, path: Path, read_only: bool) -> sqlite3.Connection:
        if read_only:
            if not path.is_file():
                raise StateError(f"state.path: no state file {path} yet (has askfirst run?)")
            db = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
            )
            db.row_factory = sqlite3.Row
            self._check_version(db, path)
            db.execute("PRAGMA busy_timeout=5000")
            return db
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # owner-only from the start
        if not os.access(path, os.R_OK | os.W_OK) or not os.access(path.parent, os.W_OK):
            what = path if not os.access(path, os.R_OK | os.W_OK) else path.parent
            raise StateError(
                f"state.path: {what} is not writable for askfirst; fix its owner or mode "
                "(askfirst needs to read and write the state file and its folder), or set "
                "state.path elsewhere"
            )
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        self._check_version(db, path)  # before anything writes: a newer file stays untouched
        self._db = db
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000"):
            db.execute(f"PRAGMA {pragma}")
        self._migrate()
        return db

    @staticmethod
    def _check_version(db: Connection, path: Path) -> None:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > len(MIGRATIONS):
            db.close()
            raise StateError(
                f"state.path: {path} was written by a newer askfirst (state version "
                f"{version}; this askfirst knows versions up to {len(MIGRATIONS)}). Upgrade "
                "askfirst, or point state.path at another file; this one was left unchanged"
            )

    def _has_tables(self) -> bool:
        return bool(
            self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'invitations'"
            ).fetchone()
        )

    def _migrate(self) -> None:
        fresh = not self._has_tables()
        version = 0 if fresh else self._db.execute("PRAGMA user_version").fetchone()[0]
        for statement in () if fresh else MIGRATIONS[version:]:
            self._db.executescript(statement)
        self._db.executescript(SCHEMA)
        self._db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
        if migrated := getattr(self._db, "migrated", None):
            migrated()  # PostgreSQL: ids go on after rows a migration copied

    def close(self) -> None:
        self._db.close()

    def holds_lease(self) -> bool:
        """May this process still write and send for the account? SQLite: yes; PostgreSQL:
        while its session holds the account's lock. Ask inside the claiming transaction."""
        check = getattr(self._db, "holds_lease", None)
        return bool(check()) if check else True

    def session_lost(self) -> bool:
        """PostgreSQL: the account's session is gone, and its lease with it. SQLite: never."""
        lost = getattr(self._db, "lost", None)
        return bool(lost()) if lost else False

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic step; nested calls join the outer transaction."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise _busy(exc) from exc
        self._depth = 1
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException as exc:
            if self._db.in_transaction:
                # SQLite rolls back by itself if this fails; a lost PostgreSQL session too
                with suppress(sqlite3.Error, OSError, *_db_errors(self._db)):
                    self._db.execute("ROLLBACK")
            if is_transient(exc) and not isinstance(exc, StateBusy):
                raise _busy(exc) from exc
            raise
        finally:
            self._depth = 0

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row["value"]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- invitations -------------------------------------------------------------------

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
            "asked_at": _epoch(inv.asked_at),
            "decline_due_at": _epoch(inv.decline_due_at),
            "answered_at": _epoch(inv.answered_at),
            "declined_at": _epoch(inv.declined_at),
            "handed_over_at": _epoch(inv.handed_over_at),
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

    def next_attempt(self) -> datetime | None:
        row = self._db.execute(
            "SELECT MIN(next_attempt_at) AS due FROM outbox WHERE state = ?",
            (OutboxState.PENDING,),
        ).fetchone()
        return from_epoch(row["due"]) if row and row["due"] is not None else None

    def invitations(self) -> list[Invitation]:
        return [_invitation(r) for r in self._db.execute("SELECT * FROM invitations ORDER BY id")]

    # -- seen mail and the cursor ----------------------------------------------------------

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

    # -- outbox ----------------------------------------------------------------------------

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

    def outbox_row(self, message_id: str) -> OutboxRow | None:
        row = self._db.execute("SELECT * FROM outbox WHERE message_id = ?", (message_id,))
        found = row.fetchone()
        return _outbox(found) if found else None

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
            oldest_sent_in_hour=_when(sent["hour_oldest"]),
            oldest_sent_in_day=_when(sent["day_oldest"]),
            failures_last_day=failed["n"] or 0,
            last_failure_at=_when(failed["last"]),
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

    def state_counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT state, COUNT(*) AS n FROM invitations GROUP BY state")
        return {r["state"]: r["n"] for r in rows}

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


def mail_key(mail: Mail) -> str:
    """A mail's identity beyond its Message-ID (which two different mails may share)."""
    parts = (mail.message_id, mail.from_addr, mail.header("date"), mail.subject)
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


def _db_errors(db: Connection) -> tuple[type[Exception], ...]:
    """The errors of the connection's driver besides SQLite's."""
    return tuple(getattr(db, "errors", ()))


def _busy(exc: BaseException) -> BaseException:
    """A transient SQLite error as `StateBusy` (others unchanged)."""
    if isinstance(exc, StateBusy) or not is_transient(exc):
        return exc
    return StateBusy(f"state file busy or disk full: {exc}")


def _unusable(path: Path, exc: sqlite3.DatabaseError) -> Exception:
    if is_transient(exc):  # locked by another program right now: not the file's fault
        return StateBusy(f"state file {path} is busy: {exc}")
    if "readonly" in str(exc) or "read-only" in str(exc):
        return StateError(
            f"state.path: {path} is read-only ({exc}); askfirst run needs to write it: fix "
            "its mode or the volume's mount options"
        )
    return StateError(
        f"state.path: {path} is not an askfirst state file or is damaged ({exc}). Restore it "
        "from a backup, or move it away to start afresh (askfirst then looks back "
        "lifecycle.lookback again)"
    )


def _epoch(when: datetime | None) -> int | None:
    return to_epoch(when) if when else None


def _plain(value: object) -> object:
    return to_epoch(value) if isinstance(value, datetime) else value


def _when(value: int | None) -> datetime | None:
    return from_epoch(value) if value is not None else None


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
        asked_at=_when(row["asked_at"]),
        decline_due_at=_when(row["decline_due_at"]),
        answered_at=_when(row["answered_at"]),
        declined_at=_when(row["declined_at"]),
        handed_over_at=_when(row["handed_over_at"]),
        invitation_key=row["invitation_key"],
    )


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
