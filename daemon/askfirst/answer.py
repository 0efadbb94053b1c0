"""Tell a person's answer from an out-of-office, a bounce or other delivery news. Pure.

Only a genuine answer from the inviter hands the conversation to the owner; an
out-of-office never stops the decline, and a bounce means the ask never arrived. A delivery
status notification is read, not guessed (`dsn`): it is a bounce only when it says
`Action: failed`; a delay warning or a relay report is a `report`, which changes nothing.
A reply in the thread from anyone else (or a list post) is `stranger`: the owner is told,
and the invitation keeps waiting for the inviter.
"""

from __future__ import annotations

import re
from typing import Literal

from askfirst.addresses import PERSONAL_MAIL_PROVIDERS
from askfirst.message import Mail

AnswerKind = Literal["genuine", "automatic", "bounce", "report", "stranger"]

_OOO_SUBJECT = re.compile(
    r"(out of (the )?office|automatic reply|auto(matic)?[- ]?reply|autoreply|^auto:|away from"
    r"|on vacation|on holiday|abwesenheit|automatische antwort|réponse automatique"
    r"|absence|fuera de la oficina|respuesta automática|afwezig|niet aanwezig)",
    re.I,
)
_BOUNCE_SENDER = re.compile(r"^(mailer-daemon|postmaster)@", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"(undeliver|delivery status notification|returned mail|delivery failure|failure notice)", re.I
)


def delivery_report(mail: Mail) -> str | None:
    """Why this mail is a delivery report (a bounce), if it is one."""
    if mail.content_type == "multipart/report" or "multipart/report" in mail.header("content-type"):
        return "multipart/report (delivery status notification)"
    if _BOUNCE_SENDER.match(mail.from_addr) or not mail.from_addr:
        return f"sender {mail.from_addr or '<>'} is a mailer daemon"
    return None


def answer_kind(mail: Mail) -> tuple[AnswerKind, str]:
    """The kind of answer, and why (the daemon and `explain` both ask this)."""
    if mail.delivery is not None:
        if mail.delivery.failed:
            return "bounce", mail.delivery.summary()
        return "report", f"{mail.delivery.summary()} (not a failure)"
    report = delivery_report(mail)
    if report:
        return "bounce", report
    if _BOUNCE_SUBJECT.search(mail.subject):
        return "bounce", f"subject {mail.subject!r} reads like a bounce"
    auto = mail.header("auto-submitted").split(";")[0].strip().lower()
    if auto and auto != "no":
        return "automatic", f"Auto-Submitted: {auto}"
    for header in ("x-autoreply", "x-autorespond"):
        if mail.header(header):
            return "automatic", f"{header} present"
    if mail.header("precedence").lower() in ("auto_reply", "bulk", "junk"):
        return "automatic", f"Precedence: {mail.header('precedence').lower()}"
    if _OOO_SUBJECT.search(mail.subject):
        return "automatic", f"subject {mail.subject!r} reads like an out-of-office"
    return "genuine", "a person's reply"


def not_the_inviter(mail: Mail, inviter: str, authenticated: bool) -> str | None:
    """Why this mail is not the inviter's own answer; None when it is. It is when it comes
    from the inviter's address, or from their organisation's domain with a verified
    (DKIM/DMARC) pass, but never from a public mail provider's domain, and never as a
    list post."""
    if mail.list_header or mail.header("precedence").lower() == "list":
        return f"a list post ({mail.list_header or 'Precedence: list'}), not an answer"
    sender, inviter = mail.from_addr.lower(), inviter.lower()
    if sender and sender == inviter:
        return None
    domain = sender.rpartition("@")[2]
    if (
        authenticated
        and domain
        and domain == inviter.rpartition("@")[2]
        and domain not in PERSONAL_MAIL_PROVIDERS
    ):
        return None
    return f"someone else replied in the thread ({sender or '<>'}, not the inviter {inviter})"
