"""Modern LinkedIn mails for the demo and the tests: an invitation from
`invitations@linkedin.com` (no address of the inviter), its reminder, and the
"<First> just messaged you" notification, shaped like the labelled public samples in
tests/notifications/ (text part, HTML part with the owner's own header link and the
inviter's profile card, X-LinkedIn-* headers, the owner's MX's Authentication-Results).
"""

from __future__ import annotations

import uuid
from email.message import EmailMessage

from askfirst.testing.storymail import AUTHSERV_ID, OWNER, build_mail

OWN_SLUG = "pat-owner-mailsys"  # the owner's own profile, linked from every mail's header
PASS = (
    f"{AUTHSERV_ID}; dkim=pass header.d=linkedin.com header.i=@linkedin.com; "
    "spf=pass smtp.mailfrom=bounce.linkedin.com; dmarc=pass header.from=linkedin.com"
)
FAIL = (
    f"{AUTHSERV_ID}; dkim=fail header.d=linkedin.com; spf=fail smtp.mailfrom=linkedin.com; "
    "dmarc=fail (p=REJECT) header.from=linkedin.com"
)
LI = "https://www.linkedin.com/comm"


def _html(template: str, slug: str, name: str, extra: str) -> str:
    def card(n: int, what: str) -> str:
        return f"{LI}/in/{slug}?trk=eml-{template}-ProfileCard-{n}-{what}&amp;eid=x{n}"

    return (
        "<html><body><table><tr><td>"
        f'<a href="{LI}/in/{OWN_SLUG}?trk=eml-{template}-header-0-profile_glimmer">'
        '<img alt="Pat Owner"></a></td></tr><tr><td>'
        f'<a href="{card(0, "profile_image")}"><img alt="{name} profile picture"></a> '
        f'<span><a href="{card(0, "profile_name")}"> {name} </a></span>'
        f"{extra}</td></tr></table></body></html>"
    )


def _mail(
    sender: str, subject: str, text: str, html: str, auth: str | None, template: str
) -> bytes:
    headers = {"X_LinkedIn_Template": template, "Return_Path": "<s-x@bounce.linkedin.com>"}
    if auth is not None:
        headers["Authentication_Results"] = auth
    msg: EmailMessage = build_mail(sender, OWNER, subject, text, **headers)
    msg.add_alternative(html, subtype="html")
    return msg.as_bytes()


def invitation_id() -> str:
    return str(7_000_000_000_000_000_000 + uuid.uuid4().int % 10**18)


def linkedin_invitation(
    name: str, slug: str, invitation: str | None = None, *, reminder: bool = False
) -> bytes:
    """A 2017+ member invitation (or its reminder, same invitation id): boilerplate, and
    no address of the inviter anywhere."""
    invitation = invitation or invitation_id()
    template = "email_m2m_invite_reminder_01" if reminder else "email_m2m_invite_single_01"
    accept = f"{LI}/mynetwork/invite-accept/invitationId/{invitation}/sharedKey/Qx7mP2sA/"
    text = (
        f"Hi Pat,\n\nI'd like to join your LinkedIn network.\n\n{name}\n"
        "Engineering Lead at Example Ltd\n\n"
        f"View profile: {LI}/in/{slug}?trk=eml-{template}-hero-1-prof~name\n\n"
        f"Accept: {accept}?trk=eml-{template}-hero-0-accept~cta\n\n"
        "You are receiving Invitation emails.\n"
    )
    subject = (
        f"{name}'s invitation is waiting for your response"
        if reminder
        else "Pat, please add me to your LinkedIn network"
    )
    html = _html(template, slug, name, f'<a href="{accept}">Accept</a>')
    return _mail(f"{name} <invitations@linkedin.com>", subject, text, html, PASS, template)


def linkedin_message(name: str, slug: str, auth: str | None = PASS, domain: str = "") -> bytes:
    """LinkedIn's "<First> just messaged you" (the message itself is not in the mail);
    `auth` None: no trusted Authentication-Results; `domain`: a forged sender domain."""
    template = "email_member_message_v2"
    thread = f"{LI}/messaging/thread/2-{uuid.uuid4().hex}/"
    text = (
        f"{name}\nEngineering Lead at Example Ltd\n\n1 new message awaits your response\n\n"
        f"View message: {thread}?trk=eml-{template}-conversation-0-view_message\n"
    )
    html = _html(template, slug, name, f'<a href="{thread}">View message</a>')
    sender = f'"{name} via LinkedIn" <messaging-digest-noreply@{domain or "linkedin.com"}>'
    return _mail(sender, f"{name.split()[0]} just messaged you", text, html, auth, template)
