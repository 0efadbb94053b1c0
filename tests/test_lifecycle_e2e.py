"""The whole lifecycle against the real rig: Dovecot IMAP + SMTP delivering over LMTP.

Every step runs a freshly built daemon on the same state file (as after a restart), and
time moves only through the fake clock.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from askfirst.clock import FakeClock
from askfirst.lifecycle import State
from askfirst.mails import MailKind, OutboxState
from askfirst.smtp import Envelope, SmtpSession
from harness import OWNER, Harness, askfirst, load
from mails import (
    bounce,
    direct_invite,
    linkedin_2012,
    out_of_office,
    plain,
    postfix_report,
    reply,
)

ALICE = "alice@example.test"
BOB = "bob@example.test"


@pytest.fixture
def h(h_any: Harness) -> Harness:
    """Every case here runs on Dovecot and on Cyrus."""
    return h_any


async def ask_alice(h: Harness) -> bytes:
    """Deliver a boilerplate invitation from Alice and let askfirst ask her; the ask's bytes."""
    h.invite(linkedin_2012("Alice Example", ALICE))
    await h.step()
    asks = h.inbox(ALICE)
    assert len(asks) == 1
    return asks[0].raw


async def test_boilerplate_invitation_is_asked_threaded_and_copied_to_sent(h: Harness) -> None:
    invitation = linkedin_2012("Alice Example", ALICE)
    h.invite(invitation)
    report = await h.step()

    assert report.invitations == 1 and report.sent == 1
    ask = load(h.inbox(ALICE)[0].raw)
    original = load(invitation)
    assert ask["From"].addresses[0].addr_spec == OWNER
    assert str(ask["To"]) == "Alice Example <alice@example.test>"
    assert ask["In-Reply-To"] == original["Message-ID"]
    assert original["Message-ID"] in ask["References"]
    assert ask["Auto-Submitted"] == "auto-replied"
    assert ask["X-Auto-Response-Suppress"] == "All"
    assert ask["Subject"] == "Re: Invitation to connect on LinkedIn"
    assert "Hi Alice," in ask.get_content()
    inv = h.only_invitation()
    assert inv.state is State.ASKED
    assert inv.asked_message_id == ask["Message-ID"]
    assert inv.decline_due_at == inv.asked_at + timedelta(days=7)  # type: ignore[operator]
    sent = h.inbox(OWNER, "Sent")
    assert [load(m.raw)["Message-ID"] for m in sent] == [ask["Message-ID"]]
    (stored,) = h.inbox(OWNER)
    assert "$askfirst-asked" in stored.flags and "\\Seen" not in stored.flags


async def test_answer_hands_over_and_no_decline_ever(h: Harness, clock: FakeClock) -> None:
    ask = await ask_alice(h)
    clock.advance(timedelta(days=2))
    h.invite(reply(ask, f"Alice Example <{ALICE}>", "Hi Pat, I run the Bristol IMAP meetup."))
    report = await h.step()

    assert report.answers == 1
    inv = h.only_invitation()
    assert inv.state is State.ANSWERED
    owner_box = h.inbox(OWNER)
    invitation, answer, notice = owner_box
    for flagged in (invitation, answer):
        assert {"\\Flagged", "$askfirst-answered"} <= flagged.flags
    assert load(notice.raw)["Subject"].startswith("[askfirst] Alice Example")
    assert "the inviter answered" in load(notice.raw).get_content()

    clock.advance(timedelta(days=30))
    await h.step()
    assert len(h.inbox(ALICE)) == 1  # the ask only: never a decline after an answer
    assert h.only_invitation().state is State.ANSWERED


