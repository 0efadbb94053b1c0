"""P4 baseline: the raw APPEND + SMTP loop. On each IDLE wake: UID SEARCH + UID FETCH the
new mail, send every reply over ONE smtplib connection, then APPEND each reply to Sent
(\\Seen) and UID STORE the asked keyword on each invitation, as the daemon's pass does.

    python bench/baseline_burst.py IMAP_PORT USER PASSWORD SMTP_PORT

Prints "ready" once logged in and connected, then loops until it is terminated.
"""

from __future__ import annotations

import imaplib
import smtplib
import sys
import time

from baseline_react import reply
from rawimap import raw_fetch, raw_idle_wait, raw_search


def main(argv: list[str]) -> int:
    imap_port, user, password, smtp_port = int(argv[1]), argv[2], argv[3], int(argv[4])
    imap = imaplib.IMAP4("127.0.0.1", imap_port, timeout=60)
    imap.login(user, password)
    imap.select("INBOX")
    last = max(raw_search(imap, "ALL"), default=0)
    smtp = smtplib.SMTP("127.0.0.1", smtp_port, timeout=60)
    print("ready", flush=True)
    while True:
        raw_idle_wait(imap)
        new = [u for u in raw_search(imap, "UID", f"{last + 1}:*") if u > last]
        if not new:
            continue
        done: list[tuple[int, bytes]] = []
        for uid, raw in sorted(raw_fetch(imap, new, "(UID BODY.PEEK[])").items()):
            to, message = reply(user, raw)
            smtp.sendmail(user, [to], message)
            done.append((uid, message))
            last = max(last, uid)
        for uid, message in done:
            imap.append("Sent", "(\\Seen)", imaplib.Time2Internaldate(time.time()), message)
            imap.uid("STORE", str(uid), "+FLAGS.SILENT", "($askfirst-asked)")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
