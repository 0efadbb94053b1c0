"""Approval through the Drafts folder, --dry-run and preview, against the real rig."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from askfirst.clock import FakeClock
from askfirst.lifecycle import State
from askfirst.mails import OutboxState
from askfirst.testing.rig import MailRig
from harness import OWNER, Harness, askfirst, load
from mails import linkedin_2012

ALICE = "alice@example.test"
BOB = "bob@example.test"


@pytest.fixture
def h(h_any: Harness) -> Harness:
    """Every approval case runs on Dovecot and on Cyrus."""
    return h_any


def set_flag(rig: MailRig, folder: str, flag: str) -> None:
    with rig.imap(OWNER) as client:
        client.select_folder(rig.folder(folder))
        client.add_flags(client.search(["ALL"]), [flag])


async def test_a_flagged_draft_is_sent_and_removed(h: Harness, clock: FakeClock) -> None:
    h.settings.mode = "approve"
    h.invite(linkedin_2012("Alice Example", ALICE))
    report = await h.step()
    assert report.awaiting == 1 and report.sent == 0
    (draft,) = h.inbox(OWNER, "Drafts")
    assert {"\\Draft", "$askfirst-draft"} <= draft.flags
    assert load(draft.raw)["To"].addresses[0].addr_spec == ALICE
    assert "$askfirst-awaiting" in h.inbox(OWNER)[0].flags
    await h.step()
    assert h.inbox(ALICE) == []  # nothing goes out until the owner says so

    clock.advance(timedelta(days=2))
    set_flag(h.rig, "Drafts", "\\Flagged")
    assert (await h.step()).sent == 1
    (ask,) = h.inbox(ALICE)
    assert load(ask.raw)["Message-ID"] == load(draft.raw)["Message-ID"]
    assert h.inbox(OWNER, "Drafts") == []
    inv = h.only_invitation()
    assert inv.asked_at == clock.now().replace(microsecond=0)  # the wait starts now


async def test_a_deleted_draft_cancels(h: Harness) -> None:
    h.settings.mode = "approve"
    h.invite(linkedin_2012("Alice Example", ALICE))
    await h.step()
    with h.rig.imap(OWNER) as client:
        client.select_folder(h.rig.folder("Drafts"))
        client.delete_messages(client.search(["ALL"]))
        client.expunge()
    assert (await h.step()).cancelled == 1
    assert h.only_invitation().state is State.CANCELLED
    await h.step()
    assert h.inbox(ALICE) == []


async def test_moving_the_draft_to_the_approve_folder_sends_it(h: Harness) -> None:
    h.settings.mode = "approve"
    h.invite(linkedin_2012("Alice Example", ALICE))
    await h.step()
    with h.rig.imap(OWNER) as client:
        client.create_folder(h.rig.folder("askfirst/Approve"))
        client.select_folder(h.rig.folder("Drafts"))
        client.move(client.search(["ALL"]), h.rig.folder("askfirst/Approve"))
    assert (await h.step()).sent == 1
    assert len(h.inbox(ALICE)) == 1
    assert h.inbox(OWNER, "askfirst/Approve") == []


async def test_approve_first_n_then_alone_and_again_after_a_template_change(
    h: Harness, tmp_path: Path
) -> None:
    h.settings.approve_first = 1
    h.invite(linkedin_2012("Alice Example", ALICE))
    assert (await h.step()).awaiting == 1
    set_flag(h.rig, "Drafts", "\\Flagged")
    assert (await h.step()).sent == 1
    h.invite(linkedin_2012("Bob Builder", BOB))
    assert (await h.step()).sent == 1  # the canary period is over
    assert len(h.inbox(BOB)) == 1

    mine = tmp_path / "mytemplates"
    mine.mkdir()
    (mine / "ask.txt.j2").write_text("Subject: Hello\n\nTell me about yourself?\n")
    h.settings.templates.dir = mine
    h.invite(linkedin_2012("Carol Direct", "carol@example.test"))
    assert (await h.step()).awaiting == 1  # a new template: approval again


async def test_dry_run_sends_nothing_flags_nothing_and_records_what_it_would(
    h: Harness, clock: FakeClock
) -> None:
    h.invite(linkedin_2012("Alice Example", ALICE))
    app = h.build()
    app.dry_run = True
    report = await app.run_once()
    await app.mailbox.close()
    assert report.sent == 1
    assert h.inbox(ALICE) == []
    assert h.inbox(OWNER)[0].flags == frozenset()
    assert h.inbox(OWNER, "Sent") == []
    assert app.store.outbox_counts() == {OutboxState.DRY_RUN: 1}
    assert h.rig.accepted == []
    app.store.close()


def test_run_dry_run_and_status_dry_run(rig: MailRig, tmp_path: Path) -> None:
    from harness import write_config

    config = str(write_config(rig, tmp_path))
    rig.deliver(linkedin_2012("Alice Example", ALICE), OWNER)
    run = askfirst("run", "--once", "--dry-run", "--config", config)
    assert run.returncode == 0, run.stderr
    assert '"event": "outbox.dry_run"' in run.stderr
    assert rig.messages(ALICE) == []
    assert not (tmp_path / "state.sqlite3").exists()  # the real state is untouched
    status = askfirst("status", "--dry-run", "--config", config)
    assert "1 asked" in status.stdout and "1 dry_run" in status.stdout


def test_preview_renders_subject_and_body(tmp_path: Path) -> None:
    from mails import linkedin_2012 as invite

    eml = tmp_path / "invite.eml"
    eml.write_bytes(invite("Alice Example", ALICE))
    result = askfirst("preview", "ask", "--invite", str(eml))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Subject: Re: Invitation to connect on LinkedIn\n\nHi Alice,")
    sample = askfirst("preview", "decline")
    assert sample.stdout.startswith("Subject: ") and "Sam" in sample.stdout
    bad = askfirst("preview", "nope")
    assert bad.returncode == 2 and "nope" in bad.stderr
