"""Which network built this mail, and is it an invitation or one of its look-alikes?

One table of adapters. A built-in adapter (LinkedIn across its eras, Facebook) or a user's
own (`[[classify.networks]]` in the config) recognises its mails by sender domain, headers,
subject and body; a table of look-alikes (reminders, acceptances, digests, people-you-may-
know, member messages, job alerts, newsletters, notifications) says what is *not* an
invitation. Pure data plus one small interpreter, so "why?" is always one list of hits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from askfirst.message import Mail
from askfirst.notes import own_text

Pattern = re.Pattern[str]


def _rx(*patterns: str) -> tuple[Pattern, ...]:
    return tuple(re.compile(p, re.I | re.M) for p in patterns)


@dataclass(frozen=True)
class Adapter:
    id: str
    name: str
    domains: tuple[str, ...]
    headers: tuple[tuple[str, Pattern], ...] = ()  # an invitation by header
    subject: tuple[Pattern, ...] = ()
    body: tuple[Pattern, ...] = ()
    sender: tuple[Pattern, ...] = ()  # matched against the From address
    has_note: bool = True  # does the format carry a note from the inviter?

    def owns(self, address: str) -> bool:
        domain = address.rpartition("@")[2]
        return any(domain == d or domain.endswith("." + d) for d in self.domains)


@dataclass(frozen=True)
class Lookalike:
    label: str
    headers: tuple[tuple[str, Pattern], ...] = ()
    subject: tuple[Pattern, ...] = ()
    body: tuple[Pattern, ...] = ()


LINKEDIN = Adapter(
    id="linkedin",
    name="LinkedIn",
    domains=("linkedin.com",),
    headers=(("x-linkedin-template", re.compile(r"m2m_invite|invite_guest|invite_member", re.I)),),
    subject=_rx(
        r"^invitation to connect on linkedin",
        r", please add me to your linkedin network",
        r"^(i want to connect|.+ wants to connect( with you)?)$",
        r"\binvitation to connect$",
        r"would like to connect on linkedin$",
        r"^undangan untuk terhubung di linkedin",
        r"^(invitación|einladung|invitation) (para|zur|à) .*linkedin",
    ),
    body=_rx(
        r"(?<!\S)(?>\S*?linkedin\.com/e/)\S*/isd/",  # one try per token: linear
        r"invite-accept|accept-invitation|invitationId[=/]",
        r"ek=invite_guest|EML_comm_afe|/blk/I\d+_\d+",
        r"You are receiving Invitation (to Connect )?emails",
        r"You received an invitation to connect",
        r"requested to add you as a connection on LinkedIn",
        r"^Confirm that you know .+:",
    ),
)
FACEBOOK = Adapter(
    id="facebook",
    name="Facebook",
    domains=("facebookmail.com", "facebook.com"),
    headers=(("x-facebook-notify", re.compile(r"^friend\b", re.I)),),
    subject=_rx(
        r"wants to be friends( with you)? on facebook", r"added you as a friend on facebook"
    ),
    body=_rx(r"wants to be friends with you on Facebook"),
    has_note=False,
)
BUILTIN: tuple[Adapter, ...] = (LINKEDIN, FACEBOOK)

LOOKALIKES: tuple[Lookalike, ...] = (
    Lookalike(
        "member message",
        headers=(
            ("x-linkedin-class", re.compile(r"^(INMAIL|MBR-TO-MBR)\b", re.I)),
            ("x-linkedin-template", re.compile(r"inmail|messaging", re.I)),
        ),
        subject=_rx(r" sent you a (new )?message"),
    ),
    Lookalike(
        "reminder",
        headers=(("x-linkedin-template", re.compile(r"reminder", re.I)),),
        subject=_rx(
            r"^reminder:",
            r"invitation is (still )?waiting for your response",
            r"^(re)?invitation reminder",
        ),
        body=_rx(
            r"(is|still) waiting for your response",
            r"would like to connect on LinkedIn\. How would you like to respond",
        ),
    ),
    Lookalike(
        "acceptance",
        headers=(("x-linkedin-template", re.compile(r"accept", re.I)),),
        subject=_rx(
            r"accepted your (linkedin )?invitation",
            r"start a conversation with your new connection",
            r"confirmed you as a friend",
        ),
        body=_rx(r"has accepted your invitation", r"You are receiving Accepted invitations emails"),
    ),
    Lookalike(
        "digest",
        headers=(
            ("x-linkedin-template", re.compile(r"digest|what_you_missed|notification", re.I)),
        ),
        subject=_rx(
            r"you have \d+ new invitations?",
            r"see what your network has been up to",
            r"you have \d+ (new )?notifications",
            r"notifications pending",
        ),
        body=_rx(r"You are receiving Activity You Missed emails"),
    ),
    Lookalike(
        "people you may know",
        headers=(("x-linkedin-template", re.compile(r"pymk|suggestion", re.I)),),
        subject=_rx(r"people you may know"),
        body=_rx(r"You are receiving People You May Know"),
    ),
    Lookalike(
        "job alert",
        headers=(
            ("x-linkedin-class", re.compile(r"^(SAVEDSEARCH|JOBS-TO-MBR)\b", re.I)),
            ("x-linkedin-template", re.compile(r"job", re.I)),
        ),
        subject=_rx(r"top job picks", r"jobs? (alert|you may be interested)"),
        body=_rx(r"You are receiving Job Alert emails"),
    ),
    Lookalike(
        "newsletter",
        headers=(("x-linkedin-template", re.compile(r"editorial", re.I)),),
        subject=_rx(r"^top headlines", r"daily rundown", r"newsletter"),
    ),
    Lookalike(
        "notification",
        headers=(
            ("x-linkedin-class", re.compile(r"^(SECURITY|EMAIL-DEFAULT)\b", re.I)),
            ("x-linkedin-template", re.compile(r".", re.I)),
        ),
        subject=_rx(
            r"appeared in \d+ searches",
            r"your profile was viewed",
            r"here's your pin",
            r"has invited you to join",
        ),
    ),
)
# Only in links to the network itself: an imitation's links prove nothing. Each pattern
# starts at most once per whitespace-free token (the look-behind) and commits to the first
# "linkedin.com/" in it (the atomic group), so a token of "linkedin.com/" repeated 20,000
# times costs one scan, not one per repetition (plain `linkedin\.com/\S*?...` is quadratic).
_LINK = r"(?<!\S)(?>\S*?linkedin\.com/)\S*?"
_KEY = (
    re.compile(_LINK + r"invitationId[=/](\d+)", re.I),
    re.compile(_LINK + r"/isd/(\d+)/", re.I),
    re.compile(_LINK + r"/blk/I(\d+)_\d+", re.I),
)


@dataclass(frozen=True)
class Identity:
    """What the adapters found: the network (if any), and the look-alike label (if any)."""

    adapter: Adapter | None = None
    lookalike: str | None = None
    evidence: tuple[str, ...] = field(default_factory=tuple)


def identify(mail: Mail, adapters: Sequence[Adapter]) -> Identity:
    """The first adapter whose invitation markers hit; look-alikes are checked first,
    except that an invitation template header outranks the look-alike wording."""
    subject, text = mail.subject, own_text(mail.text)
    for adapter in adapters:
        header_hits = [
            f"{n} {mail.header(n)!r}" for n, rx in adapter.headers if rx.search(mail.header(n))
        ]
        if header_hits and not _template_says_other(mail):
            return Identity(
                adapter, None, tuple(f"invitation: {adapter.name} {h}" for h in header_hits)
            )
    for look in LOOKALIKES:
        why = _lookalike_hit(look, mail)
        if why:
            owner = next(
                (a for a in adapters if a.owns(mail.from_addr) or _mentions(a, mail)), None
            )
            return Identity(owner, look.label, (f"not an invitation: a {look.label} ({why})",))
    for adapter in adapters:
        vouched = adapter.owns(mail.from_addr) or _mentions(adapter, mail)
        hits = [f"subject {p.pattern!r}" for p in adapter.subject if vouched and p.search(subject)]
        hits += [f"body {p.pattern!r}" for p in adapter.body if p.search(text)]
        if adapter.sender and not any(p.search(mail.from_addr) for p in adapter.sender):
            continue
        if hits:
            return Identity(adapter, None, (f"invitation: {adapter.name} " + "; ".join(hits),))
    return Identity()


def invitation_key(text: str) -> str | None:
    """The network's invitation id (shared by an invitation and its reminders)."""
    for pattern in _KEY:
        found = pattern.search(text)
        if found:
            return found.group(1)
    return None


def _template_says_other(mail: Mail) -> bool:
    template = mail.header("x-linkedin-template")
    return bool(re.search(r"reminder|accept|digest|pymk|suggestion", template, re.I))


def _lookalike_hit(look: Lookalike, mail: Mail) -> str | None:
    for name, rx in look.headers:
        if mail.header(name) and rx.search(mail.header(name)):
            return f"{name}: {mail.header(name)}"
    for pattern in look.subject:
        if pattern.search(mail.subject):
            return f"subject matches {pattern.pattern!r}"
    for pattern in look.body:
        if pattern.search(mail.text):
            return f"body matches {pattern.pattern!r}"
    return None


def _mentions(adapter: Adapter, mail: Mail) -> bool:
    return adapter.name.lower() in f"{mail.from_name} {mail.subject}".lower()
