"""PostgreSQL state: the connection the store runs its SQL through, one schema per account.

`store.Store` speaks SQLite's dialect. `PgConnection` has the few methods of
`sqlite3.Connection` that the store uses and translates on the way (`pgdialect`), with
`PRAGMA user_version`, `lastrowid`, `rowcount` and the conflict clause of `INSERT OR
REPLACE`/`OR IGNORE` here. So the same statements and the same append-only `MIGRATIONS`
run on both.

Each account's tables live in their own schema (`askfirst_<id>`, the id from the shared
`askfirst.accounts` table), chosen by `search_path`: every store query runs unchanged,
the per-account unique keys stay what they are in SQLite, and an account can be copied or
dropped as one unit. Leases are session advisory locks (see `replicas.py`): the account's
lock is held by the very session that writes its state, so a session that lost its lock
can no longer write, and `holds_lease` checks it inside the transaction that claims an
outbox row.

psycopg is imported here only, and this module only when `[state] url` is set.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeAlias

import psycopg
from psycopg.rows import RowMaker

from askfirst.pgdialect import translate

# Advisory lock classes (the first key of the two-key form); the second key is an id.
ACCOUNT_LOCK, REPLICA_LOCK, SETUP_LOCK = 1634954001, 1634954002, 1634954003
# The server drops a session whose peer went silent within ~20 s (network loss).
KEEPALIVE = (
    "-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3 "
    "-c tcp_user_timeout=15000"
)
REGISTRY = (
    "CREATE SCHEMA IF NOT EXISTS askfirst",
    "CREATE TABLE IF NOT EXISTS askfirst.accounts "
    "(id SERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
)
Error = psycopg.Error
Session: TypeAlias = "psycopg.Connection[Row]"


class Row(tuple[Any, ...]):
    """A result row readable by position and by column name, like `sqlite3.Row`."""

    names: dict[str, int]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return super().__getitem__(self.names[key])
        return super().__getitem__(key)


def _row_factory(cursor: psycopg.Cursor[Any]) -> RowMaker[Row]:
    names = {d.name: i for i, d in enumerate(cursor.description or ())}

    def make(values: Sequence[Any]) -> Row:
        row = Row(values)
        row.names = names
        return row

    return make


class Result:
    """The rows of one statement (read at once), the rows it changed and, after an INSERT,
    the new row's id."""

    def __init__(self, rows: list[Row], lastrowid: int | None = None, rowcount: int = -1) -> None:
        self._rows, self.lastrowid, self.rowcount = rows, lastrowid, rowcount

    def fetchone(self) -> Row | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Row]:
        return self._rows

    def __iter__(self) -> Iterator[Row]:
        return iter(self._rows)


