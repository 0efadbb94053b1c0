"""`askfirst explain` and `askfirst preview`: what askfirst would do with one mail, and
what it would send."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from askfirst.answer import answer_kind
from askfirst.byhand import starts_by_hand
from askfirst.clock import SystemClock
from askfirst.config import Classify, Settings
from askfirst.config_loading import load_settings
from askfirst.exits import EXIT_CONFIG, EXIT_OK, EXIT_UNREACHABLE
from askfirst.imap import ImapError
from askfirst.judgement import choose_template, judge
from askfirst.mailbox import ImapMailbox
from askfirst.message import Mail, parse
from askfirst.notifications import NetworkNotification, recognise
from askfirst.render import (
    NETWORK_NAMES,
    TemplateProblem,
    Templates,
    context_for,
    person,
    sample_context,
)
from askfirst.rules import records_invitation
from askfirst.store import StateError, Store, open_store


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
        judgement = judge(mail, settings, templates)
        verdict = judgement.verdict
        inv = judgement.invitation(mail)
        owner = (str(context["owner"]["name"]), str(context["owner"]["email"]))
        wait = settings.lifecycle.decline_after if settings else timedelta(days=7)
        context = context_for(inv, owner, wait) | {"reason": context["reason"]}
        sets = settings.rules.template_sets if settings else {}
        name = choose_template(
            templates, sets, name, inv.inviter_email, inv.network, verdict.language
        )
        if name.split(".")[0] in ("byhand", "remind"):  # the texts the owner pastes
            for kind in ("ask", "decline"):
                chosen = choose_template(
                    templates, sets, kind, inv.inviter_email, inv.network, verdict.language
                )
                context[f"{kind}_text"] = _body(templates, chosen, context)
    try:
        rendered = templates.render(name, context)
    except TemplateProblem as exc:
        print(f"askfirst: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"Subject: {rendered.subject}\n\n{rendered.body}", end="")
    return EXIT_OK


def notification_record(notification: NetworkNotification) -> dict[str, Any]:
    """A network's "someone wrote to you" mail: who, whether it counts, and why."""
    counts = (
        f"notification: {notification.describe()}; it counts as their answer to a by-hand "
        f"invitation ({notification.why})"
        if notification.authentic
        else f"notification: {notification.describe()}, but it changes nothing: {notification.why}"
    )
    return {
        "network": notification.network,
        "kind": notification.kind,
        "senders": [{"name": s.name, "profile_slug": s.slug} for s in notification.senders],
        "authentic": notification.authentic,
        "verdict": counts,
    }


def _body(templates: Templates, name: str, context: dict[str, Any]) -> str:
    try:
        return templates.render(name, context).body
    except TemplateProblem as exc:
        return f"({exc})"


def _fetch_uid(settings: Settings, uid: int) -> bytes:
    """One mail from the watched folder, read with BODY.PEEK (it stays unread)."""
    mailbox = ImapMailbox(settings.imap, "explain")

    async def fetch() -> bytes:
        try:
            await mailbox.ensure_connected()
            found = await mailbox.fetch([uid])
        finally:
            await mailbox.close()
        if not found:
            raise ImapError(f"no mail with UID {uid} in {settings.imap.folder}")
        return found[0].raw

    return asyncio.run(fetch())


def _recently_asked(settings: Settings | None) -> tuple[Callable[[str], bool], Store | None]:
    """The daemon's "asked recently?" from its state file, when there is one to read."""
    nothing: tuple[Callable[[str], bool], Store | None] = ((lambda address: False), None)
    if settings is None:
        return nothing
    shared = bool(settings.state.url.get_secret_value())
    if not shared and not settings.state.path.exists():
        return nothing
    try:
        store = open_store(settings, read_only=True)
    except StateError:
        if not shared:
            raise
        return nothing  # PostgreSQL: this account has no state yet
    since = SystemClock().now() - settings.lifecycle.ask_again_after
    return (lambda address: store.asked_since(address, since)), store


def explain_command(args: argparse.Namespace) -> int:
    need_login = args.uid is not None  # only --uid logs in: a file needs no secrets
    settings = load_settings(args.config, secrets=need_login) if args.config else None
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
    recently_asked, store = _recently_asked(settings)
    try:
        templates = Templates(settings.templates.dir if settings else None)
        judgement = judge(mail, settings, templates, recently_asked=recently_asked)
    finally:
        if store is not None:
            store.close()
    verdict, decision = judgement.verdict, judgement.decision
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
        "recorded": records_invitation(verdict, decision),
        "template": judgement.template if decision.action == "ask" else None,
        "reasons": list(judgement.reasons),
        "defects": list(mail.defects),
    } | _as_answer(mail)
    by_hand = starts_by_hand(verdict, decision, settings.lifecycle.by_hand if settings else True)
    record["by_hand"] = by_hand
    if by_hand:
        network = NETWORK_NAMES.get(verdict.network or "", verdict.network)
        record["reasons"].append(
            f"by-hand: {network} hides the inviter, so you ask there with the text askfirst "
            f"gives you; askfirst watches for {network}'s notification that they wrote and "
            "reminds you once after lifecycle.decline_after (state by_hand)"
        )
    authserv_id = settings.classify.authserv_id if settings else Classify().authserv_id
    notification = recognise(mail, authserv_id) if not verdict.is_invitation else None
    if notification is not None:
        record["notification"] = notification_record(notification)
        record["reasons"].append(record["notification"]["verdict"])
    if args.json:
        print(json.dumps(record, indent=2, ensure_ascii=False))
        return EXIT_OK
    manner = ", BY HAND" if by_hand else ""
    print(f"{source}: {decision.action.upper()}{manner} (rule {decision.rule})")
    if verdict.is_invitation and not record["recorded"]:
        print("  not recorded as an invitation: the mail is no invitation, whatever it quotes")
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
        "template",
    ):
        if record[key] not in (None, ""):
            print(f"  {key}: {record[key]}")
    print("  why:")
    for reason in record["reasons"]:
        print(f"    - {reason}")
    print(f"  as an answer to an invitation: {record['answer_kind']} ({record['answer_reason']})")
    for line in record["delivery"]:
        print(
            f"    - {line['action']} for {line['recipient']}: {line['status']} {line['diagnostic']}"
        )
    return EXIT_OK


ANSWER_EFFECTS = {
    "genuine": "hands the invitation to you (answered)",
    "automatic": "changes nothing (an out-of-office may move the deadline)",
    "bounce": "fails an asked invitation and tells you, quoting the report",
    "report": "changes nothing: delivery news, not a failure",
    "stranger": "changes nothing: you are told, and the invitation waits for the inviter",
}


def _as_answer(mail: Mail) -> dict[str, Any]:
    """What the daemon makes of this mail when it belongs to an invitation (`answer_kind`,
    the same call): a bounce fails it, delivery news (`report`) changes nothing."""
    kind, why = answer_kind(mail)
    lines = mail.delivery.recipients if mail.delivery else ()
    return {
        "answer_kind": kind,
        "answer_reason": why,
        "answer_effect": ANSWER_EFFECTS[kind],
        "delivery": [
            {
                "recipient": r.recipient,
                "action": r.action,
                "status": r.status,
                "diagnostic": r.diagnostic,
            }
            for r in lines
        ],
    }
