"""Never mail the wrong person, against the real rig: a reflector's Reply-To gets nothing,
and a stranger's reply in the thread neither stops the decline nor counts as an answer."""

from __future__ import annotations

from datetime import timedelta

from askfirst.clock import FakeClock
from askfirst.lifecycle import State
from askfirst.testing.storymail import build_mail
from harness import OWNER, Harness, load
from mails import linkedin_2012, reply

ALICE = "alice@example.test"
SAM = "sam@partner.example"  # the inviter: another domain, no mailbox in the rig
THIRD = "bob@example.test"  # the third party the Reply-To points at
MALLORY = "erin@example.test"  # a stranger (same domain, but unverified)


async def test_a_reflector_reply_to_never_gets_mail(h: Harness) -> None:
    """From a person at one domain, Reply-To a third party at another: the ask goes to
    the personal From, nothing reaches the third party."""
    body = "Hi Pat,\n\nI'd like to connect with you on LinkedIn.\n\nSam\n"
    h.invite(
        build_mail(
            f"Sam Sample <{SAM}>", OWNER, "Connecting", body, Reply_To=f"Bob <{THIRD}>"
        ).as_bytes()
    )
    for _ in range(3):
        await h.step()
    inv = h.only_invitation()
    assert inv.inviter_email == SAM
    assert any("Reply-To bob@example.test is not used" in r for r in inv.decision.reasons)
    assert h.inbox(THIRD) == []
    assert all(THIRD not in rcpts for _sender, rcpts, _raw in h.rig.accepted)


async def test_a_strangers_reply_does_not_stop_the_decline(h: Harness, clock: FakeClock) -> None:
    h.invite(linkedin_2012("Alice Example", ALICE))
    await h.step()
    (ask,) = h.inbox(ALICE)
    clock.advance(timedelta(days=1))
    h.invite(reply(ask.raw, f"Mallory <{MALLORY}>", "Hi Pat, Alice asked me to answer."))
    report = await h.step()

    assert report.answers == 0
    assert h.only_invitation().state is State.ASKED
    notices = [m for m in h.inbox(OWNER) if m.subject.startswith("[askfirst]")]
    assert len(notices) == 1
    text = load(notices[0].raw).get_content()
    assert "someone else replied in the thread" in text and MALLORY in text
    assert "keeps waiting for Alice" in text
    assert h.inbox(MALLORY) == []  # nothing is ever sent to the stranger

    clock.advance(timedelta(days=7))
    await h.step()
    inv = h.only_invitation()
    assert inv.state is State.DECLINED
    assert len(h.inbox(ALICE)) == 2  # the ask and the decline
    assert h.inbox(MALLORY) == []


async def test_a_list_post_by_the_inviter_is_not_an_answer(h: Harness, clock: FakeClock) -> None:
    h.invite(linkedin_2012("Alice Example", ALICE))
    await h.step()
    post = build_mail(
        f"Alice Example <{ALICE}>",
        "hikers@lists.example.test",
        "Meetup",
        "See you!\n",
        List_Id="<hikers.lists.example.test>",
    )
    h.invite(post.as_bytes())
    report = await h.step()
    assert report.answers == 0
    assert h.only_invitation().state is State.ASKED
