"""`askfirst check`: the config and templates as `run` loads them, then what `run` will
meet: the IMAP and SMTP logins, the folders, the state, the send window; nothing is sent.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from askfirst.authenticity import authserv_advice
from askfirst.clock import SystemClock
from askfirst.config import Settings
from askfirst.exits import EXIT_CONFIG, EXIT_OK, EXIT_UNREACHABLE
from askfirst.imap import ImapError
from askfirst.mailbox import ImapMailbox
from askfirst.run_command import load_checked
from askfirst.schedule import next_send_time
from askfirst.smtp import SenderRefused, SendError, SmtpSender
from askfirst.store import open_store, state_where


def check_command(args: argparse.Namespace) -> int:
    """Exit 2 if `run` could not work at all, 1 if a server or the state cannot be reached."""
    accounts = load_checked(args.config)
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
