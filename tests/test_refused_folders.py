"""A permanent IMAP refusal (NO to CREATE or APPEND) is a configuration problem, not a lost
connection: askfirst says what and where (log, `health`, `status`) and the rest goes on.
Made real on Cyrus: a folder name it refuses, a mailbox over quota."""

from __future__ import annotations

from pathlib import Path

import pytest

from askfirst.clock import FakeClock
from askfirst.lifecycle import State
from askfirst.testing.cyrus import CyrusRig
from askfirst.testing.rig import MailRig
from harness import OWNER, Harness, askfirst, make_harness
from mails import linkedin_2012

ALICE = "alice@example.test"


@pytest.fixture
def h(cyrusrig: MailRig, tmp_path: Path, clock: FakeClock) -> Harness:
    cyrusrig.reset()
    return make_harness(cyrusrig, tmp_path, clock)


def status_and_health(h: Harness) -> tuple[str, int, str]:
    config = str(h.settings.state.path.parent / "config.toml")
    health = askfirst("health", "--config", config)
    return askfirst("status", "--config", config).stdout, health.returncode, health.stdout


async def test_a_refused_sent_folder_is_reported_and_the_ask_still_goes(h: Harness) -> None:
    h.settings.imap.sent_folder = "Sent%mail"  # Cyrus: "Invalid mailbox name"
    h.invite(linkedin_2012("Alice Example", ALICE))
    report = await h.step()  # no ImapError: the pass completes
    assert report.sent == 1 and len(h.inbox(ALICE)) == 1
    assert h.only_invitation().state is State.ASKED
    status, code, health = status_and_health(h)
    assert "configuration: IMAP server refused the folder for copies of sent mail" in status
    assert "CREATE 'INBOX.Sent%mail' refused: create failed: Invalid mailbox name" in status
    assert code != 0 and "INBOX.Sent%mail" in health

    h.settings.imap.sent_folder = "Archive"  # the fix; the next start files the copy
    await h.step()
    assert len(h.inbox(OWNER, "Archive")) == 1
    status, code, _ = status_and_health(h)
    assert "configuration:" not in status and code == 0


async def test_refused_drafts_hold_the_asks(h: Harness) -> None:
    h.settings.mode = "approve"
    h.invite(linkedin_2012("Alice Example", ALICE))
    await h.step()  # the first draft is filed
    h.invite(linkedin_2012("Bob Builder", "bob@example.test"))
    assert isinstance(h.rig, CyrusRig)
    h.rig.set_quota(OWNER, 1)  # full: the next APPEND is refused ("Over quota")
    report = await h.step()
    assert report.held == 1 and report.awaiting == 0
    status, code, _ = status_and_health(h)
    assert "configuration: IMAP server refused the folder for drafts awaiting approval" in status
    assert "APPEND 'INBOX.Drafts' refused" in status and code != 0
    assert "sending: held (configuration: APPEND 'INBOX.Drafts' refused" in status


async def test_no_room_for_a_new_folder_is_reported(h: Harness) -> None:
    h.settings.imap.sent_folder = "Archive"
    h.invite(linkedin_2012("Alice Example", ALICE))
    assert isinstance(h.rig, CyrusRig)
    h.rig.set_quota(OWNER, 3, "X-NUM-FOLDERS")  # INBOX, Sent, Drafts: no fourth
    assert (await h.step()).sent == 1
    status, code, _ = status_and_health(h)
    assert "CREATE 'INBOX.Archive' refused: create failed: Over quota" in status and code != 0