async def test_silence_gets_exactly_one_decline_after_the_wait(
    h: Harness, clock: FakeClock
) -> None:
    ask = load(await ask_alice(h))
    clock.advance(timedelta(days=6, hours=23))
    assert (await h.step()).declined == 0
    assert len(h.inbox(ALICE)) == 1

    clock.advance(timedelta(hours=2))
    report = await h.step()
    assert report.declined == 1 and report.sent == 1
    _, decline = h.inbox(ALICE)
    decline_msg = load(decline.raw)
    assert decline_msg["In-Reply-To"] == ask["Message-ID"]
    assert ask["Message-ID"] in decline_msg["References"]
    assert h.only_invitation().state is State.DECLINED

    for _ in range(3):
        clock.advance(timedelta(days=3))
        await h.step()
    assert len(h.inbox(ALICE)) == 2
    assert "$askfirst-declined" in h.inbox(OWNER)[0].flags


async def test_out_of_office_does_not_stop_the_decline(h: Harness, clock: FakeClock) -> None:
    ask = await ask_alice(h)
    h.invite(out_of_office(ask, ALICE))
    report = await h.step()
    assert report.answers == 1
    assert h.only_invitation().state is State.ASKED

    clock.advance(timedelta(days=8))
    await h.step()
    assert h.only_invitation().state is State.DECLINED
    assert len(h.inbox(ALICE)) == 2


async def test_answer_and_deadline_in_the_same_pass_answer_wins(
    h: Harness, clock: FakeClock
) -> None:
    ask = await ask_alice(h)
    h.invite(reply(ask, ALICE, "Sorry for the delay: I build mail servers."))
    clock.advance(timedelta(days=9))  # the daemon was down while both happened
    await h.step()
    assert h.only_invitation().state is State.ANSWERED
    assert len(h.inbox(ALICE)) == 1


async def test_personal_note_goes_straight_to_the_owner(h: Harness) -> None:
    note = (
        "We met at PyCon in Prague; I enjoyed your talk on mail filters "
        "and would like to stay in touch."
    )
    h.invite(linkedin_2012("Bob Builder", BOB, note=note))
    await h.step()

    assert h.inbox(BOB) == []
    inv = h.only_invitation()
    assert inv.state is State.HANDED_OVER
    invitation, notice = h.inbox(OWNER)
    assert {"\\Flagged", "$askfirst-handover"} <= invitation.flags
    assert "PyCon in Prague" in load(notice.raw).get_content()
    assert h.inbox(OWNER, "Sent") == []


async def test_direct_invitation_by_mail_is_asked(h: Harness) -> None:
    h.invite(direct_invite("Carol Direct", "carol@example.test"))
    await h.step()
    assert h.only_invitation().network == "email"
    assert len(h.inbox("carol@example.test")) == 1


async def test_non_invitation_is_left_untouched(h: Harness) -> None:
    h.invite(plain(f"Alice <{ALICE}>"))
    report = await h.step()
    assert report.ignored == 1 and report.sent == 0
    (mail,) = h.inbox(OWNER)
    assert mail.flags == frozenset()
    assert h.invitations() == [] and h.inbox(ALICE) == []


async def test_first_start_ignores_invitations_older_than_the_lookback(
    h: Harness, clock: FakeClock
) -> None:
    h.rig.append(OWNER, linkedin_2012("Old Timer", ALICE), when=clock.now() - timedelta(days=20))
    h.rig.append(OWNER, linkedin_2012("Bob Builder", BOB), when=clock.now() - timedelta(days=3))
    await h.step()
    assert [i.inviter_email for i in h.invitations()] == [BOB]
    old = h.inbox(OWNER)[0]
    assert old.flags == frozenset()
    assert h.inbox(ALICE) == []


async def test_a_decline_due_while_the_daemon_was_down_is_sent_at_start(
    h: Harness, clock: FakeClock
) -> None:
    await ask_alice(h)
    clock.advance(timedelta(days=40))  # down for weeks
    report = await h.step()
    assert report.declined == 1
    assert len(h.inbox(ALICE)) == 2


async def test_bounced_ask_fails_and_tells_the_owner(h: Harness) -> None:
    ask = load(await ask_alice(h))
    h.invite(bounce(ask["Message-ID"]))
    await h.step()
    inv = h.only_invitation()
    assert inv.state is State.FAILED
    assert "bounced" in inv.reason
    notices = [m for m in h.inbox(OWNER) if m.subject.startswith("[askfirst]")]
    assert len(notices) == 1


