"""Approval follows the owner's edits, on both servers: a draft edited and saved as a mail
client does (a new APPEND, the old copy deleted, the Message-ID kept or new) is the same
draft and its edited text is sent; an answer withdraws a decline still waiting in Drafts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from askfirst.clock import FakeClock
from askfirst.lifecycle import State
from askfirst.testing.storymail import build_mail
from harness import OWNER, Harness, load
from mails import linkedin_2012, reply

ALICE = "alice@example.test"


@pytest.fixture
def h(h_any: Harness) -> Harness:
    h_any.settings.mode = "approve"
    return h_any


def save_edit(h: Harness, body: str, *, keep_message_id: bool) -> None:
    """What a client does on "save" after editing: APPEND the new text, delete the old."""
    drafts = h.rig.folder("Drafts")
    (old,) = h.inbox(OWNER, "Drafts")
    original = load(old.raw)
    headers = {
        "In_Reply_To": str(original["In-Reply-To"]),
        "References": str(original["References"]),
    }
    if keep_message_id:
        headers["message_id"] = str(original["Message-ID"])
    edited = build_mail(
        f"Pat Owner <{OWNER}>", str(original["To"]), str(original["Subject"]), body, **headers
    )
    h.rig.append(OWNER, edited.as_bytes(), "Drafts", flags=["\\Draft"])
    with h.rig.imap(OWNER) as client:
        client.select_folder(drafts)
        client.delete_messages([old.uid])
        client.expunge()


def approve(h: Harness) -> None:
    with h.rig.imap(OWNER) as client:
        client.select_folder(h.rig.folder("Drafts"))
        client.add_flags(client.search(["ALL"]), ["\\Flagged"])


@pytest.mark.parametrize("keep_message_id", [True, False], ids=["same-id", "new-id"])
async def test_an_edited_draft_is_the_same_draft_and_its_text_is_sent(
    h: Harness, keep_message_id: bool
) -> None:
    h.invite(linkedin_2012("Alice Example", ALICE))
    await h.step()
    ask_id = h.only_invitation().asked_message_id
    save_edit(
        h, "Alice, good to hear from you: where did we meet?\n", keep_message_id=keep_message_id
    )
    report = await h.step()
    assert report.cancelled == 0 and h.only_invitation().state is State.ASKED
    approve(h)
    assert (await h.step()).sent == 1
    (ask,) = h.inbox(ALICE)
    sent = load(ask.raw)
    assert "where did we meet?" in sent.get_content()
    assert sent["Message-ID"] == ask_id  # an answer still finds the invitation
    assert h.inbox(OWNER, "Drafts") == []


async def test_a_waiting_decline_is_withdrawn_when_the_inviter_answers(
    h: Harness, clock: FakeClock
) -> None:
    h.invite(linkedin_2012("Alice Example", ALICE))
    await h.step()
    approve(h)
    await h.step()  # the ask goes out
    (ask,) = h.inbox(ALICE)
    clock.advance(timedelta(days=8))
    assert (await h.step()).awaiting == 1  # the decline waits in Drafts
    assert len(h.inbox(OWNER, "Drafts")) == 1
    h.invite(reply(ask.raw, f"Alice Example <{ALICE}>", "Hi Pat, we met in Bristol."))
    await h.step()
    assert h.only_invitation().state is State.ANSWERED
    assert h.inbox(OWNER, "Drafts") == []
    assert len(h.inbox(ALICE)) == 1  # only the ask, never the decline
    (notice,) = [m for m in h.inbox(OWNER) if m.subject.startswith("[askfirst]")]
    text = load(notice.raw).get_content()
    assert "the decline waiting for your approval is withdrawn from Drafts" in text
    assert (
        "$askfirst-awaiting"
        not in next(m for m in h.inbox(OWNER) if m.subject.startswith("Invitation")).flags
    )
