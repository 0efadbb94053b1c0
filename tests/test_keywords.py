"""Keywords on the invitation mail say the truth, on both servers: `$askfirst-awaiting` goes
once the draft is approved or cancelled, a cancelled ask leaves no `$askfirst-asked`, and
after a UIDVALIDITY change the keywords of invitations still tracked are set again."""

from __future__ import annotations

from datetime import timedelta

import pytest

from askfirst.clock import FakeClock
from askfirst.lifecycle import State
from harness import OWNER, Harness
from mails import linkedin_2012

ALICE = "alice@example.test"


@pytest.fixture
def h(h_any: Harness) -> Harness:
    return h_any


def invitation_flags(h: Harness) -> frozenset[str]:
    (invitation,) = [m for m in h.inbox(OWNER) if m.subject.startswith("Invitation")]
    return invitation.flags


async def test_an_approved_draft_takes_awaiting_off(h: Harness, clock: FakeClock) -> None:
    h.settings.mode = "approve"
    h.invite(linkedin_2012("Alice Example", ALICE))
    await h.step()
    assert {"$askfirst-awaiting", "$askfirst-asked"} <= invitation_flags(h)
    with h.rig.imap(OWNER) as client:
        client.select_folder(h.rig.folder("Drafts"))
        client.add_flags(client.search(["ALL"]), ["\\Flagged"])
    clock.advance(timedelta(hours=1))
    assert (await h.step()).sent == 1
    flags = invitation_flags(h)
    assert "$askfirst-awaiting" not in flags and "$askfirst-asked" in flags


async def test_a_cancelled_ask_leaves_neither_awaiting_nor_asked(h: Harness) -> None:
    h.settings.mode = "approve"
    h.invite(linkedin_2012("Alice Example", ALICE))
    await h.step()
    with h.rig.imap(OWNER) as client:
        client.select_folder(h.rig.folder("Drafts"))
        client.delete_messages(client.search(["ALL"]))
        client.expunge()
    assert (await h.step()).cancelled == 1
    assert h.only_invitation().state is State.CANCELLED
    assert not {"$askfirst-awaiting", "$askfirst-asked"} & invitation_flags(h)


async def test_keywords_are_set_again_after_a_uidvalidity_change(h: Harness) -> None:
    h.settings.imap.folder = h.rig.folder("Invites")
    invitation = linkedin_2012("Alice Example", ALICE)
    h.rig.append(OWNER, invitation, "Invites")
    await h.step()
    (mail,) = h.inbox(OWNER, "Invites")
    assert "$askfirst-asked" in mail.flags
    with h.rig.imap(OWNER) as client:  # the folder made anew: new UIDVALIDITY, no keywords
        before = client.folder_status(h.rig.folder("Invites"), [b"UIDVALIDITY"])
        client.delete_folder(h.rig.folder("Invites"))
        client.create_folder(h.rig.folder("Invites"))
        after = client.folder_status(h.rig.folder("Invites"), [b"UIDVALIDITY"])
    assert before != after
    h.rig.append(OWNER, invitation, "Invites")
    await h.step()
    (mail,) = h.inbox(OWNER, "Invites")
    assert "$askfirst-asked" in mail.flags
    assert len(h.inbox(ALICE)) == 1  # the same invitation: not asked again
