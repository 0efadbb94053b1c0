"""Networks that hide the inviter, end to end on the rig with the injected clock: one inviter
answers through LinkedIn's notification, one stays silent and the owner is reminded once, a
forged notification changes nothing, and askfirst never writes to the network."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from askfirst.clock import FakeClock
from askfirst.config_loading import load_settings
from askfirst.lifecycle import State
from askfirst.mails import MailKind, OutboxState
from askfirst.testing.networkmail import FAIL, linkedin_invitation, linkedin_message
from askfirst.testing.ownerconfig import owner_config
from askfirst.testing.rig import MailRig
from harness import OWNER, REPO, Harness, askfirst, load

ERIN = ("Erin Okafor", "erin-okafor-1a2b3c")
SAM = ("Sam Silent", "sam-silent-4d5e6f")
TRUSTED = '\n[classify]\nauthserv_id = "mx.example.test"\n'
LINKEDIN = "invitations@linkedin.com"


def by_hand_harness(rig: MailRig, tmp_path: Path, clock: FakeClock, **lifecycle: str) -> Harness:
    config = owner_config(rig, tmp_path, REPO / "templates", lifecycle, TRUSTED)
    return Harness(rig, load_settings(config), clock)


@pytest.fixture
def hb(rig: MailRig, tmp_path: Path, clock: FakeClock) -> Harness:
    return by_hand_harness(rig, tmp_path, clock)


def notices(h: Harness) -> list[str]:
    return [m.subject for m in h.inbox(OWNER) if m.subject.startswith("[askfirst]")]


def state_of(h: Harness, name: str) -> State | None:
    return next(i.state for i in h.invitations() if i.inviter_name == name)


def recipients(rig: MailRig) -> set[str]:
    return {r for _, rcpts, _ in rig.accepted for r in rcpts}


async def test_one_answers_through_linkedin_one_is_reminded_a_forgery_changes_nothing(
    hb: Harness, clock: FakeClock
) -> None:
    hb.invite(linkedin_invitation(*ERIN), LINKEDIN)
    hb.invite(linkedin_invitation(*SAM), LINKEDIN)
    report = await hb.step()
    assert report.invitations == 2
    assert {i.state for i in hb.invitations()} == {State.BY_HAND}
    assert notices(hb) == [
        "[askfirst] Erin Okafor: please ask by hand on LinkedIn",
        "[askfirst] Sam Silent: please ask by hand on LinkedIn",
    ]
    byhand = load(next(m.raw for m in hb.inbox(OWNER) if "Erin" in m.subject)).get_content()
    assert "Hi Erin," in byhand  # the ask, ready to paste
    assert "https://www.linkedin.com/in/erin-okafor-1a2b3c/" in byhand
    assert "https://www.linkedin.com/mynetwork/invitation-manager/" in byhand
    for invitation in hb.inbox(OWNER)[:2]:
        assert {"\\Flagged", "$askfirst-byhand"} <= invitation.flags

    # the owner pasted the ask by hand; two days later a forged "Sam just messaged you"
    clock.advance(timedelta(days=2))
    hb.invite(linkedin_message(*SAM, auth=FAIL), "m-x@bounce.linkedin.com")
    hb.invite(linkedin_message(*SAM, domain="linkedin.com.msg-notify.example"), "x@x.example")
    report = await hb.step()
    assert state_of(hb, "Sam Silent") is State.BY_HAND
    forged = [o for o in report.outcomes if "a message askfirst sent" not in o]
    assert len(forged) == 2 and all("does not count" in o for o in forged), forged
    assert len(notices(hb)) == 2

    # Erin writes through LinkedIn: answered, the owner is told
    hb.invite(linkedin_message(*ERIN), "m-x@bounce.linkedin.com")
    report = await hb.step()
    assert report.answers == 1
    assert state_of(hb, "Erin Okafor") is State.ANSWERED
    assert notices(hb)[-1] == "[askfirst] Erin Okafor: answered"
    notification = hb.inbox(OWNER)[-2]
    assert {"\\Flagged", "$askfirst-answered"} <= notification.flags

    # Sam stays silent: one reminder after decline_after, never a second
    clock.advance(timedelta(days=5) - timedelta(minutes=1))
    assert (await hb.step()).reminded == 0
    clock.advance(timedelta(minutes=2))
    assert (await hb.step()).reminded == 1
    assert state_of(hb, "Sam Silent") is State.REMINDED
    assert notices(hb)[-1] == "[askfirst] Sam Silent: no answer, decline by hand on LinkedIn"
    reminder = load(hb.inbox(OWNER)[-1].raw).get_content()
    assert "Hi Sam," in reminder and "if it is still there" in reminder
    clock.advance(timedelta(days=3))
    assert (await hb.step()).reminded == 0
    assert len(notices(hb)) == 4

    assert recipients(hb.rig) == {OWNER}  # nothing ever went to LinkedIn or anyone else
    res = askfirst(
        "status", "--json", "--config", str(hb.settings.state.path.parent / "config.toml")
    )
    records = {r["inviter_name"]: r for r in json.loads(res.stdout)}
    assert {n: (r["network"], r["state"]) for n, r in records.items()} == {
        "Erin Okafor": ("linkedin", "answered"),
        "Sam Silent": ("linkedin", "reminded"),
    }


async def test_a_network_reminder_neither_starts_a_second_invitation_nor_the_clock(
    hb: Harness, clock: FakeClock
) -> None:
    hb.invite(linkedin_invitation(*SAM, invitation="7170429981234567890"), LINKEDIN)
    await hb.step()
    due = hb.only_invitation().decline_due_at
    clock.advance(timedelta(days=3))
    reminder = linkedin_invitation(*SAM, invitation="7170429981234567890", reminder=True)
    hb.invite(reminder, LINKEDIN)
    await hb.step()
    assert hb.only_invitation().decline_due_at == due
    assert hb.only_invitation().state is State.BY_HAND
    assert len(notices(hb)) == 1
    config = str(hb.settings.state.path.parent / "config.toml")
    status = askfirst("status", "--config", config).stdout
    assert "1 by_hand" in status and "next reminder (by hand):" in status


async def test_a_name_that_could_be_two_invitations_is_asked_not_guessed(hb: Harness) -> None:
    name = "Foo Bar"  # profiles without a vanity slug: only the name links them
    hb.invite(linkedin_invitation(name, ""), LINKEDIN)
    hb.invite(linkedin_invitation(name, ""), LINKEDIN)
    await hb.step()
    assert [i.state for i in hb.invitations()] == [State.BY_HAND, State.BY_HAND]
    hb.invite(linkedin_message(name, ""), "m-x@bounce.linkedin.com")
    report = await hb.step()
    assert report.answers == 0
    assert [i.state for i in hb.invitations()] == [State.BY_HAND, State.BY_HAND]
    (asked,) = [m for m in hb.inbox(OWNER)[-1:] if m.subject.startswith("[askfirst]")]
    assert "does not guess" in load(asked.raw).get_content()


async def test_taking_the_flag_off_the_invitation_lets_it_go(hb: Harness, clock: FakeClock) -> None:
    hb.invite(linkedin_invitation(*SAM), LINKEDIN)
    await hb.step()
    await hb.step()  # flags settled: still watched
    assert hb.only_invitation().state is State.BY_HAND
    invitation = hb.inbox(OWNER)[0]
    with hb.rig.imap(OWNER) as client:
        client.select_folder("INBOX")
        client.remove_flags([invitation.uid], ["\\Flagged"])
    report = await hb.step()
    assert report.stepped_out == 1
    inv = hb.only_invitation()
    assert inv.state is State.CANCELLED and "flag off" in inv.reason
    clock.advance(timedelta(days=8))
    hb.invite(linkedin_message(*SAM), "m-x@bounce.linkedin.com")
    await hb.step()
    assert hb.only_invitation().state is State.CANCELLED
    assert len(notices(hb)) == 1  # no reminder, no answer notice


async def test_by_hand_off_restores_the_plain_hand_over(
    rig: MailRig, tmp_path: Path, clock: FakeClock
) -> None:
    h = by_hand_harness(rig, tmp_path, clock, by_hand="false")
    assert h.settings.lifecycle.by_hand is False
    h.invite(linkedin_invitation(*SAM), LINKEDIN)
    await h.step()
    inv = h.only_invitation()
    assert inv.state is State.HANDED_OVER
    assert notices(h) == ["[askfirst] Sam Silent: handed over"]
    clock.advance(timedelta(days=8))
    await h.step()
    assert h.only_invitation().state is State.HANDED_OVER


@pytest.mark.parametrize(
    "recipient",
    ["0f3c2a9e1b2d4c5e8f90@reply.linkedin.com", "inmail-hit-reply@linkedin.com"],
)
async def test_the_outbox_refuses_any_address_of_a_network(hb: Harness, recipient: str) -> None:
    async with hb.build() as app:
        with app.store.transaction():
            app.store.enqueue(
                "<x@example.test>", None, MailKind.HANDOVER, recipient, b"x", hb.clock.now()
            )
        report = await app.run_once()
        (row,) = app.store.outbox((OutboxState.FAILED,))
        assert "never writes there" in row.last_error
    assert report.sent == 0 and report.failed == 1
    assert hb.rig.accepted == []
