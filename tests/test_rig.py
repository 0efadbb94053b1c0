"""Proof that the mail rig itself works, so daemon test failures point at the daemon."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage

import aiosmtplib
import pytest

from askfirst.testing.rig import MailRig
from askfirst.testing.users import USERS

pytestmark = pytest.mark.rig

ALICE = "alice@example.test"
BOB = "bob@example.test"


def _msg(subject: str, to: str = ALICE, sender: str = "someone@example.org") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content("hello\n")
    return msg


def _raw(subject: str) -> bytes:
    return f"From: x@example.org\r\nSubject: {subject}\r\n\r\nbody\r\n".encode()


def test_users() -> None:
    assert len(USERS) == 46
    assert USERS[:2] == ("owner@example.test", "alice@example.test")
    assert USERS[-1] == "inviter40@example.test"


async def test_smtp_send_lands_in_inbox(rig: MailRig) -> None:
    await aiosmtplib.send(_msg("via smtp"), hostname="127.0.0.1", port=rig.smtp_port)
    [got] = rig.wait_for(ALICE, 1)
    assert got.subject == "via smtp"
    assert "\\Seen" not in got.flags
    assert [(f, r) for f, r, _ in rig.accepted] == [("someone@example.org", [ALICE])]


async def test_smtp_auth_with_rig_password(rig: MailRig) -> None:
    await aiosmtplib.send(
        _msg("authed", to=BOB),
        hostname="127.0.0.1",
        port=rig.smtp_port,
        username=ALICE,
        password=rig.password(ALICE),
        start_tls=False,
    )
    assert rig.wait_for(BOB, 1)[0].subject == "authed"
    with pytest.raises(aiosmtplib.SMTPAuthenticationError):
        await aiosmtplib.send(
            _msg("bad"),
            hostname="127.0.0.1",
            port=rig.smtp_port,
            username=ALICE,
            password="wrong",
            start_tls=False,
        )


async def test_unknown_recipient_refused(rig: MailRig) -> None:
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as exc:
        await aiosmtplib.send(
            _msg("ghost", to="ghost@example.test"), hostname="127.0.0.1", port=rig.smtp_port
        )
    assert exc.value.recipients[0].code == 550
    assert rig.accepted == []


async def test_rcpt_fault_then_recovery(rig: MailRig) -> None:
    rig.faults.fail_next(451, "4.3.0 try later", stage="RCPT")
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as exc:
        await aiosmtplib.send(_msg("first"), hostname="127.0.0.1", port=rig.smtp_port)
    assert exc.value.recipients[0].code == 451
    # the fault was for one RCPT only: the retry goes through
    await aiosmtplib.send(_msg("retry"), hostname="127.0.0.1", port=rig.smtp_port)
    assert [m.subject for m in rig.wait_for(ALICE, 1)] == ["retry"]


async def test_data_and_mail_faults(rig: MailRig) -> None:
    rig.faults.fail_next(550, "5.7.1 rejected", stage="DATA")
    with pytest.raises(aiosmtplib.SMTPDataError) as data_exc:
        await aiosmtplib.send(_msg("d"), hostname="127.0.0.1", port=rig.smtp_port)
    assert data_exc.value.code == 550
    rig.faults.fail_next(421, "4.3.2 shutting down", stage="MAIL")
    with pytest.raises(aiosmtplib.SMTPResponseException) as mail_exc:
        await aiosmtplib.send(_msg("m"), hostname="127.0.0.1", port=rig.smtp_port)
    assert mail_exc.value.code == 421
    assert rig.accepted == []
    assert rig.messages(ALICE) == []


def test_lmtp_deliver(rig: MailRig) -> None:
    rig.deliver(_raw("direct"), BOB)
    assert [m.subject for m in rig.messages(BOB)] == ["direct"]


def test_append_sets_internaldate_and_flags(rig: MailRig) -> None:
    when = datetime(2021, 3, 4, 5, 6, 7, tzinfo=timezone(timedelta(hours=2)))
    uid = rig.append(ALICE, _raw("old"), folder="Archive/2021", when=when, flags=["\\Seen"])
    with rig.imap(ALICE) as client:
        client.select_folder("Archive/2021", readonly=True)
        data = client.fetch([uid], ["INTERNALDATE"])
    assert data[uid][b"INTERNALDATE"] == when
    [msg] = rig.messages(ALICE, "Archive/2021")
    assert (msg.uid, msg.flags) == (uid, frozenset({"\\Seen"}))


def test_keywords_store_and_read_back(rig: MailRig) -> None:
    uid = rig.append(ALICE, _raw("kw"), flags=["\\Flagged"])
    with rig.imap(ALICE) as client:
        client.select_folder("INBOX")
        client.add_flags([uid], [b"$askfirst-answered"])
    [msg] = rig.messages(ALICE)
    assert msg.flags == {"\\Flagged", "$askfirst-answered"}


def test_reset_empties_everything(rig: MailRig) -> None:
    rig.deliver(_raw("in"), BOB)
    rig.append(BOB, _raw("trash"), folder="Trash")
    rig.append(BOB, _raw("extra"), folder="Extra/Sub")
    rig.faults.fail_next(451, stage="RCPT")
    rig.accepted.append(("a", ["b"], b"c"))
    start = time.monotonic()
    rig.reset()
    elapsed = time.monotonic() - start
    with rig.imap(BOB) as client:
        folders = sorted(name for _f, _d, name in client.list_folders())
    assert folders == ["Drafts", "INBOX", "Junk", "Sent", "Trash"]
    assert all(rig.messages(BOB, f) == [] for f in folders)
    assert rig.faults.take("RCPT") is None
    assert rig.accepted == []
    assert elapsed < 2.0  # typically ~0.02 s


def test_wait_for_times_out_with_a_useful_message(rig: MailRig) -> None:
    rig.deliver(_raw("only one"), ALICE)
    with pytest.raises(AssertionError, match=r"alice@example\.test INBOX.*found 1.*only one"):
        rig.wait_for(ALICE, 2, timeout=0.2)


def test_kick_disconnects_idling_client(rig: MailRig) -> None:
    client = rig.imap("carol@example.test")
    try:
        client.select_folder("INBOX")
        client.idle()
        rig.kick("carol@example.test")
        responses = client.idle_check(timeout=5)
        assert any(r[0] == b"BYE" for r in responses), responses
    finally:
        client.shutdown()


def test_restart_keeps_ports_and_mail(rig: MailRig) -> None:
    rig.deliver(_raw("survives"), "dave@example.test")
    before = (rig.imap_port, rig.lmtp_port)
    rig.restart_dovecot()
    assert (rig.imap_port, rig.lmtp_port) == before
    assert [m.subject for m in rig.messages("dave@example.test")] == ["survives"]
