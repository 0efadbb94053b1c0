"""P1 baseline: the minimal raw loop a script would run. IMAP IDLE (plain imaplib), on
EXISTS fetch the new mail with UID SEARCH + UID FETCH BODY.PEEK[], read From and
Message-ID with the stdlib header parser, and send a short reply with smtplib.

    python bench/baseline_react.py IMAP_PORT USER PASSWORD SMTP_PORT

Prints "ready" once logged in and selected, then loops until it is terminated.
"""

from __future__ import annotations

import imaplib
import smtplib
import sys
import uuid
from email.parser import BytesHeaderParser
from email.utils import parseaddr

from rawimap import raw_fetch, raw_idle_wait, raw_search


def reply(user: str, raw: bytes) -> tuple[str, bytes]:
    headers = BytesHeaderParser().parsebytes(raw)
    to = parseaddr(str(headers.get("From", "")))[1]
    parent = str(headers.get("Message-ID", ""))
    subject = str(headers.get("Subject", ""))
    text = (
        f"From: {user}\r\nTo: {to}\r\nSubject: Re: {subject}\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@example.test>\r\nIn-Reply-To: {parent}\r\n"
        f"References: {parent}\r\nAuto-Submitted: auto-replied\r\n\r\n"
        "Thanks for the invitation. Could you tell me a little about yourself?\r\n"
    )
    return to, text.encode()


def main(argv: list[str]) -> int:
    imap_port, user, password, smtp_port = int(argv[1]), argv[2], argv[3], int(argv[4])
    imap = imaplib.IMAP4("127.0.0.1", imap_port, timeout=60)
    imap.login(user, password)
    imap.select("INBOX")
    last = max(raw_search(imap, "ALL"), default=0)
    print("ready", flush=True)
    while True:
        raw_idle_wait(imap)
        new = [u for u in raw_search(imap, "UID", f"{last + 1}:*") if u > last]
        if not new:
            continue
        for uid, raw in sorted(raw_fetch(imap, new, "(UID BODY.PEEK[])").items()):
            to, message = reply(user, raw)
            with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as smtp:
                smtp.sendmail(user, [to], message)
            last = max(last, uid)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
