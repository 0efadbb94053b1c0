"""IMAP IDLE (RFC 2177) on the watched folder, in the connection's thread.

A dead IDLE connection is detected instead of spinning (imapclient #565): a BYE, or an
empty answer that came back at once, drops the connection. IDLE is renewed at
`poll_interval`, at most every 10 minutes; the watched folder is selected again after it.
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Any

from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from askfirst.imap import ImapConnection, ImapError, text_of

IDLE_RENEW_SECONDS = 600.0  # RFC 2177 asks for < 29 minutes; 10 is what imapclient advises
IDLE_SLICE_SECONDS = 60.0  # one wait; shutdown does not wait for it (`ImapConnection.interrupt`)


def wait_for_change(conn: ImapConnection, stop: threading.Event, timeout: float) -> bool:
    """IDLE until the server reports a change (True) or `timeout` passes (False);
    renewed every `timeout` (`poll_interval`, at most 10 minutes). A NO to IDLE or a
    new UIDVALIDITY selects the folder again and counts as a change."""
    client = conn.client
    try:
        client.idle()
    except (IMAPClientAbortError, OSError) as exc:
        conn.close()
        raise ImapError(f"IMAP: {text_of(exc)}") from exc
    except IMAPClientError:  # NO to IDLE: the selected folder is gone or changed
        conn.follow_folder()
        return True
    deadline = time.monotonic() + min(timeout, IDLE_RENEW_SECONDS)
    changed = False
    while not (stop.is_set() or changed) and time.monotonic() < deadline:
        started = time.monotonic()
        wait = min(IDLE_SLICE_SECONDS, max(0.05, deadline - started))
        responses = conn.guarded(functools.partial(client.idle_check, timeout=wait))
        if stop.is_set():  # woken by `interrupt`: the connection is being dropped anyway
            conn.close()
            return False
        quick = time.monotonic() - started < wait / 2
        problem = _problem(responses, quick)
        if problem:
            conn.close()
            raise ImapError(problem)
        changed = any(_is_change(r) for r in responses)
    conn.guarded(client.idle_done)
    return conn.follow_folder() or changed


def _problem(responses: list[Any], quick: bool) -> str | None:
    """Why this IDLE connection is dead, if it is: a BYE, or an empty answer that came
    back at once (imapclient reports EOF as "readable, nothing parsed")."""
    if any(isinstance(r, tuple) and r and r[0] == b"BYE" for r in responses):
        return "server said BYE during IDLE"
    if not responses and quick:
        return "connection closed during IDLE"
    return None


def _is_change(response: object) -> bool:
    return (
        isinstance(response, tuple)
        and len(response) > 1
        and response[1]
        in (
            b"EXISTS",
            b"EXPUNGE",
            b"RECENT",
        )
    )
