"""`askfirst migrate --from PATH --to URL`: one account's SQLite state into PostgreSQL.

Both ends are brought to the current schema first (the same `MIGRATIONS` run on both), then
every table is copied row by row in one PostgreSQL transaction, ids included, and the id
sequences moved past them. The account's lease is held throughout, so a running replica
cannot serve the account half copied; a target that already holds state is refused.
"""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

from askfirst import pgstate
from askfirst.exits import EXIT_CONFIG, EXIT_OK, EXIT_UNREACHABLE
from askfirst.store import Store

KEEP_OUT = {"user_version"}  # the schema version is the target's own


class MigrateError(Exception):
    pass


def copy_state(source: Path, url: str, account: str = "default") -> dict[str, int]:
    """Copy the SQLite state at `source` into the account's schema; rows copied per table."""
    if not source.is_file():
        raise MigrateError(f"--from: no such file {str(source)!r}")
    Store(source).close()  # the source at the current schema version too
    db = pgstate.connect(url, account, role="migrate")
    try:
        if not db.try_lease():
            raise MigrateError(f"account {account!r} is being served: stop askfirst run first")
        with db.setting_up():
            Store(source, db=db)
        if db.execute("SELECT 1 FROM invitations UNION ALL SELECT 1 FROM outbox").fetchone():
            raise MigrateError(f"account {account!r} already has state in the database")
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as lite:
            return _copy(lite, db)
    finally:
        db.close()


def _copy(lite: sqlite3.Connection, db: pgstate.PgConnection) -> dict[str, int]:
    tables = [
        name
        for (name,) in lite.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if not name.startswith("sqlite_") and name not in KEEP_OUT
    ]
    copied: dict[str, int] = {}
    with db.conn.transaction(), db.conn.cursor() as cur:
        for table in tables:
            target = set(db.columns(table))
            columns = [r[1] for r in lite.execute(f"PRAGMA table_info({table})") if r[1] in target]
            names = ", ".join(columns)
            rows = lite.execute(f"SELECT {names} FROM {table}").fetchall()  # noqa: S608 - ours
            marks = ", ".join(["%s"] * len(columns))
            insert = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608 - ours
            cur.executemany(insert.encode(), rows)
            if "id" in columns and rows:
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"(SELECT MAX(id) FROM {table}))".encode()
                )
            copied[table] = len(rows)
    return copied


def migrate_command(args: argparse.Namespace) -> int:
    try:
        copied = copy_state(args.source, args.to, args.account)
    except MigrateError as exc:
        print(f"askfirst migrate: {exc}")
        return EXIT_CONFIG
    except pgstate.Error as exc:
        print(f"askfirst migrate: the database: {exc}")
        return EXIT_UNREACHABLE
    print(", ".join(f"{n} {table}" for table, n in copied.items()) + f" -> account {args.account}")
    return EXIT_OK
