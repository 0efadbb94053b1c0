"""A network's own mail saying that someone wrote to the owner there: who, and is it real?

When a network hides the inviter's address, the owner asks by hand inside the network, and
the only sign of an answer is the network's notification: LinkedIn's "<First> just messaged
you" (From `"<Full Name> via LinkedIn" <messaging-digest-noreply@linkedin.com>`), its
digests and InMails, Facebook's "<Name> sent you a message", XING's "<Name> hat Ihnen eine
Nachricht gesendet". Pure: a `Mail` in, a `NetworkNotification` (or None) out.

A notification counts only when it is authentic: sent from the network's own domain (or a
subdomain; never a look-alike such as `linkedin.com.example` or an IDN homograph) and
vouched for by an aligned DKIM/DMARC pass in the owner's trusted Authentication-Results
(`authenticity.judge`). Fake "X sent you a message" mails are a common lure.

Who wrote: the full display name (never the first name in a subject) and, where the mail
links the person's profile card, the profile slug. Links in the mail's header area
(`trk=...header...`) point to the owner's own profile and are dropped.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from askfirst.authenticity import judge
from askfirst.message import Mail

Kind = Literal["message", "inmail"]


@dataclass(frozen=True)
class Network:
    id: str
    name: str
    domains: tuple[str, ...]
    profile: re.Pattern[str]  # a profile link's path; group 1 is the slug
    message: tuple[re.Pattern[str], ...]  # subject/body: someone wrote; group 1 may be a name
    inmail: re.Pattern[str] | None = None  # X-LinkedIn-Class / -Template, From mailbox

    def owns(self, address: str) -> bool:
        domain = address.rpartition("@")[2]
        return domain.isascii() and self.owns_host(domain)

    def owns_host(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(host == d or host.endswith("." + d) for d in self.domains)


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.I | re.M)


NETWORKS: tuple[Network, ...] = (
    Network(
        "linkedin",
        "LinkedIn",
        ("linkedin.com",),
        _rx(r"^/(?:comm/)?in/([^/?#]+)/?$"),
        (
            _rx(r"^(.+?) just messaged you$"),
            _rx(r"^(.+?),? and .+ sent new messages$"),
            _rx(r"^(.+?) sent you a new message$"),
            _rx(r"^(.+?) acabou de enviar uma mensagem"),
        ),
        _rx(r"inmail"),
    ),
    Network(
        "facebook",
        "Facebook",
        ("facebookmail.com", "facebook.com"),
        _rx(r"^/([a-z0-9.]{5,})/?$"),
        (_rx(r"^(.+?) sent you a message\.?$"),),
    ),
    Network(
        "xing",
        "XING",
        ("xing.com",),
        _rx(r"^/profile/([^/?#]+)/?$"),
        (
            _rx(r"^(.+?) hat (?:Ihnen|dir) eine Nachricht gesendet"),
            _rx(r"^()Neue Recruiting-Nachricht"),
        ),
    ),
)
_MESSAGE_HEADERS = _rx(r"member_message|messaging|inmail")
_SYSTEM_NAME = _rx(r"^(linkedin|linkedin messaging|facebook|xing)$")
_ANCHOR = re.compile(r"<a\s[^>]*?href\s*=\s*[\"']([^\"']+)[\"'][^>]*>(.*?)</a\s*>", re.I | re.S)
_URL = re.compile(r"https?://[^\s<>\"']+")


@dataclass(frozen=True)
class Sender:
    name: str  # full display name as the mail shows it ("" when it shows none)
    slug: str | None  # the normalised profile slug, when the mail links the profile


@dataclass(frozen=True)
class NetworkNotification:
    network: str
    kind: Kind
    senders: tuple[Sender, ...]
    authentic: bool
    why: str  # what made it authentic, or why it does not count

    def describe(self) -> str:
        who = ", ".join(_who(s) for s in self.senders) or "someone"
        what = "an InMail" if self.kind == "inmail" else "a message"
        return f"{NAMES.get(self.network, self.network)} says {who} sent you {what}"


NAMES = {n.id: n.name for n in NETWORKS}


def recognise(mail: Mail, authserv_id: str) -> NetworkNotification | None:
    """The network notification this mail is, or claims to be; None when it is neither."""
    for network in NETWORKS:
        kind, subject_name = _claims(mail, network)
        if kind is None:
            continue
        authentic, why = _authentic(mail, network, authserv_id)
        return NetworkNotification(
            network.id, kind, _senders(mail, network, subject_name), authentic, why
        )
    return None


def _claims(mail: Mail, network: Network) -> tuple[Kind | None, str]:
    """Does the mail say it is this network's message notification? (kind, name in it)"""
    marked = (
        network.owns(mail.from_addr)
        or network.name.lower() in mail.from_name.lower()
        or any(k.startswith(f"x-{network.id}-") and v for k, v in mail.headers.items())
    )
    if not marked:
        return None, ""
    looks = f"{mail.header(f'x-{network.id}-class')} {mail.header(f'x-{network.id}-template')}"
    local = mail.from_addr.partition("@")[0]
    if network.inmail and (network.inmail.search(looks) or network.inmail.search(local)):
        return "inmail", ""
    first_lines = "\n".join(mail.text.strip().splitlines()[:3])
    for pattern in network.message:
        found = pattern.search(mail.subject) or pattern.search(first_lines)
        if found:
            return "message", found.group(1).strip()
    if _MESSAGE_HEADERS.search(looks):
        return "message", ""
    return None, ""


