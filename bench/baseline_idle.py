"""P6 baseline: a bare Python process that holds one IMAP IDLE connection and nothing
else (plain imaplib). Prints "ready" once IDLE is running, then blocks in recv.

    python bench/baseline_idle.py IMAP_PORT USER PASSWORD
"""

from __future__ import annotations

import imaplib
import sys


def main(argv: list[str]) -> int:
    imap_port, user, password = int(argv[1]), argv[2], argv[3]
    imap = imaplib.IMAP4("127.0.0.1", imap_port, timeout=60)
    imap.login(user, password)
    imap.select("INBOX")
    imap.send(b"i1 IDLE\r\n")
    if not imap.readline().startswith(b"+"):
        return 1
    imap.sock.settimeout(None)
    print("ready", flush=True)
    while imap.readline():  # "* OK Still here" keep-alives, or a change: just keep idling
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
