"""Decide what to do with a classified mail: ask, hand over, or leave it alone.

The policy is one table, read top to bottom like a mail filter: the first rule that hits
decides. Every rule that was looked at is recorded with its reason, so `explain` can say
exactly why (and which RFC section was applied).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from askfirst import gates
from askfirst.classify import Verdict
from askfirst.gates import Context, Exempt
from askfirst.message import Mail

__all__ = ["RULES", "Context", "Decision", "Exempt", "Rule", "decide", "listed", "template_set"]

Action = Literal["ask", "hand_over", "ignore"]


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


Check = Callable[[Mail, Verdict, Context], "str | Exempt | None"]


@dataclass(frozen=True)
class Rule:
    name: str
    check: Check
    action: Action
    rfc: str = ""


def _not_invitation(mail: Mail, verdict: Verdict, ctx: Context) -> str | None:
    return None if verdict.is_invitation else "not an invitation"


def _phishing_suspect(mail: Mail, verdict: Verdict, ctx: Context) -> str | None:
    if verdict.phishing_suspect:
        why = next((r for r in verdict.reasons if r.startswith("authenticity: suspect")), "")
        return f"phishing suspect: {why.removeprefix('authenticity: suspect, ')}"
    return None


def _unverified(mail: Mail, verdict: Verdict, ctx: Context) -> str | None:
    return f"not authenticated: {verdict.unverified}" if verdict.unverified else None


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
    Rule("own-address", gates.own_address, "ignore", "Pigeonhole vacation: never answer oneself"),
    Rule("not-invitation", _not_invitation, "ignore"),
    Rule("phishing-suspect", _phishing_suspect, "hand_over", "RFC 8601; DKIM/DMARC alignment"),
    Rule("unverified", _unverified, "hand_over", "RFC 8601 §5; classify.authenticity = require"),
    Rule("auto-submitted", gates.auto_submitted, "ignore", "RFC 3834 §2, RFC 5230 §4.6"),
    Rule("list-or-bulk", gates.list_or_bulk, "ignore", "RFC 3834 §2, RFC 2369, RFC 2919"),
    Rule("auto-response-suppress", gates.suppressed, "ignore", "MS-OXCMAIL; Pigeonhole"),
    Rule("null-sender", gates.null_sender, "ignore", "RFC 3834 §2, RFC 5230 §4.6"),
    Rule("system-sender", gates.system_sender_gate, "ignore", "RFC 3834 §2, RFC 5230 §4.6"),
    Rule("not-addressed", gates.not_addressed, "ignore", "RFC 3834 §2, RFC 5230 §4.5"),
    Rule("denied", _denied, "ignore"),
    Rule("allowed", _allowed, "hand_over"),
    Rule("personal-note", _personal_note, "hand_over"),
    Rule("unreachable", _unreachable, "hand_over", "deviates from RFC 3834 §4 (see README)"),
    Rule("recently-asked", _recently_asked, "ignore", "RFC 3834 §2 (once per period)"),
    Rule("boilerplate", _boilerplate, "ask"),
)


# A hit on one of these means the mail is no invitation at all, whatever sentence it
# quotes (a newsletter or a list mail citing "I'd like to connect with you"): it is not
# recorded, so `status` shows no `skipped` row for it; the log line and `explain` keep why.
NOT_AN_INVITATION = frozenset({"own-address", "not-invitation", "list-or-bulk"})


def records_invitation(verdict: Verdict, decision: Decision) -> bool:
    """Whether the daemon records this mail as an invitation (`status` lists it)."""
    return verdict.is_invitation and decision.rule not in NOT_AN_INVITATION


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
