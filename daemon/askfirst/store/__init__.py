"""The account's state: invitations, mail already seen, the IMAP cursor per folder, the
outbox, the flags owed to the mailbox, and the facts `status` and `health` read.

`Store` is the one object callers hold; each table's operations live in their own module
(`invitations`, `seen`, `outbox`, `facts`) over one connection (`db`). Every change that
one mail causes is written in one transaction together with the note that the mail was
seen, so a crash at any point either loses the whole step (and it is redone) or keeps all
of it. SQLite by default; with `[state] url` the same SQL runs on PostgreSQL (`pgstate`).
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from askfirst.config import ConfigError, Settings, dry_run_path
from askfirst.store.db import LeaseLost, StateBusy, StateError, is_transient
from askfirst.store.facts import Facts, RebuildNote
from askfirst.store.invitations import InvitationRecords
from askfirst.store.outbox import FlagOp, OutboxRecords, OutboxRow
from askfirst.store.seen import SeenRecords, mail_key

# What callers import: the parts' modules stay the store's own business.
__all__ = [
    "FlagOp",
    "LeaseLost",
    "OutboxRow",
    "RebuildNote",
    "StateBusy",
    "StateError",
    "Store",
    "account_key",
    "is_transient",
    "mail_key",
    "open_store",
    "shared_url",
    "state_where",
]


class Store(InvitationRecords, SeenRecords, OutboxRecords):
    """One account's state, through one connection (see `Database`)."""

    @property
    def facts(self) -> Facts:
        """What the state knows besides its tables, typed (see `Facts`)."""
        return Facts(self._db)


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