def _authentic(mail: Mail, network: Network, authserv_id: str) -> tuple[bool, str]:
    domain = mail.from_addr.rpartition("@")[2] or "<>"
    if not network.owns(mail.from_addr):
        return False, f"sent from {domain}, which is not {network.name}'s domain"
    result = judge(list(mail.auth_results), authserv_id, domain)
    if not result.checked:
        return False, f"not authenticated: {result.evidence}"
    if not result.passed:
        return False, f"no aligned DKIM/DMARC pass for {domain} ({result.evidence})"
    return True, f"{domain} verified ({result.evidence})"


def _senders(mail: Mail, network: Network, subject_name: str) -> tuple[Sender, ...]:
    """Who wrote. One person: the From name (minus "via LinkedIn") or, for senders that
    sign as the network itself, the full name in the subject (Facebook, XING); a digest
    names its people only in its profile cards."""
    cards = profile_cards(mail, network)
    name = strip_via(mail.from_name)
    if not name or _SYSTEM_NAME.match(name):
        name = subject_name if network.id != "linkedin" else ""  # LinkedIn: first names only
    if not name:
        return tuple(Sender(n, s) for s, n in cards)
    if len(cards) == 1:
        return (Sender(name, cards[0][0]),)
    same = [s for s, n in cards if n and normalise_name(n) == normalise_name(name)]
    return (Sender(name, same[0] if same else None),)


def profile_cards(mail: Mail, network: Network) -> list[tuple[str, str]]:
    """(slug, name) of every person the mail links by profile, in order, without the
    owner's own (the header area's link) and without repeats."""
    found: dict[str, str] = {}
    links = [(html.unescape(h), _text(t)) for h, t in _ANCHOR.findall(mail.html)]
    links += [(u, "") for u in _URL.findall(mail.text)]
    for url, text in links:
        slug = profile_slug(url, network)
        if slug and (not found.get(slug) or not text):
            found[slug] = found.get(slug) or text
    return list(found.items())


def profile_slug(url: str, network: Network) -> str | None:
    """`https://de.linkedin.com/comm/in/Zoe-Marquez-77a0b3/?trk=...` -> `zoe-marquez-77a0b3`;
    None for other links and for the owner's own (linked from the header area)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if not network.owns_host(parts.hostname or ""):
        return None
    found = network.profile.match(parts.path)
    trk = " ".join(v for vs in parse_qs(parts.query).values() for v in vs).lower()
    if not found or "header" in trk:
        return None
    return unicodedata.normalize("NFC", unquote(found.group(1))).lower()


def invitation_slug(mail: Mail, network_id: str) -> str | None:
    """The inviter's profile slug in an invitation mail, when it links one."""
    network = next((n for n in NETWORKS if n.id == network_id), None)
    cards = profile_cards(mail, network) if network else []
    return cards[0][0] if cards else None


def strip_via(name: str) -> str:
    name = name.strip().strip('"')
    return re.sub(r"\s*\(?via (LinkedIn|Facebook|XING)\)?\s*$", "", name, flags=re.I).strip()


def normalise_name(name: str) -> str:
    """For comparing full names: no " via LinkedIn", Unicode NFKC, case folded, one space."""
    folded = unicodedata.normalize("NFKC", strip_via(name)).casefold()
    return " ".join(unicodedata.normalize("NFKC", folded).split())


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]*>", " ", fragment)).split())


def _who(sender: Sender) -> str:
    if sender.name and sender.slug:
        return f"{sender.name} ({sender.slug})"
    return sender.name or sender.slug or "someone"
