"""Builders for the mails the tests deliver: invitations, answers, out-of-office, bounces."""

from __future__ import annotations

import uuid
from pathlib import Path

from askfirst.testing import storymail
from askfirst.testing.storymail import build_mail

OWNER = "owner@example.test"


def _msgid() -> str:
    return f"<{uuid.uuid4().hex}@example.test>"


def linkedin_2012(
    name: str,
    email: str,
    note: str = "I'd like to add you to my professional network on LinkedIn.",
    to: str = OWNER,
) -> bytes:
    """The 2012-13 LinkedIn format: From is the inviter's own address (no auth results)."""
    return storymail.linkedin_2012(name, email, note, sender=f"{name} <{email}>", to=to).as_bytes()


def direct_invite(name: str, email: str, extra: str = "", to: str = OWNER) -> bytes:
    """A plain mail from a person that uses LinkedIn's default sentence."""
    body = f"Hi Pat,\n\nI'd like to connect with you on LinkedIn.{extra}\n\n{name.split()[0]}\n"
    return build_mail(f"{name} <{email}>", to, "Connecting", body).as_bytes()


def plain(sender: str, subject: str = "Lunch on Friday?", to: str = OWNER) -> bytes:
    return build_mail(sender, to, subject, "Shall we meet at noon?\n").as_bytes()


def reply(original: bytes, sender: str, body: str, to: str = OWNER, **headers: str) -> bytes:
    """An answer to `original` (threaded through In-Reply-To and References)."""
    from email import message_from_bytes
    from email import policy as email_policy

    parent = message_from_bytes(original, policy=email_policy.default)
    parent_id = str(parent["Message-ID"])
    refs = f"{parent.get('References', '')} {parent_id}".strip()
    subject = str(parent["Subject"])
    subject = subject if subject.lower().startswith("re:") else f"Re: {subject}"
    return build_mail(
        sender, to, subject, body, In_Reply_To=parent_id, References=refs, **headers
    ).as_bytes()


def out_of_office(original: bytes, sender: str) -> bytes:
    return reply(
        original, sender, "I am out of the office until Monday.", Auto_Submitted="auto-replied"
    ).replace(b"Subject: Re:", b"Subject: Out of Office: Re:", 1)


DSN_DIR = Path(__file__).parent / "dsn"


def postfix_report(action: str, reported_message_id: str) -> bytes:
    """A real Postfix delivery report (tests/dsn: `failed`, `delayed` or `relayed`) about
    the mail with `reported_message_id`."""
    raw = (DSN_DIR / f"postfix-{action}.eml").read_bytes()
    return raw.replace(f"<ask-{action}@example.test>".encode(), reported_message_id.encode())


def bounce(bounced_message_id: str, to: str = OWNER) -> bytes:
    """A delivery status notification (RFC 3464) quoting the bounced message's headers."""
    boundary = "b0unce"
    return (
        f"From: Mail Delivery System <MAILER-DAEMON@example.test>\r\n"
        f"To: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {_msgid()}\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
        f"\r\n--{boundary}\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; example.test\r\n\r\nFinal-Recipient: rfc822; gone@example.test\r\n"
        f"Action: failed\r\nStatus: 5.1.1\r\n"
        f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: {OWNER}\r\nMessage-ID: {bounced_message_id}\r\n"
        f"--{boundary}--\r\n"
    ).encode()
