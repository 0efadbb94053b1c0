"""Templates in, RFC 5322 bytes out.

Each template is a text file whose first line is ``Subject: ...``, then a blank line, then
the body, so the owner changes the tone of every message by editing one file. Templates run
in Jinja's immutable sandbox with `StrictUndefined`: a typo fails at `askfirst check`, not
in a mail to a stranger. Nothing from an incoming mail reaches a header unless it went
through `clean` (no CR/LF, ever).
"""

from __future__ import annotations

import functools
import hashlib
import quopri
import re
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.header import Header
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    TemplateError,
)
from jinja2.sandbox import ImmutableSandboxedEnvironment

from askfirst.byhand import links
from askfirst.headerfields import clean
from askfirst.lifecycle import Invitation
from askfirst.mails import MailKind

TEMPLATE_NAMES = ("ask", "decline", "handover", "byhand", "remind")
NETWORK_NAMES = {"linkedin": "LinkedIn", "facebook": "Facebook", "xing": "XING", "email": "e-mail"}
LOOP_HEADER = "X-Askfirst"


class TemplateProblem(Exception):
    """A template is missing, does not render, or lacks its Subject line."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


class Templates:
    """The owner's templates folder first, then the built-in set shipped in the package
    (`askfirst/templates`), so a folder holding only some of the files still works."""

    def __init__(self, directory: Path | None = None) -> None:
        loaders: list[BaseLoader] = [FileSystemLoader(directory)] if directory else []
        self._env = ImmutableSandboxedEnvironment(
            loader=ChoiceLoader([*loaders, PackageLoader("askfirst", "templates")]),
            undefined=StrictUndefined,
            autoescape=False,  # plain-text mail; HTML escaping would garble names
            keep_trailing_newline=True,
            auto_reload=False,
        )

    def render(self, name: str, context: Mapping[str, Any]) -> Rendered:
        try:
            text = self._env.get_template(f"{name}.txt.j2").render(**context)
        except TemplateError as exc:
            raise TemplateProblem(f"templates/{name}.txt.j2: {exc}") from exc
        head, _, body = text.lstrip("\n").partition("\n")
        if not head.lower().startswith("subject:"):
            raise TemplateProblem(f"templates/{name}.txt.j2: the first line must be 'Subject: ...'")
        return Rendered(subject=clean(head[len("subject:") :], 250), body=body.lstrip("\n"))

    @functools.cached_property
    def _names(self) -> frozenset[str]:
        """The template files there are (listed once: no reload while askfirst runs)."""
        return frozenset(self._env.list_templates(extensions=["j2"]))

    @functools.cached_property
    def fingerprint(self) -> str:
        """Changes whenever any template's text changes (approve_first starts over).
        Read once: templates are not reloaded while askfirst runs."""
        digest = hashlib.sha256()
        for name in sorted(self._names):
            source, _, _ = self._env.loader.get_source(self._env, name)  # type: ignore[union-attr]
            digest.update(name.encode() + b"\0" + source.encode())
        return digest.hexdigest()[:16]

    def choose(self, kind: str, *qualifiers: str | None) -> str:
        """The most specific template there is: `ask.formal.de`, `ask.formal`, `ask.de`,
        then `ask` (qualifiers: a template set chosen by a rule, then the language)."""
        names = self._names
        tags = [q for q in qualifiers if q]
        candidates = [".".join([kind, *tags]), *(f"{kind}.{tag}" for tag in tags)]
        return next((c for c in candidates if f"{c}.txt.j2" in names), kind)

    def check(self) -> list[str]:
        """Render every template (and every variant) with sample data; the problems found."""
        problems = []
        names = sorted(
            n.removesuffix(".txt.j2") for n in self._names if n.split(".")[0] in TEMPLATE_NAMES
        )
        for name in sorted(set(names) | set(TEMPLATE_NAMES)):
            try:
                self.render(name, sample_context())
            except TemplateProblem as exc:
                problems.append(str(exc))
        return problems


def first_name(name: str) -> str:
    return name.split()[0] if name.split() else ""


def person(name: str, email: str) -> dict[str, str]:
    name = _capped(safe_text(name), NAME_LIMIT)
    return {"name": name, "first_name": first_name(name), "email": email}


SUBJECT_LIMIT = 78  # enough for a client to group the thread; threading itself is References
NAME_LIMIT = 64
_REPLY_PREFIX = re.compile(
    r"^\s*((re|aw|sv|vs|antw|r|rif|fw|fwd|wg|tr)\s*(\[\d+\])?\s*:\s*)+", re.I
)


def safe_text(value: str) -> str:
    """The sender's text as it may appear in a mail to them: one line, without control,
    bidi, zero-width or other format characters (Unicode category Cc and Cf)."""
    kept = "".join(c for c in value if unicodedata.category(c) not in ("Cc", "Cf"))
    return clean(kept, 1000)


def thread_subject(subject: str) -> str:
    """The invitation's subject as the ask quotes it: no more than threading needs (reply
    prefixes dropped, capped at `SUBJECT_LIMIT` on a word boundary, format characters gone)."""
    return _capped(_REPLY_PREFIX.sub("", safe_text(subject)), SUBJECT_LIMIT)


def _capped(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] if " " in text[: limit - 1] else text[: limit - 1]
    return cut.rstrip(" ,;:-") + "…"


def sample_context() -> dict[str, Any]:
    """The variables every template gets, with sample values (also used by `check`)."""
    return {
        "owner": person("Pat Owner", "pat@example.org"),
        "inviter": person("Sam Sample", "sam@example.net"),
        "network": "LinkedIn",
        "invitation": {"subject": "Invitation to connect on LinkedIn", "note": ""},
        "decline_after_days": 7,
        "reason": "the inviter answered",
        "state": "answered",
        "ask_text": "Hi Sam, ...",
        "flagged": ["the invitation", "their answer"],
        "decline_text": "Hi Sam, ...",
        "not_their_answer": False,
        "invitation_url": "https://www.linkedin.com/mynetwork/invitation-manager/",
        "profile_url": "https://www.linkedin.com/in/sam-sample/",
        "remind_on": "2026-01-08",
    }


def context_for(
    inv: Invitation, owner: tuple[str, str], decline_after: timedelta
) -> dict[str, Any]:
    """The documented template variables for one invitation (see README, Templates)."""
    return {
        "owner": person(*owner),
        "inviter": person(inv.inviter_name, inv.inviter_email),
        "network": NETWORK_NAMES.get(inv.network, inv.network),
        "invitation": {
            "subject": thread_subject(inv.subject),
            "note": inv.decision.note,
        },
        "decline_after_days": decline_after.days,
        "reason": inv.reason,
        "state": str(inv.state),
        "ask_text": "",
        "flagged": [],
        "decline_text": "",
        "not_their_answer": False,  # a mail in the thread came from someone else
        **links(inv),
        "remind_on": inv.decline_due_at.strftime("%Y-%m-%d") if inv.decline_due_at else "",
    }


# Why an invitation was handed to the owner, as a sentence (the decision record keeps the
# rule trace for `explain`; a notice to a person should not read like one).
_HANDED_OVER = {
    "personal-note": "the invitation carries a personal note, which deserves your own answer",
    "unreachable": "the invitation gives no address where my question would reach them",
    "allowed": "the sender is on your allow list ({detail})",
    "phishing-suspect": "it may be an imitation, so I did not answer it ({detail})",
}
_TRACE = re.compile(r"[\w-]+: hit, (.*?) -> [\w_]+(?: \[[^\]]*\])?")


def why_told(inv: Invitation, reason: str) -> str:
    """The reason for a notice in words: a rule trace ("unreachable: hit, ... -> hand_over
    [RFC ...]") becomes the sentence for its rule; a reason in words stays as it is."""
    trace = _TRACE.fullmatch(reason)
    rule = inv.decision.rule
    if trace is None:
        return reason
    detail = trace.group(1)
    return _HANDED_OVER.get(rule, "{detail}").format(detail=detail)


@dataclass(frozen=True)
class Outgoing:
    message_id: str
    raw: bytes


def new_message_id(domain: str) -> str:
    """Random, not time-based: nothing here reads the clock."""
    return f"<{uuid.uuid4().hex}@{domain}>"


def compose(
    rendered: Rendered,
    *,
    sender: tuple[str, str],
    to: tuple[str, str],
    date: datetime,
    message_id: str,
    in_reply_to: str | None = None,
    references: tuple[str, ...] = (),
    auto_submitted: str = "auto-replied",
    kind: MailKind | None = None,
) -> Outgoing:
    """A plain-text UTF-8 mail, 7-bit clean (quoted-printable), CRLF, every header one
    logical line. Built by hand: the email package's policy machinery costs ~1 ms a mail,
    which a sweep of many declines feels; the tests read the result back with it."""
    headers = [
        ("From", _address(*sender)),
        ("To", _address(*to)),
        ("Subject", _text(rendered.subject)),
        ("Date", format_datetime(date)),
        ("Message-ID", message_id),
    ]
    if in_reply_to:
        refs = list(dict.fromkeys((*references, in_reply_to)))
        headers += [("In-Reply-To", in_reply_to), ("References", "\r\n ".join(refs))]
    headers += [
        ("Auto-Submitted", auto_submitted),  # RFC 3834 §5
        ("X-Auto-Response-Suppress", "All"),  # keeps Exchange out-of-office replies away
    ]
    if kind is not None:
        headers.append((LOOP_HEADER, kind))  # another askfirst never takes this for an invitation
    headers += [
        ("MIME-Version", "1.0"),
        ("Content-Type", 'text/plain; charset="utf-8"'),
        ("Content-Transfer-Encoding", "quoted-printable"),
    ]
    # ASCII, unless an address or a Message-ID is not: then UTF-8 (RFC 6532), sent with
    # SMTPUTF8 (smtp.py) or not at all.
    head = "".join(f"{name}: {value}\r\n" for name, value in headers).encode("utf-8")
    body = rendered.body.replace("\r\n", "\n")
    encoded = quopri.encodestring(body.encode("utf-8")).replace(b"\n", b"\r\n")
    return Outgoing(message_id=message_id, raw=head + b"\r\n" + encoded)


def _address(name: str, email: str) -> str:
    name = clean(name, 200)
    if not name or name.isascii():
        return formataddr((name, email))  # quotes specials such as "," or "."
    encoded = Header(name, "utf-8").encode(linesep="\r\n")
    return f"{encoded} <{email}>"


def _text(value: str) -> str:
    value = clean(value, 250)
    return value if value.isascii() else Header(value, "utf-8").encode(linesep="\r\n")