class PgConnection:
    """One session, its `search_path` set to one account's schema, autocommit (the store
    sends BEGIN/COMMIT itself)."""

    def __init__(self, conn: psycopg.Connection[Row], account: str, account_id: int) -> None:
        self.conn, self.account, self.account_id = conn, account, account_id
        self._columns: dict[str, tuple[list[str], list[str]]] = {}

    errors = (psycopg.Error,)

    @property
    def in_transaction(self) -> bool:
        return self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    def lost(self) -> bool:
        """The session is closed or broken (terminated, network gone): its locks are gone."""
        return bool(self.conn.closed or self.conn.broken)

    def migrated(self) -> None:
        """After the migrations: a table a migration copied over (SQLite's way to drop a
        constraint) keeps its ids, so its identity goes on after the highest."""
        for table in ("invitations", "flag_ops"):
            self.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            )

    @property
    def pid(self) -> int:
        return int(self.conn.info.backend_pid)

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Result:
        if sql.startswith("PRAGMA"):
            return self._pragma(sql)
        text, upsert = translate(sql, isinstance(params, Mapping))
        if upsert:
            text = self._upsert(text, *upsert)
        returning = text.startswith("INSERT") and " RETURNING " not in text
        if returning and "id" in self._table(text.split()[2])[0]:
            text += " RETURNING id"
        else:
            returning = False
        with self.conn.cursor() as cur:
            cur.execute(text.encode(), params or None)
            rows = cur.fetchall() if cur.description else []
            count = cur.rowcount
        return Result(rows, rows[0][0] if returning and rows else None, count)

    def executescript(self, script: str) -> None:
        for statement in filter(str.strip, script.split(";")):
            self.execute(statement.strip())

    def close(self) -> None:
        self.conn.close()

    def holds_lease(self) -> bool:
        """Whether this session still holds the account's lock (call it in the transaction)."""
        return (
            self.execute(
                "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = ? AND objid = ? "
                "AND objsubid = 2 AND pid = pg_backend_pid() AND granted",
                (ACCOUNT_LOCK, self.account_id),
            ).fetchone()
            is not None
        )

    @contextmanager
    def setting_up(self) -> Iterator[None]:
        """Held while the store migrates the schema, so two processes never do it at once."""
        self.execute("SELECT pg_advisory_lock(?, ?)", (SETUP_LOCK, self.account_id))
        try:
            yield
        finally:
            self.execute("SELECT pg_advisory_unlock(?, ?)", (SETUP_LOCK, self.account_id))

    def try_lease(self) -> bool:
        row = self.execute("SELECT pg_try_advisory_lock(?, ?)", (ACCOUNT_LOCK, self.account_id))
        return bool(row.fetchone()[0])  # type: ignore[index]

    def _pragma(self, sql: str) -> Result:
        """`user_version` (the migrations applied) in a one-row table; others mean nothing."""
        if match := re.fullmatch(r"PRAGMA user_version\s*=\s*(\d+)", sql.strip()):
            self.execute("CREATE TABLE IF NOT EXISTS user_version (version INTEGER NOT NULL)")
            self.execute("DELETE FROM user_version")
            self.execute("INSERT INTO user_version VALUES (?)", (int(match[1]),))
            return Result([])
        if sql.strip() == "PRAGMA user_version":
            if self._table("user_version")[0]:
                row = self.execute("SELECT version FROM user_version").fetchone()
                return Result([row] if row else [_one(0)])
            return Result([_one(0)])
        return Result([])

    def columns(self, table: str) -> list[str]:
        return self._table(table)[0]

    def _table(self, name: str) -> tuple[list[str], list[str]]:
        """A table's columns and primary key columns, in this account's schema."""
        if name not in self._columns:
            rows = self.execute(
                "SELECT a.attname, COALESCE(a.attnum = ANY(i.indkey), false) FROM pg_attribute a "
                "LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary "
                "WHERE a.attrelid = to_regclass(?) AND a.attnum > 0 AND NOT a.attisdropped "
                "ORDER BY a.attnum",
                (name,),
            ).fetchall()
            found = ([r[0] for r in rows], [r[0] for r in rows if r[1]])
            if not rows:
                return found
            self._columns[name] = found
        return self._columns[name]

    def _upsert(self, text: str, table: str, replace: bool) -> str:
        columns, keys = self._table(table)
        if " VALUES " in text and f"{table} (" not in text:  # no column list: all of them
            text = text.replace(f"INTO {table} ", f"INTO {table} ({', '.join(columns)}) ", 1)
        if not replace:
            return text + " ON CONFLICT DO NOTHING"
        sets = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in keys)
        return text + f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"


def _one(value: int) -> Row:
    row = Row((value,))
    row.names = {"user_version": 0}
    return row


def connect(url: str, account: str, *, role: str = "state") -> PgConnection:
    """A session for one account: its schema created (once) and on the `search_path`."""
    conn = session(url, role)
    try:
        account_id = register(conn, [account])[account]
        with conn.cursor() as cur:
            cur.execute(f'SET search_path TO "askfirst_{account_id}"'.encode())
    except BaseException:
        conn.close()
        raise
    return PgConnection(conn, account, account_id)


def session(url: str, role: str) -> psycopg.Connection[Row]:
    """A session that notices a dead peer within seconds, on either side."""
    return psycopg.connect(
        url,
        autocommit=True,
        row_factory=_row_factory,
        application_name=f"askfirst {role} {os.getpid()}",
        options=KEEPALIVE,
        keepalives=1,
        keepalives_idle=5,
        keepalives_interval=5,
        keepalives_count=3,
        connect_timeout=10,
    )


def register(conn: psycopg.Connection[Row], accounts: Sequence[str]) -> dict[str, int]:
    """Each account's id in the shared registry, and its schema, created on first sight."""
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s, 0)", (SETUP_LOCK,))
        try:
            for statement in REGISTRY:
                cur.execute(statement.encode())
            cur.executemany(
                "INSERT INTO askfirst.accounts (name) VALUES (%s) ON CONFLICT (name) DO NOTHING",
                [(name,) for name in accounts],
            )
            cur.execute(
                "SELECT name, id FROM askfirst.accounts WHERE name = ANY(%s)", (list(accounts),)
            )
            ids = {str(row[0]): int(row[1]) for row in cur.fetchall()}
            for account_id in ids.values():
                cur.execute(f'CREATE SCHEMA IF NOT EXISTS "askfirst_{account_id}"'.encode())
        finally:
            cur.execute("SELECT pg_advisory_unlock(%s, 0)", (SETUP_LOCK,))
    return ids
