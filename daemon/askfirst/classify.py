"""Is this mail an invitation? From which network, with a personal note or boilerplate,
from whom, is it authentic, and where does a reply reach them? Pure: a `Mail` in, a
`Verdict` out, and it never raises.

Every step records why it decided what it did (`Verdict.reasons`), which is what
`askfirst explain` prints and what is stored with each invitation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from askfirst.addresses import (
    SYSTEM_LOCALPART,
    is_network_address,
    is_system_address,
    role_address,
    same_organisation,
    system_sender,
)
from askfirst.answer import delivery_report
from askfirst.authenticity import judge
from askfirst.config import Classify, NetworkRule
from askfirst.message import Mail
from askfirst.networks import BUILTIN, Adapter, identify, invitation_key
from askfirst.notes import contains_default, direct_note, intent, slot_note, strip_boilerplate
from askfirst.posing import imitated, poses_as


@dataclass(frozen=True)
class Verdict:
    is_invitation: bool
    network: str | None = None
    label: str = "other"  # "invitation", a look-alike ("reminder", ...) or "other"
    boilerplate: bool | None = None
    personal_note: str = ""
    inviter_name: str = ""
    reply_address: str | None = None
    profile_url: str | None = None
    language: str | None = None
    invitation_key: str | None = None
    authenticated: bool | None = None  # None: not checked or no trusted results
    phishing_suspect: bool = False
    unverified: str = ""  # why a network's mail lacks the pass `authenticity = require` needs
    reasons: tuple[str, ...] = ()


def classify(
    mail: Mail, policy: Classify | None = None, own: frozenset[str] = frozenset()
) -> Verdict:
    """`own`: the owner's addresses, which are never an inviter's reply address."""
    policy = policy or Classify()
    reasons: list[str] = []
    if mail.header("x-askfirst"):
        return Verdict(False, reasons=("invitation: no, a message sent by askfirst (loop guard)",))
    adapters = (*_user_adapters(tuple(policy.networks)), *BUILTIN)
    ident = identify(mail, adapters)
    reasons.extend(ident.evidence)
    claimed = (
        ident.adapter
        or next((a for a in adapters if a.owns(mail.from_addr)), None)
        or imitated(mail, adapters)
    )
    authenticated, suspect = _authenticity(mail, claimed, policy, reasons)
    unverified = _unverified(mail, claimed, policy, authenticated, suspect)
    network = ident.adapter.id if ident.adapter else None
    key = invitation_key(mail.text) if ident.lookalike != "digest" else None  # digest: several
    if ident.lookalike:
        return Verdict(
            False,
            network,
            ident.lookalike,
            invitation_key=key,
            authenticated=authenticated,
            phishing_suspect=suspect,
            unverified=unverified,
            reasons=tuple(reasons),
        )
    name = _inviter_name(mail)
    language_of_wish = None
    if ident.adapter:
        note, card = slot_note(mail.text, name) if ident.adapter.has_note else ("", "")
        name = name if name.lower() != ident.adapter.name.lower() else card or name
    elif mail.from_addr and delivery_report(mail):
        reasons.append("invitation: no, a delivery report (it may quote one)")
        return Verdict(False, label="bounce", reasons=tuple(reasons))
    elif not is_network_address(mail.from_addr) and contains_default(mail.text, policy.sentences):
        network, note = "email", direct_note(mail.text)
        reasons.append("invitation: yes, a direct mail that uses a network's default sentence")
    elif _may_ask_in_own_words(mail) and (wish := intent(mail.text)):
        network, note = "email", direct_note(mail.text)
        reasons.append(f"invitation: yes, a direct mail that asks to connect ({wish})")
        language_of_wish = wish
    else:
        reasons.append("invitation: no, no network marker and no default invitation sentence")
        return Verdict(
            False, authenticated=authenticated, phishing_suspect=suspect, reasons=tuple(reasons)
        )
    leftover, language = strip_boilerplate(note, policy.sentences)
    boilerplate = not leftover
    reasons.append(
        f"note: boilerplate ({language or 'empty note'})"
        if boilerplate
        else f"note: personal ({len(leftover.split())} words beyond any default sentence)"
    )
    return Verdict(
        is_invitation=True,
        network=network,
        label="invitation",
        boilerplate=boilerplate,
        personal_note="" if boilerplate else note.strip(),
        inviter_name=name,
        reply_address=None
        if suspect
        else reply_address(mail, reasons, own, _network_reply_to(mail, claimed, authenticated)),
        profile_url=_profile_url(mail.text),
        language=language or language_of_wish or _language_hint(leftover),
        invitation_key=key,
        authenticated=authenticated,
        phishing_suspect=suspect,
        unverified=unverified,
        reasons=tuple(reasons),
    )


def _authenticity(
    mail: Mail, claimed: Adapter | None, policy: Classify, reasons: list[str]
) -> tuple[bool | None, bool]:
    """(authenticated, phishing suspect). A network's own domain follows `authenticity`
    (require: trusted results that show no aligned pass are suspect; prefer: only an
    explicit fail is); a person's domain is only suspect on an explicit fail; a mail that
    dresses up as a network from a foreign domain is always suspect."""
    domain = mail.from_addr.rpartition("@")[2]
    local = mail.from_addr.partition("@")[0]
    system = bool(SYSTEM_LOCALPART.match(local))
    if claimed and (why := poses_as(mail, claimed, system_mailbox=system)):
        reasons.append(f"authenticity: suspect, poses as {claimed.name}: {why}")
        return False, True
    if policy.authenticity == "off" or not domain:
        reasons.append("authenticity: not checked (classify.authenticity = off)")
        return None, False
    result = judge(list(mail.auth_results), policy.authserv_id, domain)
    own = claimed is not None and claimed.owns(mail.from_addr)
    if not result.checked:
        reasons.append(f"authenticity: unknown ({result.evidence})")
        return None, False
    if result.passed:
        reasons.append(f"authenticity: {domain} verified ({result.evidence})")
        return True, False
    strict = own and policy.authenticity == "require"
    if result.failed or strict:
        reasons.append(f"authenticity: suspect, no aligned pass for {domain} ({result.evidence})")
        return False, True
    reasons.append(f"authenticity: not verified for {domain} ({result.evidence})")
    return False, False


def _may_ask_in_own_words(mail: Mail) -> bool:
    """Only a person writing to us asks in their own words: not a system, role or network
    sender, not a list post (a newsletter's "join our network" is not an invitation)."""
    sender = mail.from_addr
    return not (is_system_address(sender) or role_address(sender) or mail.list_header)


def _network_reply_to(mail: Mail, claimed: Adapter | None, authenticated: bool | None) -> bool:
    """The mail comes from a network's own domain, verified: its Reply-To is the inviter."""
    return claimed is not None and claimed.owns(mail.from_addr) and authenticated is True


def _unverified(
    mail: Mail, claimed: Adapter | None, policy: Classify, authenticated: bool | None, suspect: bool
) -> str:
    """`authenticity = "require"`: a mail from a network's own domain is asked only with a
    trusted, aligned pass; without one (no `authserv_id`, no result from it) it is handed
    over. Suspects are handed over by their own rule."""
    if policy.authenticity != "require" or suspect or authenticated:
        return ""
    if claimed is None or not claimed.owns(mail.from_addr):
        return ""
    if not policy.authserv_id.strip():
        return f"{claimed.name} mail, and classify.authserv_id is unset"
    return f"{claimed.name} mail without a trusted Authentication-Results pass"


def _user_adapters(rules: tuple[NetworkRule, ...]) -> tuple[Adapter, ...]:
    """The owner's own networks as adapters (re.compile keeps its own cache)."""
    return tuple(
        Adapter(
            id=r.id,
            name=r.name or r.id,
            domains=tuple(d.lower() for d in r.domains),
            headers=tuple((k.lower(), re.compile(v, re.I)) for k, v in r.headers.items()),
            subject=tuple(re.compile(p, re.I | re.M) for p in r.subject),
            body=tuple(re.compile(p, re.I | re.M) for p in r.body),
            sender=tuple(re.compile(p, re.I) for p in r.sender),
        )
        for r in rules
    )


def reply_address(
    mail: Mail,
    reasons: list[str],
    own: frozenset[str] = frozenset(),
    network_reply_to: bool = False,
) -> str | None:
    """A personal Reply-To (see `_reply_to_trusted`), else a personal From; None when no
    personal address remains (the invitation is then handed over).

    Deliberately not RFC 3834 section 4 (reply to Return-Path only): for an invitation the
    Return-Path is the network's bounce address, which reaches nobody."""
    for source, candidates in (("Reply-To", mail.reply_to), ("From", (mail.from_addr,))):
        for address in candidates:
            if address in own:
                reasons.append(f"reachable: {source} {address} is the owner's own address")
                continue
            if source == "Reply-To" and not _reply_to_trusted(mail, address, network_reply_to):
                reasons.append(
                    f"reachable: Reply-To {address} is not used: it differs from From and is"
                    " neither an authenticated network's inviter nor in From's organisation"
                )
                continue
            why = _not_personal(address)
            if address and not why:
                reasons.append(
                    f"reachable: yes, {source} {address} is a personal address "
                    "(not the Return-Path: deliberate departure from RFC 3834 §4)"
                )
                return address
            if address:
                reasons.append(f"reachable: {source} {address} is {why}")
    reasons.append("reachable: no personal address; hand over to the owner")
    return None


def _reply_to_trusted(mail: Mail, address: str, network_reply_to: bool) -> bool:
    """No reflector: a Reply-To that differs from From is used only when From is an
    authenticated network whose format puts the inviter there, or when it lies in From's
    own organisational domain (`addresses.organisational_domain`, a heuristic)."""
    return (
        address == mail.from_addr or network_reply_to or same_organisation(address, mail.from_addr)
    )


def _not_personal(address: str) -> str | None:
    """Why nobody in particular reads this address: a network, system, list or role box."""
    if is_system_address(address) or system_sender(address):
        return "a network, notification, list or system address"
    if role_address(address):
        return "a role address (addresses.ROLE_LOCALPARTS)"
    return None


def _inviter_name(mail: Mail) -> str:
    name = re.sub(r"\s*\(?via (LinkedIn|Facebook)\)?\s*$", "", mail.from_name, flags=re.I).strip()
    if name and name.lower() not in ("linkedin", "facebook", "linkedin invitations", "xing"):
        return name
    intro = (
        r"^Confirm that you know (.+?):",
        r"^([^,(\n]+?)(?: \([^)\n]*\))? m(?:ö|oe)chte sich mit (?:Ihnen|dir) ",
        r"^([^,\n]+?)(?:,[^\n]*)? (?:sent you an invitation to connect|wants to be friends"
        r"|would like to connect|requested to add you|wants to connect)",
    )
    for pattern in intro:
        found = re.search(pattern, mail.text, re.M) or re.search(pattern, mail.subject)
        if found:
            return found.group(1).strip()
    return name


def _profile_url(text: str) -> str | None:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^View (profile|.+'s profile):?", line.strip(), re.I):
            url = re.search(r"https?://\S+", " ".join(lines[i : i + 2]))
            if url:
                return url.group(0)
    return None


def _language_hint(text: str) -> str | None:
    """A personal note's language, roughly, from its commonest short words."""
    words = set(text.split())
    hints = {
        "en": {"the", "and", "you", "your", "i", "to", "we"},
        "de": {"und", "ich", "sie", "wir", "der", "die", "das"},
        "fr": {"et", "je", "vous", "nous", "le", "la", "les"},
        "es": {"y", "yo", "usted", "nosotros", "el", "los", "que"},
        "nl": {"en", "ik", "je", "wij", "het", "de", "een"},
        "pt": {"e", "eu", "você", "nós", "o", "os", "que"},
        "it": {"e", "io", "lei", "noi", "il", "gli", "che"},
    }
    best = max(hints, key=lambda lang: len(words & hints[lang]))
    return best if len(words & hints[best]) >= 2 else None
