"""Is this mail an invitation? From which network, with a personal note or boilerplate,
from whom, and where does a reply reach them? Pure: a `Mail` in, a `Verdict` out.

Every step records why it decided what it did (`Verdict.reasons`), which is what
`askfirst explain` prints and what is stored with each invitation.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

from daemon.message import Mail

NETWORK_DOMAINS = ("linkedin.com", "facebookmail.com", "facebook.com")
_SYSTEM_LOCALPART = re.compile(
    r"^(no-?reply|do-?not-?reply|donotreply|notifications?|mailer-daemon|postmaster|bounces?"
    r"|invitations?|member|messages?-noreply|.*-noreply|.*-bounces?|owner-.*|.*-request)$"
)
_LINKEDIN_INVITE_TEMPLATE = re.compile(
    r"m2m_invite|invite_guest|invite_member|m2m_invitation", re.I
)
_LINKEDIN_NOT_INVITE = re.compile(r"reminder|accept|pymk|suggestion|digest", re.I)
_LINKEDIN_MARKERS = (
    (re.compile(r"linkedin\.com/e/\S*/isd/", re.I), "accept URL of the 2012-13 format (/isd/)"),
    (re.compile(r"invite-accept|accept-invitation|invitationId=", re.I), "invitation accept URL"),
    (re.compile(r"You are receiving Invitation (to Connect )?emails", re.I), "invitation footer"),
    (re.compile(r"You received an invitation to connect", re.I), "guest invitation footer"),
    (re.compile(r"^Confirm that you know .+:", re.I | re.M), "'Confirm that you know' line"),
    (re.compile(r"requested to add you as a connection on LinkedIn", re.I), "2010-12 request line"),
)
_LOOKALIKES = (
    (re.compile(r"has accepted your invitation|accepted your invitation", re.I), "acceptance"),
    (re.compile(r"is waiting for your response|still waiting for your response", re.I), "reminder"),
    (
        re.compile(r"You are receiving (Accepted invitations|Job Alert|Activity You Missed)", re.I),
        "other LinkedIn category",
    ),
)
_STOP_LINES = re.compile(
    r"^(- ?\S.*|--\s*|-{3,}|confirm that you know .*|accept invitation.*|view invitation.*"
    r"|view profile:?.*|accept:.*|view .*'s profile:?.*)$",
    re.I,
)
_GREETING = re.compile(
    r"^(hi|hello|hey|dear|hai|hallo|hola|bonjour|ciao|olá|ola|salut"
    r"|good (morning|afternoon|evening))\b[^.!?]{0,40}[,!:]?$",
    re.I,
)
_CLOSING = re.compile(
    r"^(best|regards|best regards|kind regards|thanks|thank you|cheers|greetings|all the best"
    r"|sincerely|viele grüße|saludos|cordialement|groeten|saluti)\b.{0,20}$",
    re.I,
)


@dataclass(frozen=True)
class Verdict:
    is_invitation: bool
    network: str | None = None
    boilerplate: bool | None = None
    personal_note: str = ""
    inviter_name: str = ""
    reply_address: str | None = None
    profile_url: str | None = None
    language: str | None = None
    authenticated: bool | None = None
    reasons: tuple[str, ...] = ()


def classify(mail: Mail) -> Verdict:
    """Never raises for any `Mail`."""
    reasons: list[str] = []
    network = _network(mail, reasons)
    if network is None:
        return Verdict(is_invitation=False, reasons=tuple(reasons))
    note = (
        _linkedin_note(mail.text, _inviter_name(mail))
        if network == "linkedin"
        else _direct_note(mail.text)
    )
    leftover, language = strip_boilerplate(note)
    boilerplate = not leftover
    reasons.append(
        f"note: boilerplate ({language or 'empty note'})"
        if boilerplate
        else f"note: personal ({len(leftover.split())} words beyond any default sentence)"
    )
    reply = reply_address(mail, reasons)
    reasons.append("authenticity: not checked (no trusted Authentication-Results)")
    return Verdict(
        is_invitation=True,
        network=network,
        boilerplate=boilerplate,
        personal_note="" if boilerplate else note.strip(),
        inviter_name=_inviter_name(mail),
        reply_address=reply,
        profile_url=_profile_url(mail.text),
        language=language,
        authenticated=None,
        reasons=tuple(reasons),
    )


def _network(mail: Mail, reasons: list[str]) -> str | None:
    """'linkedin' for a LinkedIn-built invitation, 'email' for a direct one, else None."""
    if mail.header("x-askfirst"):
        reasons.append("invitation: no, a message sent by askfirst (loop guard)")
        return None
    haystack = f"{mail.subject}\n{mail.text}"
    for pattern, what in _LOOKALIKES:
        if pattern.search(haystack):
            reasons.append(f"invitation: no, looks like an invitation but is a {what}")
            return None
    template = mail.header("x-linkedin-template")
    if template:
        if _LINKEDIN_INVITE_TEMPLATE.search(template) and not _LINKEDIN_NOT_INVITE.search(template):
            reasons.append(f"invitation: yes, X-LinkedIn-Template {template!r}")
            return "linkedin"
        reasons.append(f"invitation: no, X-LinkedIn-Template {template!r} is not an invitation")
        return None
    hits = [what for pattern, what in _LINKEDIN_MARKERS if pattern.search(mail.text)]
    if hits:
        reasons.append("invitation: yes, LinkedIn " + ", ".join(hits))
        return "linkedin"
    if re.match(r"invitation to connect on linkedin", mail.subject, re.I):
        reasons.append("invitation: yes, subject 'Invitation to connect on LinkedIn'")
        return "linkedin"
    if _domain(mail.from_addr) not in NETWORK_DOMAINS and _contains_default(mail.text):
        reasons.append("invitation: yes, a direct mail that uses a network's default sentence")
        return "email"
    reasons.append("invitation: no, no network marker and no default invitation sentence")
    return None


def _linkedin_note(text: str, inviter: str = "") -> str:
    """The note sits first in the body, after the 'LinkedIn' banner, before '- <first>'
    (2015-16: before the inviter's name block, '<Full Name>' / '<Headline>' / 'View profile')."""
    lines = [line.strip() for line in text.splitlines()]
    start = 0
    for i, line in enumerate(lines[:6]):
        if line.lower() == "linkedin" and i + 1 < len(lines) and set(lines[i + 1]) == {"-"}:
            start = i + 2
            break
        if "requested to add you as a connection" in line.lower():
            start = i + 1
            while start < len(lines) and (not lines[start] or set(lines[start]) == {"-"}):
                start += 1
            break
    note: list[str] = []
    for line in lines[start:]:
        if _STOP_LINES.match(line) or (inviter and line.casefold() == inviter.casefold()):
            break
        note.append(line)
    return "\n".join(note).strip()


def _direct_note(text: str) -> str:
    """A person's own mail: the text above the signature, without quoted lines."""
    kept: list[str] = []
    for line in text.splitlines():
        if line.rstrip() == "--" or line.startswith("-- "):
            break
        if re.match(r"^On .+wrote:$", line.strip()):
            break
        if not line.lstrip().startswith(">"):
            kept.append(line.strip())
    return "\n".join(kept).strip()


def normalise(text: str) -> str:
    """Lower case, straight quotes, no punctuation but apostrophes, single spaces."""
    text = unicodedata.normalize("NFKC", text).replace("’", "'").replace("‘", "'").lower()
    text = re.sub(r"[^\w'\s]", " ", text)
    return " ".join(text.split())


def strip_boilerplate(note: str) -> tuple[str, str | None]:
    """What the note says beyond greeting, signature and default sentences, and the
    language of the default sentence found (None when there was none)."""
    lines = [line for line in note.splitlines() if line.strip()]
    if lines and (_GREETING.match(lines[0]) or _is_salutation(lines[0])):
        lines = lines[1:]
    lines = _drop_signature(lines)
    body = normalise(" ".join(lines))
    language = None
    for lang, sentence in _defaults():
        if sentence and sentence in body:
            body = body.replace(sentence, " ")
            language = language or lang
    return " ".join(body.split()), language


def _is_salutation(line: str) -> bool:
    """'Pat,' alone on a line: a name and a comma."""
    return bool(re.fullmatch(r"[\w .'-]{1,40},", line.strip()))


def _drop_signature(lines: list[str]) -> list[str]:
    for i, line in enumerate(lines):
        if _CLOSING.match(line.strip()) or re.match(r"^-\s?\w", line.strip()):
            return lines[:i]
    last = lines[-1].rstrip() if lines else ""
    if len(lines) > 1 and len(last.split()) <= 3 and not last.endswith((".", "!", "?")):
        return lines[:-1]  # a bare name under the text ("Loved your talk!" is not one)
    return lines


@cache
def _defaults() -> tuple[tuple[str, str], ...]:
    data = tomllib.loads(resources.files("daemon").joinpath("boilerplate.toml").read_text("utf-8"))
    pairs = [(lang, normalise(s)) for lang, table in data.items() for s in table["sentences"]]
    return tuple(sorted(pairs, key=lambda p: -len(p[1])))


def _contains_default(text: str) -> bool:
    body = normalise(_direct_note(text))
    return any(sentence in body for _, sentence in _defaults())


def is_network_address(address: str) -> bool:
    domain = address.rpartition("@")[2]
    return any(domain == d or domain.endswith("." + d) for d in NETWORK_DOMAINS)


def is_system_address(address: str) -> bool:
    """A network, notification, relay, bounce or noreply address: nobody reads replies there."""
    local = address.partition("@")[0]
    return is_network_address(address) or bool(_SYSTEM_LOCALPART.match(local))


def reply_address(mail: Mail, reasons: list[str]) -> str | None:
    """A personal Reply-To, else a personal From; None when only system addresses remain.

    Deliberately not RFC 3834 section 4 (reply to Return-Path only): for an invitation the
    Return-Path is the network's bounce address, which reaches nobody."""
    for source, candidates in (("Reply-To", mail.reply_to), ("From", (mail.from_addr,))):
        for address in candidates:
            if address and not is_system_address(address):
                reasons.append(f"reachable: yes, {source} {address} is a personal address")
                return address
            if address:
                reasons.append(f"reachable: {source} {address} is a network or system address")
    reasons.append("reachable: no personal address; hand over to the owner")
    return None


def _inviter_name(mail: Mail) -> str:
    name = re.sub(r"\s*\(?via LinkedIn\)?\s*$", "", mail.from_name, flags=re.I).strip()
    if name and name.lower() not in ("linkedin", "facebook"):
        return name
    found = re.search(r"^Confirm that you know (.+?):", mail.text, re.M)
    return found.group(1).strip() if found else name


def _profile_url(text: str) -> str | None:
    for line in _lines_after(text, re.compile(r"^View (profile|.+'s profile):?", re.I)):
        url = re.search(r"https?://\S+", line)
        if url:
            return url.group(0)
    return None


def _lines_after(text: str, marker: re.Pattern[str]) -> Iterable[str]:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if marker.match(line.strip()):
            yield from lines[i : i + 2]


def _domain(address: str) -> str:
    return address.rpartition("@")[2]
