"""Who is behind an address: software (system senders), a role, or the same organisation.

Small documented tables, pure functions. The gates (`gates.py`) use `system_sender` for
RFC 3834 §2; the reachability check (`classify.reply_address`) uses all three so that an
ask never goes to a list, a role mailbox or a third party a Reply-To points at.
"""

from __future__ import annotations

import re

from askfirst.networks import BUILTIN

# Where nobody reads replies: networks' notification and relay mailboxes, bounces, noreply.
SYSTEM_LOCALPART = re.compile(
    r"^(no-?reply|do-?not-?reply|donotreply|notifications?|notification\+.*|mailer-daemon"
    r"|postmaster|bounces?|invitations?|member|connections|messages?-noreply|.*-noreply"
    r"|.*-bounces?|owner-.*|.*-request|listserv|majordomo|hit-reply|inmail-hit-reply|update\+.*)$",
    re.I,
)

# Software that sends mail on behalf of nobody in particular. Pigeonhole's vacation list
# (MAILER-DAEMON, LISTSERV, majordomo, owner-*, *-request*) plus the noreply forms and
# *-bounce(s) (VERP included): askfirst is stricter than Pigeonhole there, because RFC 3834
# §2 asks a responder not to answer mail "sent by automatic processes" and nobody reads
# replies at those mailboxes. Matched case-insensitively (Pigeonhole matches owner- only
# in lower case).
_SYSTEM = re.compile(
    r"^(mailer-daemon|listserv|majordomo|owner-.+|.*-request.*|.*-?bounces?([+=-].*)?"
    r"|no[-_.]?reply([+-].*)?|.*[-_.]no[-_.]?reply|do[-_.]?not[-_.]?reply|donotreply)$",
    re.I,
)

# Role mailboxes: read by whoever is on duty, not by the person who invited. An ask sent
# there is a mail to a stranger, so a role address is never asked (the invitation is
# handed over). Kept small on purpose; extend it here, with a reason.
ROLE_LOCALPARTS = frozenset(
    {
        "abuse",
        "admin",
        "administrator",
        "all",
        "billing",
        "careers",
        "contact",
        "hello",
        "help",
        "helpdesk",
        "hostmaster",
        "hr",
        "info",
        "jobs",
        "marketing",
        "news",
        "newsletter",
        "office",
        "postmaster",
        "press",
        "sales",
        "security",
        "staff",
        "support",
        "team",
        "webmaster",
    }
)

# Public mail providers: sharing one of these domains says nothing about who someone is.
PERSONAL_MAIL_PROVIDERS = frozenset(
    {
        "aol.com",
        "gmail.com",
        "gmx.de",
        "gmx.net",
        "googlemail.com",
        "hotmail.com",
        "icloud.com",
        "live.com",
        "mail.ru",
        "me.com",
        "outlook.com",
        "proton.me",
        "protonmail.com",
        "t-online.de",
        "web.de",
        "yahoo.com",
        "yandex.ru",
    }
)

# Second-level labels under which anyone can register (example.co.uk, example.com.au).
_PUBLIC_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "ac", "gov", "edu", "ne", "or"})


def local_part(address: str) -> str:
    return address.rpartition("@")[0].lower()


def system_sender(address: str) -> bool:
    """MAILER-DAEMON, LISTSERV, majordomo, owner-*, *-request, *-bounces, noreply forms."""
    return bool(address) and bool(_SYSTEM.match(local_part(address)))


def role_address(address: str) -> bool:
    """info@, sales@, support@, admin@ ... (`ROLE_LOCALPARTS`), also with a +tag."""
    return local_part(address).partition("+")[0] in ROLE_LOCALPARTS


def organisational_domain(address_or_domain: str) -> str:
    """The registrable domain, by a simple heuristic instead of the Public Suffix List:
    the last two labels, or three when a two-letter country code follows a public
    second-level label (co.uk, com.au, ac.jp). Good enough to tell mail.example.com from
    example.com; a wrong guess only makes askfirst hand over instead of asking."""
    labels = address_or_domain.rpartition("@")[2].lower().rstrip(".").split(".")
    take = 2
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _PUBLIC_SECOND_LEVEL:
        take = 3
    return ".".join(labels[-take:])


def same_organisation(a: str, b: str) -> bool:
    return bool(a) and bool(b) and organisational_domain(a) == organisational_domain(b)


def is_network_address(address: str) -> bool:
    return any(a.owns(address) for a in BUILTIN)


def is_system_address(address: str) -> bool:
    """A network, notification, relay, bounce or noreply address: nobody reads replies there."""
    local = address.partition("@")[0]
    return is_network_address(address) or bool(SYSTEM_LOCALPART.match(local))
