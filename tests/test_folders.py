"""Folder names from the server's NAMESPACE (RFC 2342): pure names, then both real servers."""

from __future__ import annotations

import asyncio
from collections import namedtuple
from pathlib import Path

import pytest

from askfirst.clock import SystemClock
from askfirst.folders import Personal, personal_of
from askfirst.mailbox import ImapMailbox
from askfirst.testing.rig import MailRig
from harness import OWNER, Harness, askfirst, make_harness, run_daemon, write_config
from mails import linkedin_2012

CYRUS = Personal("INBOX.", ".")
Namespace = namedtuple("Namespace", "personal other shared")


@pytest.mark.parametrize(
    ("folder", "dovecot", "cyrus"),
    [
        ("Sent", "Sent", "INBOX.Sent"),
        ("Drafts", "Drafts", "INBOX.Drafts"),
        ("askfirst/Approve", "askfirst/Approve", "INBOX.askfirst.Approve"),
        ("INBOX", "INBOX", "INBOX"),
        ("INBOX.Sent", "INBOX.Sent", "INBOX.Sent"),  # already the server's spelling
        ("INBOX/Sent", "INBOX/Sent", "INBOX.Sent"),
    ],
)
def test_a_folder_name_as_each_server_spells_it(folder: str, dovecot: str, cyrus: str) -> None:
    assert Personal().name(folder) == dovecot
    assert CYRUS.name(folder) == cyrus


def test_a_dot_separator_without_a_prefix() -> None:
    assert Personal("", ".").name("askfirst/Approve") == "askfirst.Approve"


def test_the_personal_namespace_is_read_from_the_namespace_answer() -> None:
    answer = Namespace(personal=((b"INBOX.", b"."),), other=(("user.", "."),), shared=None)
    assert personal_of(answer) == CYRUS
    assert personal_of(Namespace(None, None, None), ".") == Personal("", ".")


async def test_the_mailbox_reads_its_servers_namespace(anyrig: MailRig, tmp_path: Path) -> None:
    h = make_harness(anyrig, tmp_path, SystemClock())
    mb = ImapMailbox(h.settings.imap, "test")
    try:
        await mb.ensure_connected()
        approve = mb.folder_name("askfirst/Approve")
        sent = await mb.sent_folder()
    finally:
        await mb.close()
    if anyrig.server == "cyrus":
        assert (approve, sent) == ("INBOX.askfirst.Approve", "INBOX.Sent")
    else:
        assert (approve, sent) == ("askfirst/Approve", "Sent")


async def test_idle_wakes_the_loop_on_each_server(anyrig: MailRig, tmp_path: Path) -> None:
    h: Harness = make_harness(anyrig, tmp_path, SystemClock(), poll_interval="1h")
    app, stop = h.build(), asyncio.Event()
    task = asyncio.create_task(run_daemon(app, stop))
    try:
        await asyncio.sleep(0.5)  # the first pass, then IDLE
        anyrig.deliver(linkedin_2012("Alice Example", "alice@example.test"), OWNER)
        for _ in range(100):  # pushed, not polled (poll_interval is 1 h)
            if anyrig.messages(OWNER, "Sent"):
                break
            await asyncio.sleep(0.1)
        (copy,) = anyrig.messages(OWNER, "Sent")
        assert copy.subject.startswith("Re: Invitation")
        assert len(anyrig.messages("alice@example.test")) == 1
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def test_check_names_every_folder_run_will_use(anyrig: MailRig, tmp_path: Path) -> None:
    config = write_config(anyrig, tmp_path)
    text = config.read_text().replace("[smtp]", 'sent_folder = "Archive/Sent"\n\n[smtp]', 1)
    config.write_text('mode = "approve"\n' + text)
    result = askfirst("check", "--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    if anyrig.server == "cyrus":
        assert "namespace: personal prefix 'INBOX.', separator '.'" in result.stdout
        assert "folder 'INBOX.Archive.Sent' (copies of sent mail): absent" in result.stdout
    else:
        assert "namespace: personal prefix '', separator '/'" in result.stdout
        assert "folder 'Archive/Sent' (copies of sent mail): absent" in result.stdout
    assert "created at the first send" in result.stdout
    approve = anyrig.folder("askfirst/Approve")
    assert f"folder {anyrig.folder('Drafts')!r} (drafts awaiting approval): exists" in result.stdout
    assert f"folder {approve!r} (approve_folder: moving a draft here" in result.stdout


async def test_idle_follows_a_folder_made_anew(anyrig: MailRig, tmp_path: Path) -> None:
    """Deleted and created again while watched: Cyrus keeps the IDLE session and sends
    EXPUNGEs; Dovecot says nothing, so the IDLE renewal (every `poll_interval`) finds it.
    Either way the new folder is selected again and its mail is read."""
    h = make_harness(anyrig, tmp_path, SystemClock(), poll_interval="2s")
    invites = anyrig.folder("Invites")
    h.settings.imap.folder = invites
    with anyrig.imap(OWNER) as client:
        client.create_folder(invites)
    app, stop = h.build(), asyncio.Event()
    task = asyncio.create_task(run_daemon(app, stop))
    try:
        await asyncio.sleep(1.1)  # a second later: a new UIDVALIDITY
        with anyrig.imap(OWNER) as client:
            client.delete_folder(invites)
            client.create_folder(invites)
        anyrig.append(OWNER, linkedin_2012("Alice Example", "alice@example.test"), "Invites")
        for _ in range(150):
            if anyrig.messages("alice@example.test"):
                break
            await asyncio.sleep(0.1)
        assert len(anyrig.messages("alice@example.test")) == 1
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
