"""`askfirst run`: every account of the config, until SIGTERM or SIGINT (or one pass with
`--once`), each under its own supervision, with the accounts of `accounts_dir` coming and
going without a restart.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from pathlib import Path

from askfirst import __version__, logs, loop
from askfirst.app import App, build_app
from askfirst.config import ConfigError, Settings, dry_run_path, health_limit
from askfirst.config_loading import load_accounts
from askfirst.credentials import secrets_of
from askfirst.exits import EXIT_LOCKED, EXIT_OK, EXIT_UNREACHABLE
from askfirst.fleet import Fleet, Reloader
from askfirst.imap import ImapError
from askfirst.lock import StateLocked, hold
from askfirst.metrics import Metrics
from askfirst.render import Templates
from askfirst.store import Store, shared_url, state_where


def load_checked(path: Path) -> list[tuple[Settings, Templates]]:
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


def run_command(args: argparse.Namespace) -> int:
    """Lock the state (a file lock, or a lease in PostgreSQL), then serve every account."""
    accounts = load_checked(args.config)
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

    reload = Reloader(args.config, load_checked)  # accounts_dir files come and go
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