async def test_every_step_by_a_new_daemon_sends_nothing_twice(h: Harness, clock: FakeClock) -> None:
    h.invite(linkedin_2012("Alice Example", ALICE))
    h.invite(linkedin_2012("Bob Builder", BOB))
    h.invite(direct_invite("Carol Direct", "carol@example.test"))
    for _ in range(3):
        await h.step()
    assert [len(h.inbox(u)) for u in (ALICE, BOB, "carol@example.test")] == [1, 1, 1]
    h.invite(reply(h.inbox(BOB)[0].raw, BOB, "Hello, I am Bob."))
    for _ in range(3):
        clock.advance(timedelta(days=3))
        await h.step()
    assert [len(h.inbox(u)) for u in (ALICE, BOB, "carol@example.test")] == [2, 1, 2]
    states = {i.inviter_email: i.state for i in h.invitations()}
    assert states == {
        ALICE: State.DECLINED,
        BOB: State.ANSWERED,
        "carol@example.test": State.DECLINED,
    }
    assert len(h.rig.accepted) == 5 + 1  # 3 asks, 2 declines, 1 handover notice


async def test_crash_during_data_is_never_resent(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process killed after DATA began: the server may have the mail; a restart must not
    resend it, and the owner is told (no copy in Sent shows that it arrived)."""
    h.invite(linkedin_2012("Alice Example", ALICE))
    app = h.build()
    monkeypatch.setattr(SmtpSession, "send", _crash_after_data)
    with pytest.raises(_Killed):
        await app.run_once()
    await app.mailbox.close()
    app.store.close()
    assert h.build().store.outbox((OutboxState.DATA,))  # the row shows where it stopped
    monkeypatch.undo()

    await h.step()
    await h.step()
    assert h.inbox(ALICE) == []  # our fake "server" never delivered it, and it is not resent:
    app = h.build()
    uncertain = app.store.outbox((OutboxState.UNCERTAIN,))
    assert [r.kind for r in uncertain] == [MailKind.ASK]  # the owner decides
    notices = [m for m in h.inbox(OWNER) if m.subject.startswith("[askfirst]")]
    assert len(notices) == 1 and "askfirst resend" in load(notices[0].raw).get_content()
    app.store.close()


async def test_crash_before_data_is_sent_once_after_restart(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h.invite(linkedin_2012("Alice Example", ALICE))
    app = h.build()
    monkeypatch.setattr(SmtpSession, "send", _crash_before_data)
    with pytest.raises(_Killed):
        await app.run_once()
    await app.mailbox.close()
    app.store.close()
    assert h.build().store.outbox((OutboxState.SENDING,))
    monkeypatch.undo()

    await h.step()
    await h.step()
    assert len(h.inbox(ALICE)) == 1


async def test_transient_smtp_failure_is_retried_later(h: Harness, clock: FakeClock) -> None:
    h.rig.faults.fail_next(451, "try again later", stage="RCPT")
    h.invite(linkedin_2012("Alice Example", ALICE))
    report = await h.step()
    assert report.retried == 1 and h.inbox(ALICE) == []
    await h.step()  # not due yet
    assert h.inbox(ALICE) == []
    clock.advance(timedelta(minutes=6))
    assert (await h.step()).sent == 1
    assert len(h.inbox(ALICE)) == 1


async def test_permanent_smtp_failure_fails_the_invitation(h: Harness) -> None:
    h.rig.faults.fail_next(550, "no such user here", stage="RCPT")
    h.invite(linkedin_2012("Alice Example", ALICE))
    report = await h.step()
    assert report.failed == 1
    inv = h.only_invitation()
    assert inv.state is State.FAILED and "550" in inv.reason
    assert any(m.subject.startswith("[askfirst]") for m in h.inbox(OWNER))


class _Killed(BaseException):
    """Stands in for SIGKILL: nothing after it runs."""


async def _crash_after_data(
    session: SmtpSession, envelope: Envelope, before_data: Callable[[], None]
) -> None:
    before_data()
    raise _Killed


async def _crash_before_data(
    session: SmtpSession, envelope: Envelope, before_data: Callable[[], None]
) -> None:
    raise _Killed


async def test_a_missing_sent_folder_is_created(h: Harness) -> None:
    h.settings.imap.sent_folder = "Gesendet"
    h.invite(linkedin_2012("Alice Example", ALICE))
    await h.step()
    (copy,) = h.inbox(OWNER, "Gesendet")
    assert load(copy.raw)["To"].addresses[0].addr_spec == ALICE


# -- delivery status notifications (real Postfix reports, tests/dsn) -----------------------


def notices(h: Harness) -> list[str]:
    return [load(m.raw).get_content() for m in h.inbox(OWNER) if m.subject.startswith("[askfirst]")]


async def test_a_postfix_delay_warning_changes_nothing_and_the_answer_still_counts(
    h: Harness, clock: FakeClock
) -> None:
    ask = load(await ask_alice(h))
    h.invite(postfix_report("delayed", ask["Message-ID"]), sender="")
    report = await h.step()
    assert h.only_invitation().state is State.ASKED
    assert "answer (report: delivery report from mx.example.test: delayed" in report.outcomes[0]
    assert notices(h) == []
    clock.advance(timedelta(days=1))
    h.invite(reply(ask.as_bytes(), f"Alice Example <{ALICE}>", "Hi Pat, we met in Bristol."))
    await h.step()
    assert h.only_invitation().state is State.ANSWERED
    (notice,) = notices(h)
    assert "the inviter answered" in notice


async def test_a_postfix_relay_report_changes_nothing(h: Harness) -> None:
    ask = load(await ask_alice(h))
    h.invite(postfix_report("relayed", ask["Message-ID"]), sender="")
    await h.step()
    assert h.only_invitation().state is State.ASKED
    assert notices(h) == []


async def test_a_postfix_failure_fails_quotes_the_diagnostic_and_says_what_it_flagged(
    h: Harness,
) -> None:
    ask = load(await ask_alice(h))
    h.invite(postfix_report("failed", ask["Message-ID"]), sender="")
    await h.step()
    inv = h.only_invitation()
    assert inv.state is State.FAILED
    (notice,) = notices(h)
    assert "550 5.1.1 User doesn't exist" in notice
    assert "Flagged in your mailbox: the invitation and the delivery report." in notice
    flagged = {m.subject for m in h.inbox(OWNER) if "\\Flagged" in m.flags}
    assert flagged == {"Invitation to connect on LinkedIn", "Undelivered Mail Returned to Sender"}


async def test_an_answer_after_a_failure_still_reaches_the_owner(h: Harness) -> None:
    ask = load(await ask_alice(h))
    h.invite(postfix_report("failed", ask["Message-ID"]), sender="")
    await h.step()
    h.invite(reply(ask.as_bytes(), f"Alice Example <{ALICE}>", "Got it after all, Pat."))
    await h.step()
    inv = h.only_invitation()
    assert inv.state is State.ANSWERED
    assert len(notices(h)) == 2
    answer = next(m for m in h.inbox(OWNER) if m.subject == ask["Subject"])
    assert {"\\Flagged", "$askfirst-answered"} <= answer.flags


@pytest.mark.parametrize("action", ["failed", "delayed", "relayed"])
async def test_explain_and_the_daemon_agree_on_every_report(
    h: Harness, action: str, tmp_path: Path
) -> None:
    ask = load(await ask_alice(h))
    raw = postfix_report(action, ask["Message-ID"])
    h.invite(raw, sender="")
    outcome = (await h.step()).outcomes[0]
    (tmp_path / "report.eml").write_bytes(raw)
    record = json.loads(askfirst("explain", str(tmp_path / "report.eml"), "--json").stdout)
    assert outcome.startswith(f"answer ({record['answer_kind']}: {record['answer_reason']})")
    assert [r["action"] for r in record["delivery"]] == [action]
