"""The store's connection: opening (SQLite, or a PostgreSQL session from `pgstate`),
version checks and migrations, and transactions. What every part of the store stands on;
the errors say what a caller can do about a state that fails.

One connection, used from the event-loop thread only. Times are stored as integer UTC
epoch seconds.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from askfirst.clock import from_epoch, to_epoch
from askfirst.store.schema import MIGRATIONS, SCHEMA


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


class Connection(Protocol):
    """What the store needs of a database connection: `sqlite3.Connection`, or
    `pgstate.PgConnection`, which takes the same SQL (see there)."""

    def execute(self, sql: str, parameters: Any = (), /) -> Any: ...
    def executescript(self, script: str, /) -> Any: ...
    def close(self) -> None: ...

    @property
    def in_transaction(self) -> bool: ...


class Database:
    """The connection every part of the store works through, opened and brought to the
    current schema. `read_only`: for `status` and `health`: nothing is created, migrated
    or written, so it works on a file (or volume) askfirst may not write to. `db`: another
    connection that takes the store's SQL (PostgreSQL, see `open_store`); `path` is then
    only a name."""

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


def maybe_epoch(when: datetime | None) -> int | None:
    """A time as the tables keep it (whole UTC epoch seconds; NULL for none)."""
    return to_epoch(when) if when else None


def maybe_time(value: int | None) -> datetime | None:
    """A time as the tables keep it, read back."""
    return from_epoch(value) if value is not None else None
