"""Decide what to do with a classified mail: ask, hand over, or leave it alone.

The policy is one table, read top to bottom like a mail filter: the first rule that hits
decides. Every rule that was looked at is recorded with its reason, so `explain` can say
exactly why (and which RFC section was applied).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from askfirst.classify import Verdict, is_network_address, is_system_address
from askfirst.message import Mail

Action = Literal["ask", "hand_over", "ignore"]


@dataclass(frozen=True)
class Context:
    """What the decision needs beyond the mail itself; gathered by the app from config/state."""

    owner_addresses: frozenset[str]
    recently_asked: bool = False
    allow: tuple[str, ...] = ()  # addresses or domains whose invitations go straight to the owner
    deny: tuple[str, ...] = ()  # addresses or domains never answered


def listed(entries: tuple[str, ...], address: str) -> str | None:
    """The entry that covers `address`: the address itself, its domain or a parent domain."""
    address = address.lower()
    domain = address.rpartition("@")[2]
    for entry in entries:
        entry = entry.lower().lstrip("@")
        if entry == address or (address and (domain == entry or domain.endswith("." + entry))):
            return entry
    return None


def template_set(sets: dict[str, str], email: str, network: str) -> str | None:
    """The template set a rule picks for this inviter: by address, domain, then network."""
    for entry, chosen in sorted(sets.items(), key=lambda kv: -len(kv[0])):
        if listed((entry,), email) or entry.lower() == network:
            return chosen
    return None


@dataclass(frozen=True)
class Decision:
    action: Action
    rule: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Exempt:
    """The rule would hit, but an explicit exception applies; recorded with its reason."""

    reason: str


Check = Callable[[Mail, Verdict, Context], "str | Exempt | None"]


@dataclass(frozen=True)
class Rule:
    name: str
    check: Check
    action: Action
    rfc: str = ""


def _own_address(mail: Mail, verdict: Verdict, ctx: Context) -> str | None:
    if mail.from_addr in ctx.owner_addresses:
        return f"From {mail.from_addr} is the owner's own address"
    return None


def _not_invitation(mail: Mail, verdict: Verdict, ctx: Context) -> str | None:
    return None if verdict.is_invitation else "not an invitation"


def _network_trigger(mail: Mail, verdict: Verdict) -> bool:
    """A known network's own invitation mail legitimately carries bulk/list headers; a
    person's mail (or another responder's) does not get that exception."""
    return verdict.network not in (None, "email") and is_network_address(mail.from_addr)


def _auto_submitted(mail: Mail, verdict: Verdict, ctx: Context) -> str | Exempt | None:
    value = mail.header("auto-submitted").split(";")[0].strip().lower()
    if not value or value == "no":
        return None
    if _network_trigger(mail, verdict):
        return Exempt(f"Auto-Submitted: {value} on {verdict.network}'s own invitation mail")
    return f"Auto-Submitted: {value}"


def _list_or_bulk(mail: Mail, verdict: Verdict, ctx: Context) -> str | Exempt | None:
    found = None
    if mail.header("list-id") or mail.header("list-unsubscribe"):
        found = "mailing-list headers (List-*)"
    elif mail.header("precedence").lower() in ("bulk", "junk", "list"):
        found = f"Precedence: {mail.header('precedence').lower()}"
    if found and _network_trigger(mail, verdict):
        return Exempt(f"{found} on {verdict.network}'s own invitation mail")
    return found


def _system_sender(mail: Mail, verdict: Verdict, ctx: Context) -> str | None:
    if verdict.network == "email" and (not mail.from_addr or is_system_address(mail.from_addr)):
        return f"sender {mail.from_addr or '<>'} is a system or noreply address"
    return None


def _phishing_suspect(mail: Mail, verdict: Verdict, ctx: Context) -> str | None:
    if verdict.phishing_suspect:
        why = next((r for r in verdict.reasons if r.startswith("authenticity: suspect")), "")
        return f"phishing suspect: {why.removeprefix('authenticity: suspect, ')}"
    return None


def _unverified(mail: Mail, verdict: Verdict, ctx: Context) -> str | None:
    return f"not authenticated: {verdict.unverified}" if verdict.unverified else None


def _suppressed(mail: Mail, verdict: Verdict, ctx: Context) -> str | None:
    value = mail.header("x-auto-response-suppress").lower()
    tokens = {t.strip() for t in value.replace(";", ",").split(",")}
    if verdict.network == "email" and tokens & {"all", "oof"}:
        return f"X-Auto-Response-Suppress: {value}"
    return None


def _null_sender(mail: Mail, verdict: Verdict, ctx: Context) -> str | None:
    if verdict.network == "email" and mail.header("return-path").strip() in ("<>", "< >"):
        return "null Return-Path (<>): a bounce or notification"
    return None


def _not_addressed(mail: Mail, verdict: Verdict, ctx: Context) -> str | None:
    """A person's mail that reached us without naming us (a list, a Bcc) is not for us."""
    if verdict.network != "email" or not ctx.owner_addresses:
        return None
    if ctx.owner_addresses & {*mail.to, *mail.cc}:
        return None
    return "the owner is not in To or Cc (implicit delivery)"


