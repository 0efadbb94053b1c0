"""answer_kind: a person's answer, an out-of-office, or a bounce."""

from __future__ import annotations

import pytest

from askfirst.answer import answer_kind, not_the_inviter
from askfirst.message import parse

ASK_ID = "<ask-1@example.org>"


def reply(
    *,
    sender: str = "Sam Sample <sam@example.net>",
    subject: str = "Re: Invitation to connect on LinkedIn",
    body: str = "Hi Pat, I build mail servers and liked your talk.\r\n",
    headers: tuple[str, ...] = (),
) -> bytes:
    lines = [
        f"From: {sender}",
        "To: pat@example.org",
        f"Subject: {subject}",
        "Message-ID: <answer@example.net>",
        f"In-Reply-To: {ASK_ID}",
        f"References: {ASK_ID}",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def test_a_genuine_reply() -> None:
    assert answer_kind(parse(reply())) == ("genuine", "a person's reply")


def test_a_genuine_reply_from_an_address_with_an_apostrophe() -> None:
    kind, _ = answer_kind(parse(reply(sender="Sean O'Brien <o'brien@example.ie>")))
    assert kind == "genuine"


def test_auto_submitted_no_is_genuine() -> None:
    kind, _ = answer_kind(parse(reply(headers=("Auto-Submitted: no",))))
    assert kind == "genuine"


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        (("Auto-Submitted: auto-replied",), "Auto-Submitted: auto-replied"),
        (("Auto-Submitted: Auto-Generated; owner=x",), "Auto-Submitted: auto-generated"),
        (("X-Autoreply: yes",), "x-autoreply present"),
        (("X-Autorespond: Vacation",), "x-autorespond present"),
        (("Precedence: auto_reply",), "Precedence: auto_reply"),
        (("Precedence: bulk",), "Precedence: bulk"),
    ],
)
def test_automatic_by_header(headers: tuple[str, ...], why: str) -> None:
    assert answer_kind(parse(reply(headers=headers))) == ("automatic", why)


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office: Re: Invitation to connect on LinkedIn",
        "Out of the office until Monday",
        "Automatic reply: Re: Invitation",
        "AUTO: Sam Sample is away",
        "Automatische Antwort: Re: Einladung",
        "Abwesenheitsnotiz: Re: Einladung",
        "Réponse automatique : Re: Invitation",
        "Respuesta automática: Re: Invitación",
        "Autoreply: on vacation",
    ],
)
def test_automatic_by_subject(subject: str) -> None:
    kind, why = answer_kind(parse(reply(subject=subject)))
    assert kind == "automatic"
    assert "out-of-office" in why


def test_a_delivery_report_is_a_bounce() -> None:
    raw = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
        "To: pat@example.org\r\nSubject: Delivery Status Notification (Failure)\r\n"
        "Message-ID: <dsn@mx.example.org>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nCould not deliver.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Final-Recipient: rfc822; sam@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        f"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {ASK_ID}\r\n--B--\r\n"
    ).encode()
    mail = parse(raw)
    assert answer_kind(mail) == (
        "bounce",
        "delivery report from an unnamed server: failed for sam@example.net: status 5.1.1",
    )
    assert ASK_ID in mail.thread_ids


def test_a_report_from_a_person_address_is_still_a_bounce() -> None:
    raw = reply(headers=('Content-Type: multipart/report; boundary="B"',))
    assert answer_kind(parse(raw))[0] == "bounce"


@pytest.mark.parametrize("sender", ["MAILER-DAEMON@mx.example.org", "postmaster@example.net", "<>"])
def test_a_mailer_daemon_sender_is_a_bounce(sender: str) -> None:
    kind, why = answer_kind(parse(reply(sender=sender)))
    assert kind == "bounce"
    assert "mailer daemon" in why


@pytest.mark.parametrize(
    "subject",
    ["Undelivered Mail Returned to Sender", "Returned mail: see transcript", "failure notice"],
)
def test_a_bounce_subject_is_a_bounce(subject: str) -> None:
    assert answer_kind(parse(reply(subject=subject)))[0] == "bounce"


def test_a_bounce_wins_over_auto_submitted() -> None:
    raw = reply(sender="MAILER-DAEMON@mx.example.org", headers=("Auto-Submitted: auto-replied",))
    assert answer_kind(parse(raw))[0] == "bounce"


@pytest.mark.parametrize(
    ("sender", "headers", "authenticated", "answer"),
    [
        ("Sam <sam@example.net>", (), False, True),
        ("Sam <SAM@example.net>", (), False, True),
        ("Sam <sam.work@example.net>", (), True, True),  # their own verified domain
        ("Sam <sam.work@example.net>", (), False, False),  # same domain, unverified
        ("Eve <eve@gmail.com>", (), True, False),
        ("Sam <sam@example.net>", ("List-Id: <hikers.example.org>",), False, False),
        ("Sam <sam@example.net>", ("Precedence: list",), False, False),
    ],
)
def test_only_the_inviter_answers(
    sender: str, headers: tuple[str, ...], authenticated: bool, answer: bool
) -> None:
    mail = parse(reply(sender=sender, headers=headers))
    assert (not_the_inviter(mail, "sam@example.net", authenticated) is None) is answer


def test_a_shared_public_provider_is_not_the_inviters_domain() -> None:
    mail = parse(reply(sender="Eve <eve@gmail.com>"))
    assert not_the_inviter(mail, "sam@gmail.com", authenticated=True)
