"""The `askfirst` command: the parser, `run` and `check`, and `demo`. With `status.py` and
`explain.py` (their commands) it is where real parts (IMAP, SMTP, the state file, the wall
clock) are built; exit codes are in `exits.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from askfirst import __version__, logs, loop
from askfirst.app import App, build_app
from askfirst.authenticity import authserv_advice
from askfirst.clock import SystemClock
from askfirst.config import ConfigError, Settings, dry_run_path, health_limit
from askfirst.config_loading import load_accounts
from askfirst.credentials import secrets_of
from askfirst.decisions import add_commands
from askfirst.exits import EXIT_CONFIG, EXIT_LOCKED, EXIT_OK, EXIT_UNREACHABLE
from askfirst.explain import explain_command, preview_command
from askfirst.fleet import Fleet, Reloader
from askfirst.imap import ImapError
from askfirst.lock import StateLocked, hold
from askfirst.mailbox import ImapMailbox
from askfirst.metrics import Metrics
from askfirst.render import Templates
from askfirst.schedule import next_send_time
from askfirst.smtp import SenderRefused, SendError, SmtpSender
from askfirst.status import health_command, status_command
from askfirst.store import StateBusy, StateError, Store, open_store, shared_url, state_where


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
    run.set_defaults(handler=_run)

    check = sub.add_parser("check", help="validate config and templates, log in to IMAP and SMTP")
    check.add_argument("--config", type=Path, required=True)
    check.set_defaults(handler=_check)

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


def _load(path: Path) -> list[tuple[Settings, Templates]]:
    """Every account with its templates, checked (a broken template is a config error)."""
    accounts = load_accounts(path)
    logs.configure(
        verbose=logging.getLogger().level == logging.DEBUG,
        secrets=[secret for settings in accounts for secret in secrets_of(settings)],
    )
    loaded = []
    for settings in accounts:
        templates = Templates(settings.templates.dir)
        problems = templates.check()
        if problems:
            where = f"accounts[{settings.name}]." if len(accounts) > 1 else ""
            raise ConfigError([f"{where}templates.dir: {p}" for p in problems])
        loaded.append((settings, templates))
    return loaded


def _run(args: argparse.Namespace) -> int:
    accounts = _load(args.config)
    first = accounts[0][0]
    metrics = Metrics(stale_after=health_limit(first))
    if first.metrics.listen:
        try:
            metrics.serve(first.metrics.listen)
        except OSError as exc:
            raise ConfigError(
                [f"metrics.listen: cannot listen on {first.metrics.listen}: {exc.strerror}"]
            ) from exc
    log = logs.get()

    def make_app(settings: Settings, templates: Templates, store: Store | None = None) -> App:
        if args.dry_run and store is None:
            settings.state.path = dry_run_path(settings.state.path)
        if store is None and not settings.state.url.get_secret_value():
            hold(settings.state.path)  # an account that came with an edit (no-op if held)
        log.info(
            "askfirst.start",
            version=__version__,
            account=settings.name or "default",
            mailbox=settings.imap.username,
            host=settings.imap.host,
            folder=settings.imap.folder,
            state=state_where(settings),
            dry_run=args.dry_run,
        )
        return build_app(settings, templates, dry_run=args.dry_run, metrics=metrics, store=store)

    reload = Reloader(args.config, _load)  # accounts_dir files come and go
    url = shared_url([settings for settings, _ in accounts])
    if url:  # the account's lease in PostgreSQL is the one-writer guard: no file lock
        from askfirst import replicas  # psycopg only when PostgreSQL is configured

        if not args.once:
            replica = replicas.Replica(
                url, accounts, build=make_app, dry_run=args.dry_run, reload=reload
            )
            asyncio.run(replica.run_until_signalled())
            log.info("askfirst.stopped")
            return EXIT_OK
        apps = replicas.unserved(url, accounts, make_app, dry_run=args.dry_run)
        code = asyncio.run(_once(apps))
        log.info("askfirst.stopped")
        return code
    try:  # one writer per state file, for the life of this process
        for settings, _ in accounts:
            hold(dry_run_path(settings.state.path) if args.dry_run else settings.state.path)
    except StateLocked as exc:
        print(f"askfirst: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    if not args.once:
        fleet = Fleet(accounts, build=make_app, serve=_supervise, reload=reload)
        asyncio.run(_forever(fleet))
        log.info("askfirst.stopped")
        return EXIT_OK
    apps = [make_app(settings, templates) for settings, templates in accounts]
    code = asyncio.run(_once(apps))
    log.info("askfirst.stopped")
    return code


async def _once(apps: list[App]) -> int:
    """One pass per account; an unreachable account does not stop the others."""
    code = EXIT_OK
    for app in apps:
        try:
            async with app:
                report = await app.run_once()
            fields = {k: v for k, v in vars(report).items() if k != "outcomes"}
            print(json.dumps({"account": app.settings.name or "default", **fields}))
        except ImapError as exc:
            print(f"askfirst: {exc}", file=sys.stderr)
            code = EXIT_UNREACHABLE
        except Exception as exc:  # a message, not a traceback; the next run tries again
            print(f"askfirst: the pass failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            code = EXIT_UNREACHABLE
    return code


async def _forever(fleet: Fleet) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await fleet.run(stop)


async def _supervise(app: App, stop: asyncio.Event) -> None:
    """Keep one account running; a crash in it is logged and retried, the others go on."""
    log = logs.get().bind(account=app.settings.name or "default")
    backoff = 5.0
    while True:
        try:
            async with app:
                await loop.run_forever(app, stop)
        except Exception as exc:  # one failing account must not stop the others
            log.exception("account.crashed", error=repr(exc), restart_in=backoff)
        else:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), backoff)
        if stop.is_set():
            return
        backoff = min(backoff * 2, 300.0)
        app = build_app(app.settings, app.templates, dry_run=app.dry_run, metrics=app.metrics)


async def _folders(mb: ImapMailbox, settings: Settings) -> list[str]:
    """Every folder `run` will use, as the server spells it, and what `run` would do."""
    drafts = await mb.drafts_folder()
    approving = settings.mode == "approve" or settings.approve_first > 0
    uses = [
        (await mb.sent_folder(), "copies of sent mail", "created at the first send"),
        (drafts, "drafts awaiting approval", "created at the first draft" if approving else ""),
        (
            mb.folder_name(settings.approve_folder),
            "approve_folder: moving a draft here approves it",
            "not created: make it to approve by moving" if approving else "",
        ),
    ]
    ns = mb.personal
    lines = [f"namespace: personal prefix {ns.prefix!r}, separator {ns.separator!r}"]
    for name, what, absent in uses:
        exists = await mb.folder_exists(name)
        if not absent and not exists:
            continue  # a folder this configuration never uses
        state = "exists" if exists else f"absent, {absent}"
        lines.append(f"folder {name!r} ({what}): {state}")
    return lines


def _check(args: argparse.Namespace) -> int:
    accounts = _load(args.config)
    ok, sound = True, True
    for settings, _ in accounts:
        if len(accounts) > 1:
            print(f"== account {settings.name}")
        sound &= _foresee(settings)
        ok &= _check_account(settings, args.config)
    return EXIT_CONFIG if not sound else EXIT_OK if ok else EXIT_UNREACHABLE


def _foresee(settings: Settings) -> bool:
    """What `run` will meet that is not an error yet; False if it cannot work at all."""
    directory = settings.templates.dir
    if not directory.is_dir():
        print(f"templates: folder {directory} not found: the built-in templates will be used")
    if not settings.classify.authserv_id:
        print(
            "classify.authserv_id: unset: authenticity of invitations cannot be checked "
            "(set it to the id your server writes in Authentication-Results)"
        )
    try:
        opens = next_send_time(SystemClock().now(), settings.lifecycle.window, settings.owner.zone)
    except ValueError:
        print(
            f"lifecycle.send_window: {settings.lifecycle.send_window!r} never opens in "
            f"{settings.owner.timezone}: nothing would ever be sent"
        )
        return False
    if settings.lifecycle.send_window:
        print(
            f"send window: {settings.lifecycle.send_window!r}, next open {opens:%Y-%m-%d %H:%M} UTC"
        )
    return True


def _check_account(settings: Settings, path: Path) -> bool:
    folder = settings.templates.dir
    print(f"config: ok ({path}); templates: ok ({folder if folder.is_dir() else 'built-in'})")
    ok = True
    mb = ImapMailbox(settings.imap, "check")

    async def probe() -> None:
        nonlocal ok
        try:
            await mb.ensure_connected()
            sent = await mb.sent_folder()
            idle = "IDLE" if "IDLE" in mb.capabilities else "no IDLE (will poll)"
            print(
                f"imap: ok, {settings.imap.username}@{settings.imap.host}:"
                f"{settings.imap.effective_port} ({settings.imap.tls}), folder "
                f"{settings.imap.folder!r} (UIDVALIDITY {mb.uidvalidity}), sent folder "
                f"{sent!r}, {idle}"
            )
            for line in await _folders(mb, settings):
                print(f"  {line}")
            folders = [("sent folder", sent)]
            if settings.mode == "approve" or settings.approve_first:
                folders.append(("drafts folder", await mb.drafts_folder()))
            for what, folder in folders:
                if not await mb.folder_exists(folder):
                    print(f"imap: {what} {folder!r} does not exist: askfirst will create it")
        except ImapError as exc:
            ok = False
            print(f"imap: FAILED: {exc}")
        finally:
            await mb.close()
        try:
            owner = settings.owner.email
            await SmtpSender(settings.smtp).probe(owner, owner)
            login = "logged in" if settings.smtp.username else "no login configured"
            print(
                f"smtp: ok, {settings.smtp.host}:{settings.smtp.effective_port} "
                f"({settings.smtp.tls}), {login}, MAIL FROM <{owner}> accepted (RSET: "
                "nothing sent)"
            )
        except SenderRefused as exc:
            ok = False
            print(f"smtp: FAILED: owner.email may not be used as sender with this login: {exc}")
        except SendError as exc:
            ok = False
            print(f"smtp: FAILED: {exc}")

    asyncio.run(probe())
    advice = authserv_advice(settings.classify.authserv_id, settings.classify.authenticity)
    state_ok = _check_state(settings)
    if advice:
        print(advice)
    return state_ok and ok


def _check_state(settings: Settings) -> bool:
    """With `state.url`: reach the database, and bring the account's schema up to date."""
    where = state_where(settings)
    if not settings.state.url.get_secret_value():
        print(f"state: {where}")
        return True
    from askfirst import pgstate  # psycopg only when PostgreSQL is configured

    try:
        open_store(settings).close()
    except pgstate.Error as exc:
        print(f"state: FAILED: {where}: {exc}")
        return False
    print(f"state: ok, {where}")
    return True


def _migrate(args: argparse.Namespace) -> int:
    from askfirst.migrate import migrate_command  # psycopg only when it is used

    return migrate_command(args)


def _demo(args: argparse.Namespace) -> int:
    from askfirst.testing.demo import run_demo  # the rig (and aiosmtpd) only when asked for

    return run_demo(sys.stdout, decline_after=args.decline_after)


if __name__ == "__main__":
    sys.exit(main())
