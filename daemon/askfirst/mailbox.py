"""The owner's mailbox for the event loop: an `ImapConnection` and the one thread that may
touch it, behind async methods (the `edges.Mailbox` interface the pass depends on).

Each method runs one piece of IMAP work in that thread and awaits it, so the pass never
blocks the event loop and never reaches into the connection itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

from askfirst import imap_folders, imap_idle
from askfirst.config import Imap
from askfirst.folders import Personal
from askfirst.imap import Fetched, ImapConnection, ImapError
from askfirst.imap_folders import Headers, Hit

T = TypeVar("T")


class ImapMailbox:
    """One account's IMAP connection, driven from its own thread."""

    def __init__(self, settings: Imap, name: str) -> None:
        self.connection = ImapConnection(settings)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"imap-{name}")
        self._closed = False

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    # -- the connection ----------------------------------------------------------------

    @property
    def uidvalidity(self) -> int:
        return self.connection.uidvalidity

    @property
    def uidnext(self) -> int:
        return self.connection.uidnext

    @property
    def capabilities(self) -> frozenset[str]:
        return self.connection.capabilities

    @property
    def personal(self) -> Personal:
        return self.connection.personal

    async def ensure_connected(self) -> None:
        if not self.connection.connected:
            await self._run(self.connection.connect)

    async def close(self, within: float | None = None) -> None:
        """Log out and end the thread; with `within`, give up waiting after that long
        (the socket is shut first, so a blocked read ends; a connect in progress ends at
        its own connect timeout, in the background). Closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        if within is None:
            await self._run(self.connection.close)
            self._executor.shutdown(wait=True)
            return
        self.connection.interrupt()
        with contextlib.suppress(TimeoutError, ImapError, OSError):
            await asyncio.wait_for(self._run(self.connection.close), within)
        self._executor.shutdown(wait=False)

    # -- the watched folder --------------------------------------------------------------

    async def follow_folder(self) -> bool:
        return await self._run(self.connection.follow_folder)

    async def uids_after(self, last_uid: int) -> list[int]:
        return await self._run(self.connection.uids_after, last_uid)

    async def uids_since(self, since: datetime) -> list[int]:
        return await self._run(self.connection.uids_since, since)

    async def fetch(self, uids: Sequence[int]) -> list[Fetched]:
        return await self._run(self.connection.fetch, uids)

    async def add_flags(self, uids: Sequence[int], flags: Sequence[str]) -> None:
        await self._run(self.connection.add_flags, uids, flags)

    async def remove_flags(self, uids: Sequence[int], flags: Sequence[str]) -> None:
        await self._run(self.connection.remove_flags, uids, flags)

    async def flags_of(self, uids: Sequence[int]) -> dict[int, frozenset[str]]:
        return await self._run(self.connection.flags_of, uids)

    async def find(self, message_id: str) -> list[int]:
        return await self._run(self.connection.find, message_id)

    async def has_keyword(self, keyword: str) -> bool:
        return await self._run(self.connection.has_keyword, keyword)

    async def take_news(self) -> bool:
        return await self._run(self.connection.take_news)

    async def wait_for_change(self, within: float) -> bool:
        """IDLE until the server reports a change or `within` seconds pass; cancelling the
        wait (at a stop) shuts the socket, so the thread returns at once."""
        halt = threading.Event()
        idling = asyncio.ensure_future(
            self._run(imap_idle.wait_for_change, self.connection, halt, within)
        )
        try:
            return await asyncio.shield(idling)
        except asyncio.CancelledError:
            halt.set()
            self.connection.interrupt()
            with contextlib.suppress(ImapError):
                await idling
            raise

    # -- other folders -------------------------------------------------------------------

    def folder_name(self, folder: str) -> str:
        return self.connection.folder_name(folder)

    async def sent_folder(self) -> str:
        return await self._run(imap_folders.sent_folder, self.connection)

    async def drafts_folder(self) -> str:
        return await self._run(imap_folders.drafts_folder, self.connection)

    async def folder_exists(self, folder: str) -> bool:
        return await self._run(imap_folders.folder_exists, self.connection, folder)

    async def ensure_folder(self, folder: str) -> None:
        await self._run(imap_folders.ensure_folder, self.connection, folder)

    async def look_up(self, folder: str, message_id: str) -> Hit | None:
        """The mail with this Message-ID in `folder`, if any."""
        return await self.look_up_where(folder, ["HEADER", "Message-ID", message_id])

    async def look_up_where(self, folder: str, criteria: list[str]) -> Hit | None:
        return await self._run(imap_folders.look_up, self.connection, folder, criteria)

    async def read(self, folder: str, uid: int) -> bytes:
        return await self._run(imap_folders.read, self.connection, folder, uid)

    async def remove(self, folder: str, uid: int) -> None:
        await self._run(imap_folders.remove, self.connection, folder, uid)

    async def headers_since(self, folder: str, since: datetime) -> list[Headers]:
        return await self._run(imap_folders.headers_since, self.connection, folder, since)

    async def append(
        self, folder: str, raws: Sequence[bytes], flags: Sequence[str], when: datetime
    ) -> None:
        await self._run(imap_folders.append, self.connection, folder, raws, flags, when)
