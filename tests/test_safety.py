"""Brakes, loop guards, bad input and secrets, against the real rig."""

from __future__ import annotations

import signal
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest

from askfirst import judgement as stage  # where the daemon classifies
from askfirst.classify import Verdict, classify
from askfirst.clock import FakeClock
from askfirst.lifecycle import State
from askfirst.mails import OutboxState
from askfirst.message import Mail
from askfirst.testing.rig import MailRig
from harness import (
    OWNER,
    Harness,
    askfirst,
    clean_env,
    load,
    make_harness,
    spawn_daemon,
    write_config,
)
from mails import linkedin_2012, out_of_office, plain

ALICE = "alice@example.test"
BOB = "bob@example.test"


def status_text(h: Harness) -> str:
    config = h.settings.state.path.parent / "config.toml"
    return askfirst("status", "--config", str(config)).stdout


async def test_kill_file_holds_everything_until_removed(h: Harness) -> None:
    h.settings.limits.kill_file.touch()
    h.invite(linkedin_2012("Alice Example", ALICE))
    report = await h.step()
    assert report.held == 1 and report.sent == 0
    assert h.inbox(ALICE) == []
    assert "sending: held (kill switch: the file" in status_text(h)

    h.settings.limits.kill_file.unlink()
    assert (await h.step()).sent == 1
    assert len(h.inbox(ALICE)) == 1
    assert "sending: on" in status_text(h)


