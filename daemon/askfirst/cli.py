"""The `askfirst` command: its parser, and where each verb's work lives (`run_command.py`,
`check_command.py`, `status.py`, `explain.py`, `decisions.py`, `migrate.py`, the demo);
exit codes are in `exits.py`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from askfirst import __version__, logs
from askfirst.check_command import check_command
from askfirst.config import ConfigError
from askfirst.decisions import add_commands
from askfirst.exits import EXIT_CONFIG, EXIT_UNREACHABLE
from askfirst.explain import explain_command, preview_command
from askfirst.run_command import run_command
from askfirst.status import health_command, status_command
from askfirst.store import StateBusy, StateError


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure(verbose=getattr(args, "verbose", False))
    try:
        result: int = args.handler(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"config error: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    except StateError as exc:
        print(f"askfirst: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except StateBusy as exc:
        print(f"askfirst: {exc}; another program holds it: try again", file=sys.stderr)
        return EXIT_UNREACHABLE
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="askfirst",
        description="Answer boilerplate connection invitations with a polite question first; "
        "hand real answers to you; decline the silent ones.",
        epilog="Exit codes: 0 all well; 1 a server could not be reached or refused the login; "
        "2 the configuration or a template is wrong (the message names the key); "
        "3 another askfirst runs on the same state file; "
        "4 resend/forget: no uncertain mail with that Message-ID.",
    )
    parser.add_argument("--version", action="version", version=f"askfirst {__version__}")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="watch the mailbox and act, until SIGTERM or SIGINT")
    run.add_argument("--config", type=Path, required=True)
    run.add_argument(
        "--once", action="store_true", help="one pass (mail, deadlines, outbox), then exit"
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="send nothing, change no flags; record what would be sent in a "
        "separate state file (see status --dry-run)",
    )
    run.add_argument("-v", "--verbose", action="store_true")
    run.set_defaults(handler=run_command)

    check = sub.add_parser("check", help="validate config and templates, log in to IMAP and SMTP")
    check.add_argument("--config", type=Path, required=True)
    check.set_defaults(handler=check_command)

    preview = sub.add_parser("preview", help="render a template exactly as it would be sent")
    preview.add_argument(
        "template",
        metavar="TEMPLATE",
        help="ask, decline or handover (or a variant such as ask.de)",
    )
    preview.add_argument(
        "--invite",
        type=Path,
        metavar="FILE.eml",
        help="fill it from this invitation instead of sample data",
    )
    preview.add_argument("--config", type=Path)
    preview.set_defaults(handler=preview_command)

    demo = sub.add_parser(
        "demo", help="watch askfirst work: a private mail rig, the real daemon, a short story"
    )
    demo.add_argument(
        "--decline-after",
        default="20s",
        metavar="DURATION",
        help="how long the silent inviter has before the decline (default: 20s)",
    )
    demo.set_defaults(handler=_demo)

    health = sub.add_parser("health", help="exit 0 if the loop ran recently and IMAP is connected")
    health.add_argument("--config", type=Path, required=True)
    health.set_defaults(handler=health_command)

    status = sub.add_parser("status", help="every invitation, its state and due date")
    status.add_argument("--config", type=Path, required=True)
    status.add_argument(
        "--json", action="store_true", help="a JSON list, one object per invitation"
    )
    status.add_argument("--dry-run", action="store_true", help="what a --dry-run recorded")
    status.set_defaults(handler=status_command)

    migrate = sub.add_parser("migrate", help="copy one account's SQLite state into PostgreSQL")
    migrate.add_argument("--from", dest="source", type=Path, required=True, metavar="PATH")
    migrate.add_argument("--to", required=True, metavar="URL", help="postgresql://...")
    migrate.add_argument(
        "--account", default="default", help="the account's name (default: default)"
    )
    migrate.set_defaults(handler=_migrate)

    explain = sub.add_parser("explain", help="what askfirst would do with one mail, and why")
    explain.add_argument("file", type=Path, metavar="FILE.eml", nargs="?")
    explain.add_argument("--uid", type=int, help="a mail in the configured folder (needs --config)")
    explain.add_argument("--config", type=Path)
    explain.add_argument("--json", action="store_true")
    explain.set_defaults(handler=explain_command)
    add_commands(sub)
    return parser


def _migrate(args: argparse.Namespace) -> int:
    from askfirst.migrate import migrate_command  # psycopg only when it is used

    return migrate_command(args)


def _demo(args: argparse.Namespace) -> int:
    from askfirst.testing.demo import run_demo  # the rig (and aiosmtpd) only when asked for

    return run_demo(sys.stdout, decline_after=args.decline_after)


if __name__ == "__main__":
    sys.exit(main())
