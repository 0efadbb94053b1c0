"""Raw-protocol helpers for the baselines: plain imaplib, no imapclient, no daemon code.

Kept free of heavy imports so the baseline processes (baseline_react.py, baseline_idle.py)
stay as small as a minimal script would be.
"""

from __future__ import annotations

import imaplib
import re
from collections.abc import Sequence


def raw_idle_wait(imap: imaplib.IMAP4) -> None:
    """IDLE until the server reports EXISTS, then DONE. Blocks without a timeout: the
    socket is left blocking because a timed-out imaplib reader cannot be read again.

    imaplib has no IDLE before Python 3.14, so this speaks it on imaplib's own socket."""
    tag = imap._new_tag()
    imap.send(tag + b" IDLE\r\n")
    line = imap.readline()
    if not line.startswith(b"+"):
        raise RuntimeError(f"IDLE refused: {line!r}")
    imap.sock.settimeout(None)
    try:
        while True:
            line = imap.readline()
            if not line:
                raise ConnectionError("connection closed during IDLE")
            if line.rstrip().endswith(b"EXISTS"):
                break
    finally:
        imap.sock.settimeout(60)
    imap.send(b"DONE\r\n")
    while True:
        line = imap.readline()
        if not line:
            raise ConnectionError("connection closed after IDLE")
        if line.startswith(tag):
            return


def uid_set(uids: Sequence[int]) -> str:
    """A compact sequence set: runs of consecutive UIDs become a:b."""
    out: list[str] = []
    start = prev = None
    for uid in sorted(uids):
        if start is None:
            start = prev = uid
        elif prev is not None and uid == prev + 1:
            prev = uid
        else:
            out.append(f"{start}:{prev}" if start != prev else str(start))
            start = prev = uid
    if start is not None:
        out.append(f"{start}:{prev}" if start != prev else str(start))
    return ",".join(out)


_UID = re.compile(rb"UID (\d+)")


def raw_fetch(imap: imaplib.IMAP4, uids: Sequence[int], items: str) -> dict[int, bytes]:
    """UID FETCH in chunks of 5,000; {uid: first literal} for each message."""
    out: dict[int, bytes] = {}
    ordered = sorted(uids)
    for start in range(0, len(ordered), 5000):
        chunk = ordered[start : start + 5000]
        typ, data = imap.uid("FETCH", uid_set(chunk), items)
        if typ != "OK":
            raise RuntimeError(f"UID FETCH failed: {data!r}")
        for part in data:
            if isinstance(part, tuple):
                m = _UID.search(part[0])
                if m:
                    out[int(m.group(1))] = part[1]
    return out


def raw_search(imap: imaplib.IMAP4, *criteria: str) -> list[int]:
    typ, data = imap.uid("SEARCH", *criteria)
    if typ != "OK":
        raise RuntimeError(f"UID SEARCH failed: {data!r}")
    return [int(x) for x in (data[0] or b"").split()]