async def test_kill_keyword_and_env_var_hold_sending(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h.invite(plain(f"Bob <{BOB}>", subject="anything"))
    with h.rig.imap(OWNER) as client:
        client.select_folder("INBOX")
        client.add_flags(client.search(["ALL"]), ["$askfirst-stop"])
    h.invite(linkedin_2012("Alice Example", ALICE))
    assert (await h.step()).held == 1
    with h.rig.imap(OWNER) as client:
        client.select_folder("INBOX")
        client.remove_flags(client.search(["ALL"]), ["$askfirst-stop"])
    monkeypatch.setenv("ASKFIRST_STOP", "1")
    assert (await h.step()).held == 1
    monkeypatch.delenv("ASKFIRST_STOP")
    assert (await h.step()).sent == 1


async def test_hourly_cap_holds_the_rest_until_the_hour_has_passed(
    h: Harness, clock: FakeClock
) -> None:
    h.settings.limits.max_per_hour = 2
    for n in range(1, 5):
        h.invite(linkedin_2012(f"Inviter Number{n}", f"inviter0{n}@example.test"))
    report = await h.step()
    assert (report.sent, report.held) == (2, 2)
    clock.advance(timedelta(minutes=30))
    assert (await h.step()).sent == 0
    clock.advance(timedelta(minutes=31))
    assert (await h.step()).sent == 2
    assert all(len(h.inbox(f"inviter0{n}@example.test")) == 1 for n in range(1, 5))


async def test_a_pass_counts_its_own_sends_against_both_caps(h: Harness, clock: FakeClock) -> None:
    h.settings.limits.max_per_hour = 3
    h.settings.limits.max_per_day = 4
    inviters = [f"inviter0{n}@example.test" for n in range(1, 6)]
    for n, inviter in enumerate(inviters, 1):
        h.invite(linkedin_2012(f"Inviter Number{n}", inviter))
    report = await h.step()
    assert (report.sent, report.held) == (3, 2)  # the hourly cap
    clock.advance(timedelta(minutes=61))
    report = await h.step()
    assert (report.sent, report.held) == (1, 1)  # the daily cap
    clock.advance(timedelta(days=1))
    assert (await h.step()).sent == 1
    assert [len(h.inbox(i)) for i in inviters] == [1] * 5


async def test_circuit_breaker_pauses_asks_after_failures_but_tells_the_owner(
    h: Harness, clock: FakeClock
) -> None:
    h.settings.limits.breaker_failures = 2
    h.rig.faults.fail_next(550, "no such user", times=2, stage="RCPT")
    h.invite(linkedin_2012("Alice Example", ALICE))
    h.invite(linkedin_2012("Bob Builder", BOB))
    await h.step()
    assert [i.state for i in h.invitations()] == [State.FAILED, State.FAILED]
    notices = [m for m in h.inbox(OWNER) if m.subject.startswith("[askfirst]")]
    assert len(notices) == 2  # the owner hears of both failures despite the brake

    h.invite(linkedin_2012("Carol Direct", "carol@example.test"))
    assert (await h.step()).held == 1
    clock.advance(timedelta(hours=7))
    assert (await h.step()).sent == 1
    assert len(h.inbox("carol@example.test")) == 1


async def test_two_askfirst_instances_stop_after_one_message_each_way(
    rig: MailRig, tmp_path: Path, clock: FakeClock
) -> None:
    ours = make_harness(rig, tmp_path, clock)
    (tmp_path / "alice").mkdir()
    theirs = make_harness(rig, tmp_path / "alice", clock)
    theirs.settings.owner.email = ALICE
    theirs.settings.owner.name = "Alice Example"
    theirs.settings.imap.username = ALICE
    theirs.settings.imap.password = theirs.settings.imap.password.__class__(rig.password(ALICE))
    rig.deliver(linkedin_2012("Alice Example", ALICE, to=OWNER), OWNER)  # she invites us
    rig.deliver(linkedin_2012("Pat Owner", OWNER, to=ALICE), ALICE)  # we invite her
    for _ in range(4):
        await ours.step()
        await theirs.step()
    to_alice = [m for m in rig.messages(ALICE) if m.subject.startswith("Re:")]
    to_us = [m for m in rig.messages(OWNER) if m.subject.startswith("Re:")]
    assert (len(to_alice), len(to_us)) == (1, 1)
    assert ours.only_invitation().state is State.ASKED
    assert theirs.only_invitation().state is State.ASKED


async def test_an_auto_responder_gets_no_answer(h: Harness) -> None:
    h.invite(linkedin_2012("Alice Example", ALICE))
    await h.step()
    for _ in range(3):  # her responder answers everything we send
        h.invite(out_of_office(h.inbox(ALICE)[-1].raw, ALICE))
        await h.step()
    assert len(h.inbox(ALICE)) == 1


async def test_bad_input_is_recorded_and_the_loop_goes_on(h: Harness) -> None:
    injected = linkedin_2012("Erin", "erin@example.test").replace(
        b"From: Erin <erin@example.test>",
        b"From: =?utf-8?q?Erin=0D=0ABcc=3A_victim=40example.test?= <erin@example.test>",
    )
    huge = linkedin_2012("Dave Huge", "dave@example.test").replace(
        b"Confirm that you know", b"x" * 3_000_000 + b"\n\nConfirm that you know"
    )
    for raw in (
        b"\x00\xff\xfe garbage without headers",
        b"From: a@b\nContent-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain; "
        b"charset=klingon\n\n\xff\xfe broken",
        b"Subject: =?x-unknown?b?////?=\nFrom: =?utf-8?b?invalid base64?= <c@d>\n\nhi",
        injected,
        huge,
        linkedin_2012("Alice Example", ALICE),
    ):
        h.invite(raw)
    report = await h.step()
    assert report.errors == 0
    assert report.fetched == 6
    assert len(h.inbox(ALICE)) == 1
    (ask,) = h.inbox("erin@example.test")
    header_block = ask.raw.split(b"\r\n\r\n", 1)[0]
    assert not any(line.lower().startswith(b"bcc") for line in header_block.split(b"\r\n"))
    assert load(ask.raw)["To"].addresses[0].addr_spec == "erin@example.test"
    assert len(h.inbox("dave@example.test")) == 1  # the huge one was read up to the cap


async def test_a_mail_that_breaks_the_handler_is_quarantined(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:

    def explode(mail: Mail, *args: object) -> Verdict:
        if mail.subject == "boom":
            raise RuntimeError("classifier bug")
        return classify(mail, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(stage, "classify", explode)
    h.invite(plain(f"Bob <{BOB}>", subject="boom"))
    h.invite(linkedin_2012("Alice Example", ALICE))
    report = await h.step()
    assert report.errors == 1
    assert "$askfirst-error" in h.inbox(OWNER)[0].flags
    assert len(h.inbox(ALICE)) == 1
    assert (await h.step()).errors == 0  # never retried in a loop


def test_passwords_never_reach_the_log(rig: MailRig, tmp_path: Path) -> None:
    config = write_config(rig, tmp_path)
    rig.deliver(linkedin_2012("Alice Example", ALICE), OWNER)
    result = askfirst("run", "--once", "-v", "--config", str(config), env=clean_env())
    assert result.returncode == 0, result.stderr
    assert rig.password(OWNER) not in result.stdout + result.stderr
    check = askfirst("check", "--config", str(config), env=clean_env())
    assert rig.password(OWNER) not in check.stdout + check.stderr


def test_starttls_required_but_not_offered_sends_nothing(rig: MailRig, tmp_path: Path) -> None:
    config = write_config(rig, tmp_path)
    env = clean_env() | {"ASKFIRST_SMTP__TLS": "starttls"}
    check = askfirst("check", "--config", str(config), env=env)
    assert check.returncode == 1
    assert "STARTTLS" in check.stdout
    rig.deliver(linkedin_2012("Alice Example", ALICE), OWNER)
    run = askfirst("run", "--once", "--config", str(config), env=env)
    assert run.returncode == 0
    assert rig.accepted == []


def test_plaintext_login_to_a_remote_host_is_refused(rig: MailRig, tmp_path: Path) -> None:
    config = write_config(rig, tmp_path)
    env = clean_env() | {"ASKFIRST_IMAP__HOST": "mail.example.org"}
    check = askfirst("check", "--config", str(config), env=env)
    assert check.returncode == 2
    assert "imap.tls:" in check.stderr and "allow_insecure_auth" in check.stderr


def test_sigterm_finishes_the_pass_in_hand(rig: MailRig, tmp_path: Path) -> None:
    config = write_config(rig, tmp_path, poll_interval="1h", sweep_interval="1h")
    proc = spawn_daemon(config, tmp_path / "daemon.log")
    time.sleep(1.0)
    inviters = [f"inviter{n:02d}@example.test" for n in range(1, 11)]
    for n, inviter in enumerate(inviters):
        rig.deliver(linkedin_2012(f"Term Person{n}", inviter), OWNER)
    rig.wait_for(inviters[0], 1, timeout=10)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    with sqlite3.connect(tmp_path / "state.sqlite3") as db:
        states = dict(db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall())
    assert set(states) <= {OutboxState.SENT, OutboxState.PENDING}  # nothing cut mid-send
    proc = spawn_daemon(config, tmp_path / "daemon.log")
    try:
        for inviter in inviters:
            rig.wait_for(inviter, 1, timeout=15)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    assert [len(rig.messages(i)) for i in inviters] == [1] * 10


def test_tls_certificates_are_verified_by_default(rig: MailRig, tmp_path: Path) -> None:
    config = write_config(rig, tmp_path)
    env = clean_env() | {"ASKFIRST_IMAP__TLS": "ssl", "ASKFIRST_IMAP__PORT": str(rig.imaps_port)}
    untrusted = askfirst("check", "--config", str(config), env=env)
    assert untrusted.returncode == 1
    assert "imap: FAILED" in untrusted.stdout and "CERTIFICATE_VERIFY_FAILED" in untrusted.stdout
    trusted = askfirst(
        "check", "--config", str(config), env=env | {"ASKFIRST_IMAP__CA_FILE": str(rig.cafile)}
    )
    assert trusted.returncode == 0, trusted.stdout
    assert "imap: ok" in trusted.stdout and "(ssl)" in trusted.stdout


async def test_421_at_connect_time_is_retried(h: Harness, clock: FakeClock) -> None:
    h.rig.faults.fail_next(421, "too busy, come back later", stage="MAIL")
    h.invite(linkedin_2012("Alice Example", ALICE))
    assert (await h.step()).retried == 1
    clock.advance(timedelta(minutes=5))
    assert (await h.step()).sent == 1
    assert len(h.inbox(ALICE)) == 1
