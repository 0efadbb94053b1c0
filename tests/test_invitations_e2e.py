"""The classifier's decisions carried through the real rig: unreachable inviters, repeats
of one invitation, asking an address twice, and a network of the owner's own."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from askfirst.classify import classify
from askfirst.clock import FakeClock
from askfirst.config import Classify, NetworkRule
from askfirst.lifecycle import State
from askfirst.message import parse
from askfirst.testing.storymail import build_mail
from harness import OWNER, Harness, load
from mails import linkedin_2012

ALICE = "alice@example.test"
CORPUS = Path(__file__).parent / "corpus"


async def test_an_unreachable_inviter_is_handed_over_with_the_ask_text(h: Harness) -> None:
    h.settings.lifecycle.by_hand = False  # the plain hand-over; by_hand has its own tests
    h.settings.classify.authserv_id = "mx.example.test"
    h.settings.lifecycle.by_hand = False  # with it on, askfirst would wait for the owner's ask
    stamp = b"Authentication-Results: mx.example.test; dkim=pass header.d=linkedin.com\n"
    raw = (CORPUS / "invitation-linkedin-member-2016-foobar-m2m-single.eml").read_bytes()
    h.invite(stamp + raw)  # the owner's MX vouches for linkedin.com
    await h.step()
    inv = h.only_invitation()
    assert inv.state is State.HANDED_OVER
    assert inv.decision.rule == "unreachable"
    (notice,) = [m for m in h.inbox(OWNER) if m.subject.startswith("[askfirst]")]
    notice_mail = load(notice.raw)
    text = notice_mail.get_content()
    assert "This is what I would have sent" in text
    assert "tell me about yourself" in text.lower() or "about yourself" in text
    assert "no address where my question would reach them" in text  # a sentence, no trace
    assert "hand_over" not in text and "RFC" not in text
    assert notice_mail["In-Reply-To"] == inv.source_message_id  # threaded to the invitation
    assert inv.source_message_id in notice_mail["References"]
    assert h.rig.accepted and all(rcpts == [OWNER] for _, rcpts, _ in h.rig.accepted)


async def test_the_same_invitation_twice_is_answered_once(h: Harness) -> None:
    first = linkedin_2012("Alice Example", ALICE)
    again = first.replace(b"Message-ID: <", b"Message-ID: <again-", 1)  # same invitation id
    h.invite(first)
    h.invite(again)
    report = await h.step()
    assert report.invitations == 1
    assert any("repeat of invitation" in o for o in report.outcomes)
    assert len(h.inbox(ALICE)) == 1


async def test_an_address_is_not_asked_twice_within_ask_again_after(
    h: Harness, clock: FakeClock
) -> None:
    h.invite(linkedin_2012("Alice Example", ALICE))
    await h.step()
    clock.advance(timedelta(days=20))
    h.invite(linkedin_2012("Alice Example", ALICE))  # a new invitation, same person
    await h.step()
    states = [i.state for i in h.invitations()]
    assert states[1] is State.SKIPPED
    assert "asked recently" in h.invitations()[1].reason
    assert len(h.inbox(ALICE)) == 2  # the first ask and its decline, no second ask


def xing_invitation() -> bytes:
    return build_mail(
        "XING <invitations@xing.com>",
        OWNER,
        "Sam Sample möchte sich mit Ihnen vernetzen",
        "Hallo Pat,\n\nSam Sample möchte sich mit Ihnen auf XING vernetzen.\n\n"
        "Kontaktanfrage bestätigen: https://www.xing.com/contacts/requests\n",
    ).as_bytes()


def test_a_network_of_the_owners_own_is_recognised() -> None:
    rule = NetworkRule(
        id="xing", name="XING", domains=["xing.com"], subject=["möchte sich mit Ihnen vernetzen"]
    )
    mail = parse(xing_invitation())
    assert classify(mail).is_invitation is False  # unknown without the rule
    verdict = classify(mail, Classify(networks=[rule]))
    assert (verdict.is_invitation, verdict.network, verdict.reply_address) == (True, "xing", None)
    assert any("XING" in r for r in verdict.reasons)


def test_authenticity_policies() -> None:
    raw = (CORPUS / "phishing-linkedin-2017plus-dkim-fail-dmarc-fail.eml").read_bytes()
    mail = parse(raw)
    trusted = "mx.example.test"
    assert classify(mail, Classify(authserv_id=trusted)).phishing_suspect is True
    assert classify(mail, Classify(authserv_id=trusted, authenticity="prefer")).phishing_suspect
    off = classify(mail, Classify(authserv_id=trusted, authenticity="off"))
    assert (off.phishing_suspect, off.authenticated) == (False, None)
    untrusted = classify(mail, Classify(authserv_id="mx.elsewhere.test"))
    assert untrusted.authenticated is None and not untrusted.phishing_suspect
