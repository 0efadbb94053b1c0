"""The `askfirst` command: run, check, status, explain. The only place real parts are built.

Exit codes: 0 all well; 1 a server could not be reached or refused the login; 2 the
configuration (or a template) is wrong, and the message names the key.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from daemon import __version__, logs
from daemon.app import App, health_limit
from daemon.classify import classify
from daemon.clock import SystemClock
from daemon.config import Classify, ConfigError, Settings, load_settings, secrets_of
from daemon.imap import ImapError, MailboxThread
from daemon.lifecycle import Invitation
from daemon.message import parse
from daemon.metrics import Metrics
from daemon.render import (
    BUILTIN_DIR,
    TemplateProblem,
    Templates,
    context_for,
    person,
    sample_context,
)
from daemon.rules import Context, decide
from daemon.smtp import SendError, SmtpSender
from daemon.status import status_json, status_text
from daemon.store import Store

EXIT_OK, EXIT_UNREACHABLE, EXIT_CONFIG = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure(verbose=getattr(args, "verbose", False))
    try:
        result: int = args.handler(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"config error: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="askfirst", description=__doc__.splitlines()[0])
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
    preview.set_defaults(handler=_preview)

    health = sub.add_parser("health", help="exit 0 if the loop ran recently and IMAP is connected")
    health.add_argument("--config", type=Path, required=True)
    health.set_defaults(handler=_health)

    status = sub.add_parser("status", help="every invitation, its state and due date")
    status.add_argument("--config", type=Path, required=True)
    status.add_argument(
        "--json", action="store_true", help="a JSON list, one object per invitation"
    )
    status.add_argument("--dry-run", action="store_true", help="what a --dry-run recorded")
    status.set_defaults(handler=_status)

    explain = sub.add_parser("explain", help="what askfirst would do with one mail, and why")
    explain.add_argument("file", type=Path, metavar="FILE.eml", nargs="?")
    explain.add_argument("--uid", type=int, help="a mail in the configured folder (needs --config)")
    explain.add_argument("--config", type=Path)
    explain.add_argument("--json", action="store_true")
    explain.set_defaults(handler=_explain)
    return parser


def _load(path: Path) -> tuple[Settings, Templates]:
    settings = load_settings(path)
    logs.configure(verbose=logging.getLogger().level == logging.DEBUG, secrets=secrets_of(settings))
    templates = Templates(settings.templates.dir)
    problems = templates.check()
    if problems:
        raise ConfigError([f"templates.dir: {p}" for p in problems])
    return settings, templates


def build_app(settings: Settings, templates: Templates, *, dry_run: bool = False) -> App:
    metrics = Metrics(stale_after=health_limit(settings))
    if settings.metrics.listen:
        metrics.serve(settings.metrics.listen)
    return App(
        dry_run=dry_run,
        metrics=metrics,
        settings=settings,
        store=Store(settings.state.path),
        clock=SystemClock(),
        templates=templates,
        sender=SmtpSender(settings.smtp),
        mailbox=MailboxThread(settings.imap, "main"),
    )


def dry_run_path(path: Path) -> Path:
    """A dry run keeps its own state, so a real run later starts from a clean slate."""
    return path.with_name(f"{path.stem}.dry-run{path.suffix}")


def _run(args: argparse.Namespace) -> int:
    settings, templates = _load(args.config)
    if args.dry_run:
        settings.state.path = dry_run_path(settings.state.path)
    app = build_app(settings, templates, dry_run=args.dry_run)
    log = logs.get()
    log.info(
        "askfirst.start",
        version=__version__,
        mailbox=settings.imap.username,
        host=settings.imap.host,
        folder=settings.imap.folder,
        state=str(settings.state.path),
        dry_run=args.dry_run,
    )
    try:
        if args.once:
            report = asyncio.run(app.run_once())
            print(json.dumps({k: v for k, v in vars(report).items() if k != "outcomes"}))
            asyncio.run(app.mailbox.close())
        else:
            asyncio.run(_forever(app))
    except ImapError as exc:
        print(f"askfirst: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    finally:
        app.store.close()
    log.info("askfirst.stopped")
    return EXIT_OK


async def _forever(app: App) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await app.run_forever(stop)


def _check(args: argparse.Namespace) -> int:
    settings, _ = _load(args.config)
    print(f"config: ok ({args.config}); templates: ok ({settings.templates.dir})")
    ok = True
    thread = MailboxThread(settings.imap, "check")

    async def probe() -> None:
        nonlocal ok
        try:
            await thread.ensure_connected()
            mb = thread.mailbox
            sent = await thread.call(mb.sent_folder)
            idle = "IDLE" if "IDLE" in mb.capabilities else "no IDLE (will poll)"
            print(
                f"imap: ok, {settings.imap.username}@{settings.imap.host}:"
                f"{settings.imap.effective_port} ({settings.imap.tls}), folder "
                f"{settings.imap.folder!r} (UIDVALIDITY {mb.uidvalidity}), sent folder "
                f"{sent!r}, {idle}"
            )
        except ImapError as exc:
            ok = False
            print(f"imap: FAILED: {exc}")
        finally:
            await thread.close()
        try:
            await SmtpSender(settings.smtp).probe()
            login = "logged in" if settings.smtp.username else "no login configured"
            print(
                f"smtp: ok, {settings.smtp.host}:{settings.smtp.effective_port} "
                f"({settings.smtp.tls}), {login}"
            )
        except SendError as exc:
            ok = False
            print(f"smtp: FAILED: {exc}")

    asyncio.run(probe())
    print(f"state: {settings.state.path}")
    return EXIT_OK if ok else EXIT_UNREACHABLE


def _status(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    path = dry_run_path(settings.state.path) if args.dry_run else settings.state.path
    store = Store(path)
    try:
        print(status_json(store) if args.json else status_text(store, SystemClock().now()))
    finally:
        store.close()
    return EXIT_OK


def _health(args: argparse.Namespace) -> int:
    """For container health checks: the heartbeat the running loop writes after each pass."""
    settings = load_settings(args.config)
    if not settings.state.path.exists():
        print("unhealthy: no state yet (askfirst run has not started)")
        return EXIT_UNREACHABLE
    store = Store(settings.state.path)
    try:
        last = store.meta("last_pass_at")
        connected = store.meta("imap_connected") == "1"
        error = store.meta("last_error") or ""
    finally:
        store.close()
    limit = health_limit(settings)
    age = SystemClock().now().timestamp() - int(last) if last else None
    if age is None or age > limit:
        print(f"unhealthy: no completed pass for {'ever' if age is None else f'{age:.0f} s'}")
        return EXIT_UNREACHABLE
    if not connected:
        print(f"unhealthy: IMAP not connected: {error}")
        return EXIT_UNREACHABLE
    print(f"healthy: last pass {age:.0f} s ago")
    return EXIT_OK


def _preview(args: argparse.Namespace) -> int:
    settings = load_settings(args.config) if args.config is not None else None
    templates = Templates(settings.templates.dir if settings else BUILTIN_DIR)
    context = sample_context()
    name = args.template
    if settings is not None:
        context["owner"] = person(settings.owner.name, settings.owner.email)
    if args.invite is not None:
        try:
            mail = parse(args.invite.read_bytes())
        except OSError as exc:
            print(f"askfirst: cannot read {args.invite}: {exc.strerror}", file=sys.stderr)
            return EXIT_CONFIG
        verdict = classify(mail, settings.classify if settings else None)
        inv = Invitation(
            source_message_id=mail.message_id,
            network=verdict.network or "email",
            inviter_name=verdict.inviter_name,
            subject=mail.subject,
            inviter_email=verdict.reply_address or mail.from_addr,
            decision={"note": verdict.personal_note, "language": verdict.language},
        )
        owner = (str(context["owner"]["name"]), str(context["owner"]["email"]))
        wait = settings.lifecycle.decline_after if settings else timedelta(days=7)
        context = context_for(inv, owner, wait) | {"reason": context["reason"]}
        if "." not in name:
            name = templates.choose(name, verdict.language)
    try:
        rendered = templates.render(name, context)
    except TemplateProblem as exc:
        print(f"askfirst: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"Subject: {rendered.subject}\n\n{rendered.body}", end="")
    return EXIT_OK


def _fetch_uid(settings: Settings, uid: int) -> bytes:
    """One mail from the watched folder, read with BODY.PEEK (it stays unread)."""
    thread = MailboxThread(settings.imap, "explain")

    async def fetch() -> bytes:
        try:
            await thread.ensure_connected()
            found = await thread.call(lambda: list(thread.mailbox.fetch([uid])))
        finally:
            await thread.close()
        if not found:
            raise ImapError(f"no mail with UID {uid} in {settings.imap.folder}")
        return found[0].raw

    return asyncio.run(fetch())


def _explain(args: argparse.Namespace) -> int:
    owner: frozenset[str] = frozenset()
    policy = Classify()
    settings = load_settings(args.config) if args.config is not None else None
    if settings is not None:
        owner, policy = settings.owner.addresses(), settings.classify
    if (args.file is None) == (args.uid is None):
        print("askfirst explain: give FILE.eml or --uid N (with --config)", file=sys.stderr)
        return EXIT_CONFIG
    if args.uid is not None:
        if settings is None:
            print("askfirst explain: --uid needs --config", file=sys.stderr)
            return EXIT_CONFIG
        try:
            raw = _fetch_uid(settings, args.uid)
        except ImapError as exc:
            print(f"askfirst: {exc}", file=sys.stderr)
            return EXIT_UNREACHABLE
        source = f"uid {args.uid} in {settings.imap.folder}"
    else:
        try:
            raw = args.file.read_bytes()
        except OSError as exc:
            print(f"askfirst: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
            return EXIT_CONFIG
        source = str(args.file)
    mail = parse(raw)
    verdict = classify(mail, policy, owner)
    decision = decide(mail, verdict, Context(owner_addresses=owner))
    record: dict[str, Any] = {
        "message_id": mail.message_id,
        "from": mail.from_addr,
        "subject": mail.subject,
        "is_invitation": verdict.is_invitation,
        "network": verdict.network,
        "boilerplate": verdict.boilerplate,
        "personal_note": verdict.personal_note,
        "inviter_name": verdict.inviter_name,
        "reply_address": verdict.reply_address,
        "profile_url": verdict.profile_url,
        "language": verdict.language,
        "label": verdict.label,
        "invitation_key": verdict.invitation_key,
        "authenticated": verdict.authenticated,
        "phishing_suspect": verdict.phishing_suspect,
        "action": decision.action,
        "rule": decision.rule,
        "reasons": [*verdict.reasons, *decision.reasons],
        "defects": list(mail.defects),
    }
    if args.json:
        print(json.dumps(record, indent=2, ensure_ascii=False))
        return EXIT_OK
    print(f"{source}: {decision.action.upper()} (rule {decision.rule})")
    for key in (
        "from",
        "subject",
        "network",
        "inviter_name",
        "reply_address",
        "boilerplate",
        "personal_note",
        "language",
        "authenticated",
    ):
        if record[key] not in (None, ""):
            print(f"  {key}: {record[key]}")
    print("  why:")
    for reason in record["reasons"]:
        print(f"    - {reason}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
