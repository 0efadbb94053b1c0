"""The IMAP edge: one `ImapConnection` per account, on the watched folder.

imapclient is blocking and not thread-safe, so every connection lives in its own thread
(`mailbox.ImapMailbox`, which the event loop awaits); IDLE is in `imap_idle.py`, work in
other folders in `imap_folders.py`. Everything is fetched with BODY.PEEK so no mail is
marked \\Seen, and UID sets are always explicit and chunked (imapclient 4.x cannot take
"1:*" ranges; Dovecot refuses command lines over ~64 KB).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from imapclient import IMAPClient, SocketTimeout
from imapclient.exceptions import IMAPClientError, LoginError

from askfirst import logs
from askfirst.config import Imap
from askfirst.credentials import access_token
from askfirst.folders import Personal, personal_of
from askfirst.smtp import tls_context

CHUNK = 500  # UIDs per FETCH / STORE command
T = TypeVar("T")
# Logins at once per process: a thousand accounts starting together would otherwise queue
# in the server's login processes until their connect timeouts fire.
CONNECTING = threading.BoundedSemaphore(32)
log = logs.get()


class ImapError(Exception):
    """The connection failed or broke; reconnecting later may help."""


class ImapLoginError(ImapError):
    """The server refused the credentials."""


class ImapRefused(ImapError):
    """The server answered NO to CREATE or APPEND (no permission, an invalid name, over
    quota): a configuration problem that reconnecting does not cure. The connection is
    fine and stays open; `folder` says where."""

    def __init__(self, message: str, folder: str) -> None:
        super().__init__(message)
        self.folder = folder


@dataclass(frozen=True)
class Fetched:
    uid: int
    raw: bytes
    internaldate: datetime | None
    size: int


class ImapConnection:
    """One logged-in IMAP connection with the watched folder selected. Use from one thread
    only (`mailbox.ImapMailbox` owns that thread)."""

    def __init__(self, settings: Imap) -> None:
        self.settings = settings
        self._client: IMAPClient | None = None
        self.capabilities: frozenset[str] = frozenset()
        self.uidvalidity = 0
        self.uidnext = 1
        self.exists = 0  # the watched folder's message count at its last SELECT or EXISTS
        self.personal = Personal()  # how the server spells folder names (`folders`)

    @property
    def connected(self) -> bool:
        return self._client is not None

    @property
    def client(self) -> IMAPClient:
        if self._client is None:
            raise ImapError("not connected")
        return self._client

    def connect(self) -> None:
        s = self.settings
        timeout = SocketTimeout(connect=15, read=s.timeout.total_seconds())
        ctx = tls_context(str(s.ca_file) if s.ca_file else None) if s.tls != "none" else None
        client: IMAPClient | None = None
        try:
            with CONNECTING:
                client = self._login(s, ctx, timeout)
            self.capabilities = frozenset(c.decode() for c in client.capabilities())
            if "NAMESPACE" in self.capabilities:
                self.personal = personal_of(client.namespace())
            selected = client.select_folder(s.folder)
        except LoginError as exc:
            _discard(client)
            raise ImapLoginError(f"IMAP login refused for {s.username!r}: {text_of(exc)}") from exc
        except (IMAPClientError, OSError) as exc:
            _discard(client)
            raise ImapError(f"IMAP {s.host}:{s.effective_port}: {text_of(exc)}") from exc
        self._client = client
        self.uidvalidity = int(selected[b"UIDVALIDITY"])
        self.uidnext = int(selected.get(b"UIDNEXT", 1))
        self._selected(selected)

    @staticmethod
    def _login(s: Imap, ctx: ssl.SSLContext | None, timeout: SocketTimeout) -> IMAPClient:
        client = IMAPClient(
            s.host, port=s.effective_port, ssl=s.tls == "ssl", ssl_context=ctx, timeout=timeout
        )
        try:
            if s.tls == "starttls":
                client.starttls(ctx)  # raises when not offered: never a silent plaintext login
            client.normalise_times = False
            if s.auth == "xoauth2":
                token = access_token(s)
                logs.hide(token)
                client.oauth2_login(s.username, token)
            else:
                client.login(s.username, s.password.get_secret_value())
        except BaseException:
            with contextlib.suppress(Exception):
                client.shutdown()
            raise
        return client

    def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.logout()
        except (IMAPClientError, OSError):
            with contextlib.suppress(IMAPClientError, OSError):
                client.shutdown()

    def guarded(self, action: Callable[[], T]) -> T:
        """Run one command; any protocol or socket failure drops the connection."""
        try:
            return action()
        except (IMAPClientError, OSError) as exc:
            self.close()
            raise ImapError(f"IMAP: {text_of(exc)}") from exc

    def uids_after(self, last_uid: int) -> list[int]:
        # NOOP first: a long-open session's view only learns of new mail when it syncs,
        # and Dovecot answers SEARCH from the view it had when the command began.
        self.guarded(self.client.noop)
        found = self.guarded(lambda: self.client.search(["UID", f"{last_uid + 1}:*"]))
        return sorted(u for u in found if u > last_uid)  # "N:*" always matches the last UID

    def uids_since(self, since: datetime) -> list[int]:
        self.guarded(self.client.noop)
        return sorted(self.guarded(lambda: self.client.search(["SINCE", since.date()])))

    def fetch(self, uids: Sequence[int]) -> list[Fetched]:
        """Messages in UID order, each cut at `max_message_bytes` (headers come first)."""
        return list(self._fetched(uids))

    def _fetched(self, uids: Sequence[int]) -> Iterator[Fetched]:
        limit = self.settings.max_message_bytes
        part = f"BODY.PEEK[]<0.{limit}>"
        for start in range(0, len(uids), CHUNK):
            chunk = list(uids[start : start + CHUNK])
            data = self._fetch(chunk, [part, "INTERNALDATE", "RFC822.SIZE"])
            for uid in chunk:
                item = data.get(uid)
                if item is None:
                    continue  # expunged meanwhile
                yield Fetched(
                    uid=uid,
                    raw=body_of(item),
                    internaldate=item.get(b"INTERNALDATE"),
                    size=int(item.get(b"RFC822.SIZE", 0)),
                )

    def _fetch(self, uids: list[int], items: list[str]) -> dict[int, dict[bytes, Any]]:
        result: dict[int, dict[bytes, Any]] = self.guarded(lambda: self.client.fetch(uids, items))
        return result

    def add_flags(self, uids: Sequence[int], flags: Sequence[str]) -> None:
        for start in range(0, len(uids), CHUNK):
            self._store(list(uids[start : start + CHUNK]), list(flags))

    def remove_flags(self, uids: Sequence[int], flags: Sequence[str]) -> None:
        for start in range(0, len(uids), CHUNK):
            self._unstore(list(uids[start : start + CHUNK]), list(flags))

    def _unstore(self, uids: list[int], flags: list[str]) -> None:
        self.guarded(lambda: self.client.remove_flags(uids, flags, silent=True))

    def _store(self, uids: list[int], flags: list[str]) -> None:
        self.guarded(lambda: self.client.add_flags(uids, flags, silent=True))

    def flags_of(self, uids: Sequence[int]) -> dict[int, frozenset[str]]:
        """The flags of these mails in the watched folder (a mail gone is left out)."""
        found = self.guarded(lambda: self.client.get_flags(list(uids))) if uids else {}
        return {int(uid): flag_names(flags) for uid, flags in found.items()}

    def find(self, message_id: str) -> list[int]:
        """UIDs in the watched folder whose Message-ID header is this one."""
        return list(self.guarded(lambda: self.client.search(["HEADER", "Message-ID", message_id])))

    def has_keyword(self, keyword: str) -> bool:
        return bool(self.guarded(lambda: self.client.search(["KEYWORD", keyword])))

    def folder_name(self, folder: str) -> str:
        """A folder askfirst names (`Sent`, `askfirst/Approve`) as this server spells it."""
        return self.personal.name(folder)

    def interrupt(self) -> None:
        """Wake a waiting IDLE from another thread (at shutdown): shut its socket down."""
        client = self._client
        if client is not None:
            with contextlib.suppress(OSError):
                client.socket().shutdown(socket.SHUT_RDWR)

    def take_news(self) -> bool:
        """Did more mail arrive since the pass's search? Mail that arrives during a pass
        can come with a command's answer after the search that missed it, and IDLE would
        not announce it again; mail that arrives after the pass's last command would not be
        announced at all until Dovecot's next idle check (30 s), so a NOOP asks first.
        imaplib keeps the untagged answers until asked. The count is compared with the one
        known: the watched folder selected again (at every pass, and after a look into
        Drafts or Sent) repeats it, which is no news."""
        client = self._client
        if client is None:
            return False
        self.guarded(client.noop)
        counts = client._imap.untagged_responses.pop("EXISTS", None)
        if not counts:
            return False
        latest = int(counts[-1])  # the watched folder's: it is selected again last
        news, self.exists = latest > self.exists, latest
        return news

    def _selected(self, selected: dict[bytes, Any]) -> None:
        """The watched folder's count from its SELECT; the EXISTS that came with it is old."""
        self.exists = int(selected.get(b"EXISTS", 0))
        if self._client is not None:
            self._client._imap.untagged_responses.pop("EXISTS", None)

    def follow_folder(self) -> bool:
        """SELECT the watched folder again; True when it was deleted and made anew (a new
        UIDVALIDITY). Cyrus keeps such a session open and only sends EXPUNGEs; Dovecot
        answers STATUS on the selected folder from its old view, so only SELECT tells."""
        before = self.uidvalidity
        selected = self.guarded(lambda: self.client.select_folder(self.settings.folder))
        self.uidvalidity = int(selected[b"UIDVALIDITY"])
        self.uidnext = int(selected.get(b"UIDNEXT", 1))
        self._selected(selected)
        if self.uidvalidity == before:
            return False
        log.info("imap.folder_renewed", folder=self.settings.folder, uidvalidity=self.uidvalidity)
        return True


def _discard(client: IMAPClient | None) -> None:
    """Close the socket of a connection that failed half-way (a refused login)."""
    if client is not None:
        with contextlib.suppress(IMAPClientError, OSError):
            client.shutdown()


def body_of(item: dict[bytes, Any]) -> bytes:
    for key, value in item.items():
        if key.startswith(b"BODY[") and isinstance(value, bytes):
            return value
    return b""


def flag_names(flags: Any) -> frozenset[str]:
    """imapclient's flags (bytes, or str for keywords it decoded) as text."""
    return frozenset(f.decode() if isinstance(f, bytes) else str(f) for f in flags)


def text_of(exc: BaseException) -> str:
    text = str(exc)
    return text.decode(errors="replace") if isinstance(text, bytes) else text
