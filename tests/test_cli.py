"""The `askfirst` command as a user runs it: real processes, the real rig."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from askfirst.testing.rig import MailRig
from harness import OWNER, REPO, askfirst, clean_env, load, write_config
from mails import linkedin_2012, plain, reply

ALICE = "alice@example.test"
BOB = "bob@example.test"


def test_run_process_with_idle_asks_declines_hands_over_and_stops_cleanly(
    rig: MailRig, tmp_path: Path
) -> None:
    """The smoke test: the real daemon, IDLE, a 4-second wait, SIGTERM."""
    config = write_config(
        rig, tmp_path, decline_after="4s", poll_interval="1h", sweep_interval="1h"
    )
    log = (tmp_path / "askfirst.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "askfirst", "run", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
        env=clean_env(),
    )
    try:
        time.sleep(1.0)  # the first pass has run; from now on only IDLE wakes it early
        rig.deliver(linkedin_2012("Alice Example", ALICE), OWNER)
        rig.deliver(linkedin_2012("Bob Builder", BOB), OWNER)
        (ask_alice,) = rig.wait_for(ALICE, 1, timeout=10)
        (ask_bob,) = rig.wait_for(BOB, 1, timeout=10)
        rig.deliver(
            reply(ask_bob.raw, BOB, "Hi Pat, I organise the local Python user group."), OWNER
        )
        rig.deliver(plain("Carol <carol@example.test>"), OWNER)

        _, decline = rig.wait_for(ALICE, 2, timeout=15)
        assert load(decline.raw)["In-Reply-To"] == load(ask_alice.raw)["Message-ID"]
        notices = [
            m for m in rig.wait_for(OWNER, 5, timeout=10) if m.subject.startswith("[askfirst]")
        ]
        assert len(notices) == 1 and "Bob Builder" in notices[0].subject
        time.sleep(5)  # past Bob's deadline too: an answer means no decline
        assert len(rig.messages(BOB)) == 1
        assert len(rig.messages(ALICE)) == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
        log.close()
    output = (tmp_path / "askfirst.log").read_text()
    assert code == 0, output
    assert "askfirst.stopped" in output

    status = askfirst("status", "--config", str(config), "--json")
    assert status.returncode == 0, status.stderr
    records = {r["inviter_email"]: r for r in json.loads(status.stdout)}
    assert records[ALICE]["state"] == "declined"
    assert records[BOB]["state"] == "answered"
    for field in (
        "state",
        "inviter_email",
        "inviter_name",
        "network",
        "asked_at",
        "decline_due_at",
    ):
        assert field in records[ALICE]
    assert records[ALICE]["inviter_name"] == "Alice Example"
    assert records[ALICE]["network"] == "linkedin"

    table = askfirst("status", "--config", str(config))
    assert "declined" in table.stdout and "alice@example.test" in table.stdout


def test_check_succeeds_against_the_rig(rig: MailRig, tmp_path: Path) -> None:
    result = askfirst("check", "--config", str(write_config(rig, tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "imap: ok" in result.stdout and "smtp: ok" in result.stdout
    assert "IDLE" in result.stdout
    assert "classify.authserv_id is unset" in result.stdout  # and where to find the value:
    assert "mx.google.com" in result.stdout and "prod.outlook.com" in result.stdout


def test_check_names_the_key_of_a_config_error(rig: MailRig, tmp_path: Path) -> None:
    config = write_config(rig, tmp_path)
    config.write_text(config.read_text().replace(f"port = {rig.imap_port}", 'port = "imap"'))
    result = askfirst("check", "--config", str(config))
    assert result.returncode == 2
    assert "imap.port:" in result.stderr


def test_check_env_override_error_names_the_key(rig: MailRig, tmp_path: Path) -> None:
    result = askfirst(
        "check",
        "--config",
        str(write_config(rig, tmp_path)),
        env={"ASKFIRST_LIFECYCLE__DECLINE_AFTER": "soon"},
    )
    assert result.returncode == 2
    assert "lifecycle.decline_after:" in result.stderr


def test_check_exits_1_when_login_fails_and_never_prints_the_password(
    rig: MailRig, tmp_path: Path
) -> None:
    result = askfirst(
        "check",
        "--config",
        str(write_config(rig, tmp_path)),
        env={"ASKFIRST_IMAP__PASSWORD": "wrong-Secret-123"},
    )
    assert result.returncode == 1
    assert "imap: FAILED" in result.stdout
    assert "wrong-Secret-123" not in result.stdout + result.stderr


def test_check_exits_1_when_smtp_is_unreachable(rig: MailRig, tmp_path: Path) -> None:
    result = askfirst(
        "check", "--config", str(write_config(rig, tmp_path)), env={"ASKFIRST_SMTP__PORT": "1"}
    )
    assert result.returncode == 1
    assert "smtp: FAILED" in result.stdout


def test_check_reports_a_broken_template_as_a_config_error(rig: MailRig, tmp_path: Path) -> None:
    templates = tmp_path / "mytemplates"
    templates.mkdir()
    (templates / "ask.txt.j2").write_text("Subject: hi\n\n{{ inviter.nmae }}\n")
    config = write_config(rig, tmp_path)
    config.write_text(
        config.read_text().replace(f'dir = "{REPO / "templates"}"', 'dir = "mytemplates"')
    )
    result = askfirst("check", "--config", str(config))
    assert result.returncode == 2
    assert "templates.dir:" in result.stderr and "ask.txt.j2" in result.stderr


def test_run_once_drains_and_exits(rig: MailRig, tmp_path: Path) -> None:
    rig.deliver(linkedin_2012("Alice Example", ALICE), OWNER)
    result = askfirst("run", "--once", "--config", str(write_config(rig, tmp_path)))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["sent"] == 1
    assert len(rig.messages(ALICE)) == 1


def test_explain_json_fields(tmp_path: Path) -> None:
    eml = tmp_path / "invite.eml"
    eml.write_bytes(linkedin_2012("Alice Example", ALICE))
    result = askfirst("explain", str(eml), "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["is_invitation"] is True
    assert record["network"] == "linkedin"
    assert record["boilerplate"] is True
    assert record["personal_note"] == ""
    assert record["inviter_name"] == "Alice Example"
    assert record["reply_address"] == ALICE
    assert record["authenticated"] is None
    assert record["action"] == "ask"
    assert any("boilerplate" in r for r in record["reasons"])


def test_explain_plain_text_and_own_address(rig: MailRig, tmp_path: Path) -> None:
    eml = tmp_path / "mine.eml"
    eml.write_bytes(linkedin_2012("Pat Owner", OWNER))
    result = askfirst("explain", str(eml), "--config", str(write_config(rig, tmp_path)))
    assert result.returncode == 0
    assert result.stdout.splitlines()[0].endswith("IGNORE (rule own-address)")


def test_explain_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = askfirst("explain", str(tmp_path / "nope.eml"))
    assert result.returncode == 2
    assert "cannot read" in result.stderr


def test_health_reflects_the_last_pass(rig: MailRig, tmp_path: Path) -> None:
    config = str(write_config(rig, tmp_path))
    before = askfirst("health", "--config", config)
    assert before.returncode == 1
    assert "unhealthy" in before.stdout
    assert askfirst("run", "--once", "--config", config).returncode == 0
    after = askfirst("health", "--config", config)
    assert after.returncode == 0, after.stdout
    assert after.stdout.startswith("healthy")


def test_logs_are_json_lines_with_one_canonical_line_per_message(
    rig: MailRig, tmp_path: Path
) -> None:
    rig.deliver(linkedin_2012("Alice Example", ALICE), OWNER)
    rig.deliver(plain(f"Bob <{BOB}>", subject=f"my password is {rig.password(OWNER)}"), OWNER)
    result = askfirst("run", "--once", "--config", str(write_config(rig, tmp_path)))
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stderr.splitlines()]
    processed = [e for e in events if e["event"] == "mail.processed"]
    assert [(e["sender"], e["action"], e["rule"]) for e in processed] == [
        (ALICE, "ask", "boilerplate"),
        (BOB, "ignore", "not-invitation"),
    ]
    assert processed[1]["subject"] == "my password is ********"
    assert rig.password(OWNER) not in result.stderr
    assert {"timestamp", "level", "logger"} <= set(processed[0])


def test_explain_by_uid_reads_the_mailbox_without_marking_it_seen(
    rig: MailRig, tmp_path: Path
) -> None:
    uid = rig.append(OWNER, linkedin_2012("Alice Example", ALICE))
    config = str(write_config(rig, tmp_path))
    result = askfirst("explain", "--uid", str(uid), "--config", config, "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert (record["action"], record["reply_address"]) == ("ask", ALICE)
    assert "\\Seen" not in rig.messages(OWNER)[0].flags
    missing = askfirst("explain", "--uid", "99999", "--config", config)
    assert missing.returncode == 1
    assert "no mail with UID 99999" in missing.stderr


def test_metrics_and_healthz_listener(rig: MailRig, tmp_path: Path) -> None:
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = write_config(rig, tmp_path, poll_interval="1h", sweep_interval="1h")
    config.write_text(config.read_text() + f'\n[metrics]\nlisten = "127.0.0.1:{port}"\n')
    proc = subprocess.Popen(
        [sys.executable, "-m", "askfirst", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
        env=clean_env(),
    )
    try:
        rig.deliver(linkedin_2012("Alice Example", ALICE), OWNER)
        rig.wait_for(ALICE, 1, timeout=15)
        time.sleep(0.5)
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as health:
            assert health.status == 200
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as page:
            text = page.read().decode()
        assert 'askfirst_mails_sent_total{kind="ask"} 1.0' in text
        assert 'askfirst_invitations{account="default",state="asked"} 1.0' in text
        assert "askfirst_seconds_since_last_poll" in text
        assert "askfirst_imap_reconnects_total 0.0" in text
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