def _denied(mail: Mail, verdict: Verdict, ctx: Context) -> str | None:
    entry = listed(ctx.deny, verdict.reply_address or mail.from_addr)
    return f"{entry} is on the deny list (rules.deny)" if entry else None


def _allowed(mail: Mail, verdict: Verdict, ctx: Context) -> str | None:
    entry = listed(ctx.allow, verdict.reply_address or mail.from_addr)
    return f"{entry} is on the allow list (rules.allow)" if entry else None


def _personal_note(mail: Mail, verdict: Verdict, ctx: Context) -> str | None:
    return "the invitation carries a personal note" if verdict.boilerplate is False else None


def _unreachable(mail: Mail, verdict: Verdict, ctx: Context) -> str | None:
    return None if verdict.reply_address else "no address where a reply reaches the inviter"


def _recently_asked(mail: Mail, verdict: Verdict, ctx: Context) -> str | None:
    return (
        "this address was asked recently (lifecycle.ask_again_after)"
        if ctx.recently_asked
        else None
    )


def _boilerplate(mail: Mail, verdict: Verdict, ctx: Context) -> str | None:
    return "boilerplate invitation from a reachable inviter"


RULES: tuple[Rule, ...] = (
    Rule("own-address", _own_address, "ignore", "Pigeonhole vacation: never answer oneself"),
    Rule("not-invitation", _not_invitation, "ignore"),
    Rule("phishing-suspect", _phishing_suspect, "hand_over", "RFC 8601; DKIM/DMARC alignment"),
    Rule("unverified", _unverified, "hand_over", "RFC 8601 §5; classify.authenticity = require"),
    Rule("auto-submitted", _auto_submitted, "ignore", "RFC 3834 §2, RFC 5230 §4.6"),
    Rule("list-or-bulk", _list_or_bulk, "ignore", "RFC 3834 §2, RFC 5230 §4.6"),
    Rule("auto-response-suppress", _suppressed, "ignore", "Microsoft; honoured by Pigeonhole"),
    Rule("null-sender", _null_sender, "ignore", "RFC 3834 §2, RFC 5230 §4.6"),
    Rule("system-sender", _system_sender, "ignore", "RFC 3834 §2"),
    Rule("not-addressed", _not_addressed, "ignore", "RFC 3834 §2, RFC 5230 §4.5"),
    Rule("denied", _denied, "ignore"),
    Rule("allowed", _allowed, "hand_over"),
    Rule("personal-note", _personal_note, "hand_over"),
    Rule("unreachable", _unreachable, "hand_over", "deviates from RFC 3834 §4 (see README)"),
    Rule("recently-asked", _recently_asked, "ignore", "RFC 3834 §2 (once per period)"),
    Rule("boilerplate", _boilerplate, "ask"),
)


def decide(mail: Mail, verdict: Verdict, ctx: Context) -> Decision:
    """The first rule that hits decides; every rule looked at is recorded, with its RFC."""
    reasons: list[str] = []
    for rule in RULES:
        hit = rule.check(mail, verdict, ctx)
        cite = f" [{rule.rfc}]" if rule.rfc else ""
        if hit is None:
            reasons.append(f"{rule.name}: miss{cite}")
            continue
        if isinstance(hit, Exempt):
            reasons.append(f"{rule.name}: miss, exception: {hit.reason}{cite}")
            continue
        reasons.append(f"{rule.name}: hit, {hit} -> {rule.action}{cite}")
        return Decision(action=rule.action, rule=rule.name, reasons=tuple(reasons))
    raise AssertionError("the last rule always hits")  # pragma: no cover
