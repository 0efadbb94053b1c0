"""`askfirst explain` and `askfirst preview`: what askfirst would do with one mail, and
what it would send."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import timedelta
from typing import Any

from askfirst.classify import classify
from askfirst.config import Classify, Settings, load_settings
from askfirst.exits import EXIT_CONFIG, EXIT_OK, EXIT_UNREACHABLE
from askfirst.imap import ImapError, MailboxThread
from askfirst.lifecycle import Invitation
from askfirst.message import parse
from askfirst.render import (
    TemplateProblem,
    Templates,
    context_for,
    person,
    sample_context,
)
from askfirst.rules import Context, decide


def preview_command(args: argparse.Namespace) -> int:
    settings = load_settings(args.config, secrets=False) if args.config is not None else None
    templates = Templates(settings.templates.dir if settings else None)
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


def explain_command(args: argparse.Namespace) -> int:
    owner: frozenset[str] = frozenset()
    policy = Classify()
    need_login = args.uid is not None  # only --uid logs in: a file needs no secrets
    settings = load_settings(args.config, secrets=need_login) if args.config else None
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
