"""`askfirst resend` and `askfirst forget`: the owner's answer to an `uncertain` mail (the
connection dropped after the message went out and before the server confirmed it).

`resend` puts it back in the outbox (it goes out again, after the usual re-checks);
`forget` counts it as sent: the next pass finishes it as sent (the wait for an answer
starts, a copy is filed in Sent)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from askfirst.config_loading import load_accounts
from askfirst.exits import EXIT_NO_SUCH_MAIL, EXIT_OK
from askfirst.mails import OutboxState
from askfirst.store import open_store


def decide_command(args: argparse.Namespace) -> int:
    wanted = args.message_id.strip()
    wanted = wanted if wanted.startswith("<") else f"<{wanted}>"
    for settings in load_accounts(args.config):
        store = open_store(settings)  # its SQLite file, or its schema with state.url
        try:
            with store.transaction():
                if args.resend:  # due at once (epoch 0): the daemon's clock decides nothing here
                    done = store.claim(
                        wanted, OutboxState.UNCERTAIN, OutboxState.PENDING, next_attempt_at=0
                    )
                else:
                    done = store.claim(wanted, OutboxState.UNCERTAIN, OutboxState.FORGOTTEN)
        finally:
            store.close()
        if done:
            what = "will be sent again" if args.resend else "counts as sent"
            print(f"{wanted} {what} (at the next pass)")
            return EXIT_OK
    print(f"askfirst: no uncertain mail {wanted} (see `askfirst status`)", file=sys.stderr)
    return EXIT_NO_SUCH_MAIL


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, resend, text in (
        ("resend", True, "send an uncertain mail again"),
        ("forget", False, "count an uncertain mail as sent; never send it again"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument("message_id", metavar="MESSAGE-ID")
        command.add_argument("--config", type=Path, required=True)
        command.set_defaults(handler=decide_command, resend=resend)
