"""A refused sender (Postfix's `553 5.7.1 Sender address rejected: not owned by user`) is
a configuration error for all mail: `check` finds it before any mail (MAIL FROM, RCPT TO,
RSET), and `run` holds the mail, is unhealthy, says why, and fails no invitation."""

from __future__ import annotations

from pathlib import Path

from askfirst.lifecycle import State
from askfirst.testing.rig import MailRig
from harness import OWNER, Harness, askfirst, write_config
from mails import linkedin_2012

ALICE = "alice@example.test"
BOB = "bob@example.test"
REFUSAL = "5.7.1 <owner@example.test>: Sender address rejected: not owned by user"


def test_check_gives_mail_from_and_rcpt_then_rset_and_sends_nothing(
    rig: MailRig, tmp_path: Path
) -> None:
    result = askfirst("check", "--config", str(write_config(rig, tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"MAIL FROM <{OWNER}> accepted (RSET: nothing sent)" in result.stdout
    assert rig.accepted == [] and rig.messages(OWNER) == []


def test_check_finds_a_refused_sender(rig: MailRig, tmp_path: Path) -> None:
    rig.faults.fail_next(553, REFUSAL, stage="MAIL")
    result = askfirst("check", "--config", str(write_config(rig, tmp_path)))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "smtp: FAILED: owner.email may not be used as sender" in result.stdout
    assert "553 5.7.1" in result.stdout and "not owned by user" in result.stdout
    assert rig.accepted == []


async def test_run_holds_all_mail_until_the_sender_is_accepted(h: Harness) -> None:
    h.settings.limits.breaker_failures = 1  # a failure would trip it: none is recorded
    h.rig.faults.fail_next(553, REFUSAL, times=50, stage="MAIL")
    h.invite(linkedin_2012("Alice Example", ALICE))
    h.invite(linkedin_2012("Bob Builder", BOB))
    report = await h.step()
    assert (report.sent, report.failed, report.held) == (0, 0, 2)
    assert [i.state for i in h.invitations()] == [State.ASKED, State.ASKED]
    config = h.settings.state.path.parent / "config.toml"
    status = askfirst("status", "--config", str(config)).stdout
    assert "sending: held (configuration: the SMTP server refuses owner.email" in status
    assert "553 5.7.1" in status
    health = askfirst("health", "--config", str(config))
    assert health.returncode != 0 and "refuses owner.email" in health.stdout

    h.rig.faults.clear()  # the fix, then a restart (each step is a new daemon)
    report = await h.step()
    assert (report.sent, report.held) == (2, 0)  # no wait for the circuit breaker
    assert len(h.inbox(ALICE)) == 1 and len(h.inbox(BOB)) == 1
    assert askfirst("health", "--config", str(config)).returncode == 0
    assert "sending: on" in askfirst("status", "--config", str(config)).stdout
