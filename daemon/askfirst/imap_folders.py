"""IMAP work outside the watched folder: Sent, Drafts, the approve folder.

Each function runs on an `ImapConnection` in its thread (`mailbox.ImapMailbox` calls
them) and leaves the watched folder selected again, whatever happens. A NO to CREATE or
APPEND is `ImapRefused` (a configuration problem); anything else that fails drops the
connection, as every other command does (`ImapConnection.guarded`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from askfirst.imap import ImapConnection, ImapError, ImapRefused, body_of, flag_names, text_of

T = TypeVar("T")
_HEADERS = "BODY.PEEK[HEADER]"
_CHUNK = 200  # mails per FETCH of headers


@dataclass(frozen=True)
class Hit:
    """A mail found in a folder: its UID and flags."""

    uid: int
    flags: frozenset[str]


@dataclass(frozen=True)
class Headers:
    """One mail's header block, where it lies, its flags and arrival (`headers_since`)."""

    uid: int
    raw: bytes
    flags: frozenset[str]
    at: datetime


def special_folder(conn: ImapConnection, use: bytes, fallback: str) -> str:
    """The folder the server marks with SPECIAL-USE `use`, else `fallback` in its spelling."""
    found = conn.guarded(lambda: conn.client.find_special_folder(use))
    return str(found) if found else conn.folder_name(fallback)


def sent_folder(conn: ImapConnection) -> str:
    configured = conn.settings.sent_folder
    return conn.folder_name(configured) if configured else special_folder(conn, b"\\Sent", "Sent")


def drafts_folder(conn: ImapConnection) -> str:
    return special_folder(conn, b"\\Drafts", "Drafts")


def folder_exists(conn: ImapConnection, folder: str) -> bool:
    return bool(conn.guarded(lambda: conn.client.folder_exists(folder)))


def ensure_folder(conn: ImapConnection, folder: str) -> None:
    if not folder_exists(conn, folder):
        _refusable(conn, "CREATE", folder, lambda: conn.client.create_folder(folder))


def look_up(conn: ImapConnection, folder: str, criteria: list[str]) -> Hit | None:
    """The newest mail in another folder that matches `criteria`, if any."""

    def look() -> Hit | None:
        uids = sorted(conn.client.search(criteria))
        if not uids:
            return None
        flags = conn.client.get_flags(uids[-1:]).get(uids[-1], ())
        return Hit(uids[-1], flag_names(flags))

    return _in_folder(conn, folder, look) if folder_exists(conn, folder) else None


def read(conn: ImapConnection, folder: str, uid: int) -> bytes:
    """One mail from another folder, read with BODY.PEEK (it stays as it is)."""

    def fetch() -> bytes:
        found = conn.client.fetch([uid], ["BODY.PEEK[]"])
        return body_of(found[uid]) if uid in found else b""

    return _in_folder(conn, folder, fetch)


def remove(conn: ImapConnection, folder: str, uid: int) -> None:
    """Delete one mail from another folder (STORE \\Deleted, then UID EXPUNGE)."""

    def delete() -> None:
        conn.client.delete_messages([uid])
        conn.client.uid_expunge([uid])

    _in_folder(conn, folder, delete)


def headers_since(conn: ImapConnection, folder: str, since: datetime) -> list[Headers]:
    """Headers, flags and arrival of every mail in `folder` since `since`, in UID order
    (the folder is opened read-only when it is not the watched one)."""

    def read_all() -> list[Headers]:
        uids = sorted(conn.client.search(["SINCE", since.date()]))
        found: list[Headers] = []
        for start in range(0, len(uids), _CHUNK):
            items = [_HEADERS, "FLAGS", "INTERNALDATE"]
            data = conn.client.fetch(uids[start : start + _CHUNK], items)
            found += [_headers(uid, item, since) for uid, item in sorted(data.items())]
        return found

    if folder == conn.settings.folder:
        return conn.guarded(read_all)
    if not folder_exists(conn, folder):
        return []
    return _in_folder(conn, folder, read_all, readonly=True)


def append(
    conn: ImapConnection, folder: str, raws: Sequence[bytes], flags: Sequence[str], when: datetime
) -> None:
    """One MULTIAPPEND when the server offers it (RFC 3502), else one APPEND each."""
    if "MULTIAPPEND" in conn.capabilities and len(raws) > 1:
        items = [{"msg": raw, "flags": list(flags), "date": when} for raw in raws]
        _refusable(conn, "APPEND", folder, lambda: conn.client.multiappend(folder, items))
        return
    for raw in raws:
        one = functools.partial(conn.client.append, folder, raw, list(flags), msg_time=when)
        _refusable(conn, "APPEND", folder, one)


def _in_folder(
    conn: ImapConnection, folder: str, action: Callable[[], T], *, readonly: bool = False
) -> T:
    """Run `action` with `folder` selected, then select the watched folder again."""

    def run() -> T:
        conn.client.select_folder(folder, readonly=readonly)
        try:
            return action()
        finally:
            conn.client.select_folder(conn.settings.folder)

    return conn.guarded(run)


def _refusable(conn: ImapConnection, command: str, folder: str, action: Callable[[], T]) -> T:
    """Like `guarded`, but a NO from the server is `ImapRefused`, not a lost link."""
    try:
        return action()
    except (IMAPClientAbortError, OSError) as exc:
        conn.close()
        raise ImapError(f"IMAP: {text_of(exc)}") from exc
    except IMAPClientError as exc:
        raise ImapRefused(f"{command} {folder!r} refused: {text_of(exc)}", folder) from exc


def _headers(uid: int, item: dict[bytes, Any], since: datetime) -> Headers:
    at = item.get(b"INTERNALDATE") or since
    return Headers(
        uid=uid,
        raw=body_of(item),
        flags=flag_names(item.get(b"FLAGS", ())),
        at=at if at.tzinfo else at.replace(tzinfo=UTC),
    )
