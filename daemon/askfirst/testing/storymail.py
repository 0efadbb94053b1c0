"""The demo's people and the mails they send: the owner, alice, bob, carol, dave the
phisher and erin (on modern LinkedIn, see `networkmail`), and builders for an invitation in
the 2012-13 LinkedIn format, a forged one, a reply and any plain mail. The tests build their
mails with these too (like tests/mails.py; the package never imports tests/)."""

from __future__ import annotations

import uuid
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime

from askfirst.clock import SystemClock

OWNER = "owner@example.test"
OWNER_NAME = "Pat Owner"
ALICE = ("Alice Example", "alice@example.test")
BOB = ("Bob Builder", "bob@example.test")
CAROL = ("Carol Jones", "carol@example.test")
DAVE = ("Dave Miller", "dave@example.test")  # the phisher's own mailbox (his Reply-To)
ERIN = ("Erin Okafor", "erin-okafor-1a2b3c")  # a LinkedIn member: name and profile slug
BOILERPLATE = "I'd like to add you to my professional network on LinkedIn."
CAROL_NOTE = (
    "We sat next to each other at the Python meetup in Leeds last week and talked "
    "about IMAP IDLE. I'd like to stay in touch."
)
ALICE_ANSWER = (
    "Hi Pat,\n\nfair question! I run the data team at Example Ltd and read your talk on "
    "mail automation; I'd love to compare notes on IMAP some time.\n\nAlice\n"
)
PHISH_HOST = "www.linkedin.com.isd-confirm.example.net"
AUTHSERV_ID = "mx.example.test"  # the owner's MX stamps Authentication-Results with this
PHISH_AUTH = (
    f"{AUTHSERV_ID}; spf=fail smtp.mailfrom=linkedin.com; dkim=fail "
    'reason="signature verification failed" header.d=linkedin.com; '
    "dmarc=fail (p=REJECT) header.from=linkedin.com"
)


def build_mail(sender: str, to: str, subject: str, body: str, **headers: str) -> EmailMessage:
    """A plain-text mail as a person's client would send it (the tests build theirs too)."""
    msg = EmailMessage(policy=email_policy.SMTP)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(SystemClock().now())
    domain = sender.rpartition("@")[2].rstrip(">") or "example.test"
    msg["Message-ID"] = headers.pop("message_id", f"<{uuid.uuid4().hex}@{domain}>")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def linkedin_2012(
    name: str,
    email: str,
    note: str = BOILERPLATE,
    link_host: str = "www.linkedin.com",
    sender: str | None = None,
    to: str = OWNER,
    **headers: str,
) -> EmailMessage:
    """An invitation in the 2012-13 LinkedIn format: From is the inviter's own address."""
    first = name.split()[0]
    isd = 10_000_000_000 + uuid.uuid4().int % 90_000_000_000  # one invitation id per mail
    body = (
        "LinkedIn\n------------\n\n"
        "Pat,\n\n"
        f"{note}\n\n"
        f"- {first}\n\n"
        f"{name}\nSenior Engineer at Example Ltd\nLondon, United Kingdom\n\n"
        f"Confirm that you know {name}:\n"
        f"https://{link_host}/e/-3wy1w2-hb4ms4qz-4v/isd/{isd}/9xm2Pqz_/?hs=false&tok=0\n\n"
        "--\nYou are receiving Invitation to Connect emails. Click to unsubscribe:\n"
        f"http://{link_host}/e/-3wy1w2-hb4ms4qz-4v/z2oU7dKDzpt2G7xQz2FC2SclHmnUGzmsk0c/goo/\n\n"
        "(c) 2012, LinkedIn Corporation. 2029 Stierlin Ct, Mountain View, CA 94043, USA\n"
    )
    if sender is None:  # the owner's MX vouches for the inviter's own domain
        sender = f"{name} <{email}>"
        domain = email.rpartition("@")[2]
        headers.setdefault(
            "Authentication_Results",
            f"{AUTHSERV_ID}; dkim=pass header.d={domain}; dmarc=pass header.from={domain}",
        )
    return build_mail(sender, to, "Invitation to connect on LinkedIn", body, **headers)


def phishing_invitation() -> EmailMessage:
    """A forged LinkedIn invitation: From spoofs linkedin.com (DKIM and DMARC fail at the
    owner's MX), the links go to a look-alike host, and Reply-To is the phisher's mailbox."""
    name, email = DAVE
    return linkedin_2012(
        name,
        email,
        link_host=PHISH_HOST,
        sender=f"{name} via LinkedIn <invitations@linkedin.com>",
        Reply_To=f"{name} <{email}>",
        Authentication_Results=PHISH_AUTH,
        Return_Path="<bounce-7731@mass-mailer.example.top>",
    )


def reply(original: bytes, sender: str, body: str, to: str = OWNER) -> EmailMessage:
    """An answer to `original`, threaded through In-Reply-To and References."""
    parent = message_from_bytes(original, policy=email_policy.default)
    parent_id = str(parent["Message-ID"])
    refs = f"{parent.get('References', '')} {parent_id}".strip()
    subject = str(parent["Subject"])
    subject = subject if subject.lower().startswith("re:") else f"Re: {subject}"
    return build_mail(sender, to, subject, body, In_Reply_To=parent_id, References=refs)
