"""The RFC 3834 / RFC 5230 gates: mail an automatic responder must never answer.

Each gate is a small check that returns why it hits, an `Exempt` when it would hit but a
documented exception applies (a network's own, authenticated invitation mail legitimately
carries bulk and list headers), or None. Dovecot Pigeonhole's Sieve `vacation` is the
reference; `tests/conformance/` holds the cases derived from it, and the README's gate
table lists where askfirst is stricter. The decision table in `rules.py` runs them in order.
"""

from __future__ import annotations

from dataclasses import dataclass

from askfirst.addresses import is_network_address, is_system_address, system_sender
from askfirst.classify import Verdict
from askfirst.message import Mail


@dataclass(frozen=True)
class Context:
    """What the decision needs beyond the mail itself; gathered by the app from config/state."""

    owner_addresses: frozenset[str]
    recently_asked: bool = False
    allow: tuple[str, ...] = ()  # addresses or domains whose invitations go straight to the owner
    deny: tuple[str, ...] = ()  # addresses or domains never answered


@dataclass(frozen=True)
class Exempt:
    """The rule would hit, but an explicit exception applies; recorded with its reason."""

    reason: str


def network_trigger(mail: Mail, verdict: Verdict) -> bool:
    """A known network's own invitation mail (From its domain, not a phishing suspect):
    the one documented exception to the bulk/list gates. A person's mail, or another
    responder's, does not get it."""
    return (
        verdict.network not in (None, "email")
        and is_network_address(mail.from_addr)
        and not verdict.phishing_suspect
        and verdict.authenticated is not False
    )


def _exempt_or(found: str | None, mail: Mail, verdict: Verdict) -> str | Exempt | None:
    if found and network_trigger(mail, verdict):
        return Exempt(f"{found} on {verdict.network}'s own invitation mail")
    return found


def own_address(mail: Mail, verdict: Verdict, ctx: Context) -> str | None:
    """From or the envelope sender is the owner (or an alias): never answer oneself."""
    for source, address in (("From", mail.from_addr), ("Return-Path", mail.envelope_from)):
        if address and address.lower() in ctx.owner_addresses:
            return f"{source} {address} is the owner's own address"
    return None


def auto_submitted(mail: Mail, verdict: Verdict, ctx: Context) -> str | Exempt | None:
    """Any copy whose whole value is not `no` (a comment counts: Pigeonhole compares the
    whole field)."""
    for value in mail.header_all("auto-submitted"):
        if value.strip().lower() != "no":
            return _exempt_or(f"Auto-Submitted: {value.strip().lower()}", mail, verdict)
    return None


def list_or_bulk(mail: Mail, verdict: Verdict, ctx: Context) -> str | Exempt | None:
    """Every RFC 2369 / RFC 2919 list header, and any copy of Precedence bulk/junk/list."""
    found = mail.list_header
    if found:
        return _exempt_or(f"mailing-list header {_title(found)}", mail, verdict)
    for value in mail.header_all("precedence"):
        if value.strip().lower() in ("bulk", "junk", "list"):
            return _exempt_or(f"Precedence: {value.strip().lower()}", mail, verdict)
    return None


def suppressed(mail: Mail, verdict: Verdict, ctx: Context) -> str | Exempt | None:
    """X-Auto-Response-Suppress with All or OOF in any copy (AutoReply alone does not:
    as Pigeonhole, askfirst's mail is the kind Microsoft calls OOF)."""
    for value in mail.header_all("x-auto-response-suppress"):
        tokens = {t.strip().lower() for t in value.replace(";", ",").split(",")}
        if tokens & {"all", "oof"}:
            return _exempt_or(f"X-Auto-Response-Suppress: {value}", mail, verdict)
    return None


def null_sender(mail: Mail, verdict: Verdict, ctx: Context) -> str | Exempt | None:
    if mail.envelope_from == "":
        return _exempt_or("null Return-Path (<>): a bounce or notification", mail, verdict)
    return None


def system_sender_gate(mail: Mail, verdict: Verdict, ctx: Context) -> str | Exempt | None:
    """The envelope sender and From against MAILER-DAEMON, LISTSERV, majordomo, owner-*,
    *-request, *-bounces and the noreply forms (`addresses.system_sender`)."""
    for source, address in (("Return-Path", mail.envelope_from), ("From", mail.from_addr)):
        if not (address and system_sender(address)):
            continue
        found = f"{source} {address} is a system or noreply sender"
        if source == "Return-Path" and verdict.network != "email" and is_network_address(address):
            return Exempt(f"{found}: {verdict.network}'s own bounce address on its invitation")
        return _exempt_or(found, mail, verdict)
    if verdict.network == "email" and (not mail.from_addr or is_system_address(mail.from_addr)):
        return f"From {mail.from_addr or '<>'} is a network, notification or system address"
    return None


def not_addressed(mail: Mail, verdict: Verdict, ctx: Context) -> str | None:
    """A person's mail that reached us without naming us (a list, a Bcc to others) is not
    for us. The owner is named when one of their addresses is in To, Cc, Bcc or
    Resent-To/-Cc/-Bcc; the envelope recipients the delivering server recorded
    (Delivered-To, X-Original-To) count as the owner's addresses too, so mail to an alias
    that is not in `owner.aliases` still counts. They are not proof on their own: every
    delivered mail carries them, a Bcc and a list post too."""
    if verdict.network != "email" or not ctx.owner_addresses:
        return None
    named = {a.lower() for a in (*mail.to, *mail.cc, *mail.bcc, *mail.resent_to)}
    if named & (ctx.owner_addresses | {a.lower() for a in mail.delivered_to}):
        return None
    return "the owner is not in To, Cc, Bcc or Resent-* (implicit delivery)"


def _title(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-"))
