"""A rig user's mailbox as the tests see it: messages read over IMAP without setting
`\\Seen`, a wait for mail to arrive, APPEND with its UID, and the tidying between tests
(what to empty is read from the Maildir on disk, so untouched users cost no round trip).
The rig (`testing.rig.MailRig`) calls these with a logged-in client."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from askfirst.testing.dovecot import NOSELECT, SPECIAL_FOLDERS

FETCH_CHUNK = 2000  # explicit UID lists, chunked: imapclient 4.x cannot fetch "1:*"


@dataclass(frozen=True)
class RigMessage:
    """One stored message as the tests see it; flags are decoded, \\Recent dropped."""

    uid: int
    flags: frozenset[str]
    raw: bytes

    @property
    def subject(self) -> str:
        """The Subject header, for readable assertions."""
        msg = BytesHeaderParser(policy=default_policy).parsebytes(self.raw)
        return str(msg.get("Subject", ""))


def _chunks(seq: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def fetch_all(client: IMAPClient, folder: str) -> list[RigMessage]:
    """Every message in `folder`, by UID, read with BODY.PEEK[] so nothing gets \\Seen."""
    client.select_folder(folder, readonly=True)
    uids = sorted(int(u) for u in client.search("ALL"))
    out: list[RigMessage] = []
    for chunk in _chunks(uids, FETCH_CHUNK):
        data = client.fetch(list(chunk), ["FLAGS", "BODY.PEEK[]"])
        for uid in chunk:
            item = data[uid]
            flags = frozenset(
                f.decode(errors="replace") if isinstance(f, bytes) else str(f)
                for f in item[b"FLAGS"]
            ) - {"\\Recent"}
            out.append(RigMessage(uid=uid, flags=flags, raw=bytes(item[b"BODY[]"])))
    return out


def wait_for(
    client: IMAPClient, user: str, count: int, folder: str, timeout: float
) -> list[RigMessage]:
    """Poll (STATUS, cheap) until `folder` holds at least `count` messages."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            status = client.folder_status(folder, [b"MESSAGES"])
            have = int(status[b"MESSAGES"])
        except IMAPClientError:  # the folder may not exist yet
            have = -1
        if have >= count:
            return fetch_all(client, folder)
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if have < 0:
        raise AssertionError(
            f"{user} {folder}: wanted {count} message(s) within {timeout} s, "
            "but the folder does not exist"
        )
    there = [(m.uid, m.subject, sorted(m.flags)) for m in fetch_all(client, folder)]
    raise AssertionError(
        f"{user} {folder}: wanted {count} message(s) within {timeout} s, "
        f"found {len(there)}: {there!r}"
    )


def append(
    client: IMAPClient, raw: bytes, folder: str, when: datetime | None, flags: Sequence[str]
) -> int:
    """APPEND (creating `folder` if needed) and return the new UID from APPENDUID."""
    if not client.folder_exists(folder):
        client.create_folder(folder)
    resp = client.append(folder, raw, flags=tuple(flags), msg_time=when)
    text = resp.decode(errors="replace") if isinstance(resp, bytes) else str(resp)
    m = re.search(r"\[APPENDUID \d+ (\d+)\]", text)
    if m is None:
        raise AssertionError(f"no APPENDUID in APPEND response {text!r}")
    return int(m.group(1))


def dirt(maildir: Path) -> tuple[bool, list[str]]:
    """(has non-default folders, default folders holding files) for one user's Maildir."""
    if not maildir.is_dir():
        return False, []
    with os.scandir(maildir) as it:
        subs = {e.name for e in it if e.is_dir() and e.name.startswith(".")}
    special = {"." + f: f for f in SPECIAL_FOLDERS if f != "INBOX"}
    extra = bool(subs - special.keys())
    full: list[str] = []
    folders = [(maildir, "INBOX"), *((maildir / d, special[d]) for d in subs & special.keys())]
    for path, name in folders:
        for sub in ("cur", "new"):
            try:
                with os.scandir(path / sub) as it:
                    if next(it, None) is not None:
                        full.append(name)
                        break
            except FileNotFoundError:
                pass
    return extra, full


def delete_extra_folders(client: IMAPClient) -> None:
    """Every folder but the special ones, children before parents."""
    listed = client.list_folders()
    # "A/B" alone makes "A" a \\NonExistent placeholder: nothing to delete there
    phantom = {name for flags, _d, name in listed if NOSELECT & set(flags)}
    extra = [n for _f, _d, n in listed if n not in phantom and n not in SPECIAL_FOLDERS]
    # children before parents, so no "has children" refusal
    for name in sorted(extra, key=lambda n: (-n.count("/"), n)):
        client.delete_folder(name)


def empty(client: IMAPClient, folders: list[str]) -> None:
    """Delete every message in `folders`."""
    for name in folders:
        client.select_folder(name)
        client.delete_messages("1:*", silent=True)
        client.expunge()
        client.unselect_folder()
