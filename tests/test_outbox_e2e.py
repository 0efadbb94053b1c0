"""The outbox sends only what the invitation still calls for, when it leaves; the wait
counts from then; a lost reply after DATA is never resent on its own; non-ASCII mail."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from askfirst.clock import FakeClock
from askfirst.lifecycle import State
from askfirst.mails import MailKind, OutboxState
from askfirst.status import status_text
from askfirst.store import Store
from harness import OWNER, Harness, askfirst, load
from mails import linkedin_2012, plain, reply

ALICE = "alice@example.test"
BOB = "bob@example.test"
MONDAY_7 = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)  # 08:00 in Berlin
WINDOW = "Mon-Fri 09:00-18:00"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MONDAY_7)


def outbox_states(h: Harness) -> dict[MailKind, OutboxState]:
    store = Store(h.settings.state.path)
    try:
        return {r.kind: r.state for r in store.outbox((OutboxState.SENT, OutboxState.CANCELLED))}
    finally:
        store.close()


def notices(h: Harness) -> list[str]:
    return [m.subject for m in h.inbox(OWNER) if m.subject.startswith("[askfirst]")]


async def test_invitation_and_follow_up_in_one_catch_up_pass_no_ask(h: Harness) -> None:
    h.invite(linkedin_2012("Alice Example", ALICE))
    h.invite(plain(f"Alice Example <{ALICE}>", subject="Did you see my invitation?"))
    report = await h.step()
    assert report.sent == 1  # the notice to the owner, not the ask
    assert h.inbox(ALICE) == []
    assert h.only_invitation().state is State.ANSWERED
    assert outbox_states(h)[MailKind.ASK] == OutboxState.CANCELLED


async def test_ask_held_for_the_window_is_not_sent_after_the_inviter_wrote(
    h: Harness, clock: FakeClock
) -> None:
    h.settings.owner.timezone = "Europe/Berlin"
    h.settings.lifecycle.send_window = WINDOW
    h.invite(linkedin_2012("Alice Example", ALICE))
    await h.step()
    assert h.inbox(ALICE) == []  # waiting for 09:00
    h.invite(plain(f"Alice Example <{ALICE}>", subject="Coffee next week?"))
    await h.step()
    clock.advance(timedelta(hours=2))  # the window is open
    await h.step()
    assert h.inbox(ALICE) == []
    assert h.only_invitation().state is State.ANSWERED
    assert outbox_states(h)[MailKind.ASK] == OutboxState.CANCELLED


async def test_decline_held_for_the_window_is_not_sent_after_a_late_answer(
    h: Harness, clock: FakeClock
) -> None:
    h.invite(linkedin_2012("Alice Example", ALICE))
    await h.step()
    ask = h.inbox(ALICE)[0].raw
    h.settings.owner.timezone = "Europe/Berlin"
    h.settings.lifecycle.send_window = WINDOW
    clock.advance(timedelta(days=7, minutes=1))  # due at 08:01 Berlin, before the window
    assert (await h.step()).declined == 1
    assert len(h.inbox(ALICE)) == 1  # the decline waits for 09:00
    h.invite(reply(ask, ALICE, "Sorry for the delay: we met at the conference in Lyon."))
    await h.step()
    clock.advance(timedelta(hours=2))
    await h.step()
    assert len(h.inbox(ALICE)) == 1  # still only the ask
    inv = h.only_invitation()
    assert inv.state is State.ANSWERED
    assert outbox_states(h)[MailKind.DECLINE] == OutboxState.CANCELLED


async def test_the_wait_counts_from_the_moment_the_ask_left(h: Harness, clock: FakeClock) -> None:
    h.settings.limits.kill_file.touch()
    h.invite(linkedin_2012("Alice Example", ALICE))
    assert (await h.step()).held == 1
    inv = h.only_invitation()
    assert inv.asked_at is None and inv.decline_due_at is None
    store = Store(h.settings.state.path)
    try:
        text = status_text(store, clock.now())
    finally:
        store.close()
    assert "next decline" not in text  # no due date while the ask has not left
    clock.advance(timedelta(days=9))
    await h.step()
    h.settings.limits.kill_file.unlink()
    report = await h.step()
    assert (report.sent, report.declined) == (1, 0)  # the ask, never its decline with it
    inv = h.only_invitation()
    assert inv.asked_at == clock.now().replace(microsecond=0)
    assert inv.decline_due_at == inv.asked_at + timedelta(days=7)
    assert len(h.inbox(ALICE)) == 1


async def test_a_reply_lost_after_the_message_went_out_is_never_resent_on_its_own(
    h: Harness, clock: FakeClock
) -> None:
    h.rig.faults.drop_after_data()
    h.invite(linkedin_2012("Alice Example", ALICE))
    report = await h.step()
    assert (report.sent, report.failed) == (1, 1)  # the notice to the owner; the ask unsure
    assert len(h.inbox(ALICE)) == 1  # the server had it after all
    store = Store(h.settings.state.path)
    try:
        (row,) = store.outbox((OutboxState.UNCERTAIN,))
    finally:
        store.close()
    clock.advance(timedelta(hours=12))
    await h.step()
    await h.step()
    assert len(h.inbox(ALICE)) == 1  # not resent
    (notice,) = [load(m.raw) for m in h.inbox(OWNER) if m.subject.startswith("[askfirst]")]
    text = notice.get_content()
    assert "askfirst forget" in text and row.message_id in text
    assert h.only_invitation().decline_due_at is None  # not known to have left

    config = h.settings.state.path.parent / "config.toml"
    forgot = askfirst("forget", row.message_id, "--config", str(config))
    assert forgot.returncode == 0, forgot.stderr
    assert askfirst("resend", row.message_id, "--config", str(config)).returncode == 4
    await h.step()
    inv = h.only_invitation()
    assert inv.asked_at == clock.now().replace(microsecond=0)  # counted as sent: the wait runs
    assert len(h.inbox(ALICE)) == 1
    assert [load(m.raw)["Message-ID"] for m in h.inbox(OWNER, "Sent")] == [row.message_id]


async def test_resend_sends_an_uncertain_mail_again(h: Harness) -> None:
    h.rig.faults.drop_after_data()
    h.invite(linkedin_2012("Alice Example", ALICE))
    await h.step()
    store = Store(h.settings.state.path)
    try:
        (row,) = store.outbox((OutboxState.UNCERTAIN,))
    finally:
        store.close()
    config = h.settings.state.path.parent / "config.toml"
    resent = askfirst("resend", row.message_id.strip("<>"), "--config", str(config))
    assert resent.returncode == 0, resent.stderr
    assert (await h.step()).sent == 1
    assert len(h.inbox(ALICE)) == 2  # the owner asked for it
    assert h.only_invitation().decline_due_at is not None


async def test_two_invitations_sharing_a_message_id_are_both_handled(h: Harness) -> None:
    first = linkedin_2012("Alice Example", ALICE)
    second = linkedin_2012("Bob Example", BOB)
    shared = load(first)["Message-ID"]
    h.invite(first)
    h.invite(re.sub(rb"Message-ID: [^\r\n]+", f"Message-ID: {shared}".encode(), second, count=1))
    await h.step()
    assert sorted(i.inviter_email for i in h.invitations()) == [ALICE, BOB]
    assert len(h.inbox(ALICE)) == 1 and len(h.inbox(BOB)) == 1
    assert all("$askfirst-asked" in m.flags for m in h.inbox(OWNER)[:2])
    h.invite(first)  # the same mail delivered again is still known
    await h.step()
    assert len(h.invitations()) == 2 and len(h.inbox(ALICE)) == 1


def with_header(raw: bytes, name: str, value: str) -> bytes:
    """`raw` with one header replaced by a raw UTF-8 value (RFC 6532)."""
    pattern = rb"(?m)^" + name.encode() + rb": [^\r\n]+"
    return re.sub(pattern, f"{name}: {value}".encode(), raw, count=1)


async def test_a_non_ascii_message_id_is_answered_with_smtputf8(h: Harness) -> None:
    mid = "<einladung-jörg-ü@example.test>"
    h.invite(with_header(linkedin_2012("Alice Example", ALICE), "Message-ID", mid))
    assert (await h.step()).sent == 1
    (ask,) = h.inbox(ALICE)
    assert mid.encode() in ask.raw  # In-Reply-To, in UTF-8
    assert h.only_invitation().state is State.ASKED


async def test_a_non_ascii_address_without_smtputf8_is_handed_over(h: Harness) -> None:
    h.rig.offer_smtputf8(False)
    invite = linkedin_2012("Jörg Example", ALICE)
    h.invite(with_header(invite, "From", "Jörg Example <jörg@example.test>"))
    await h.step()
    inv = h.only_invitation()
    assert inv.state is State.HANDED_OVER
    assert "SMTPUTF8" in inv.reason and "jörg@example.test" in inv.reason
    (mail,) = h.inbox(OWNER)[:1]
    assert "$askfirst-error" not in mail.flags and "$askfirst-handover" in mail.flags
    assert any("handed over" in s for s in notices(h))


async def test_a_non_ascii_address_goes_with_smtputf8(h: Harness) -> None:
    invite = linkedin_2012("Jörg Example", ALICE)
    h.invite(with_header(invite, "From", "Jörg Example <jörg@example.test>"))
    await h.step()
    inv = h.only_invitation()
    # The rig has no such user: the server refused it at RCPT, after MAIL with SMTPUTF8.
    assert inv.state is State.FAILED
    assert "5.1.1 <jörg@example.test>: no such user here" in inv.reason


async def test_an_ask_waiting_for_approval_is_not_sent_after_the_inviter_wrote(
    h: Harness,
) -> None:
    h.settings.mode = "approve"
    h.invite(linkedin_2012("Alice Example", ALICE))
    assert (await h.step()).awaiting == 1
    h.invite(plain(f"Alice Example <{ALICE}>", subject="Coffee next week?"))
    await h.step()
    with h.rig.imap(OWNER) as client:  # the owner approves the draft after all
        client.select_folder("Drafts")
        client.add_flags(client.search(["ALL"]), ["\\Flagged"])
    await h.step()
    assert h.inbox(ALICE) == []
    assert h.only_invitation().state is State.ANSWERED
    assert outbox_states(h)[MailKind.ASK] == OutboxState.CANCELLED
