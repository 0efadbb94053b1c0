"""Several accounts in one process: state kept apart, one failing account does not stop
the others."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from askfirst.config import ConfigError
from askfirst.config_loading import load_accounts
from askfirst.testing.rig import MailRig
from harness import OWNER, REPO, askfirst, spawn_daemon
from mails import linkedin_2012

ALICE, BOB, CAROL = "alice@example.test", "bob@example.test", "carol@example.test"


def two_accounts(rig: MailRig, tmp_path: Path, bob_password: str) -> Path:
    def account(name: str, user: str, password: str) -> str:
        return f"""
[[accounts]]
name = "{name}"
[accounts.owner]
name = "{name.title()} Owner"
email = "{user}"
[accounts.imap]
host = "127.0.0.1"
port = {rig.imap_port}
username = "{user}"
password = "{password}"
tls = "none"
[accounts.smtp]
host = "127.0.0.1"
port = {rig.smtp_port}
tls = "none"
"""

    path = tmp_path / "config.toml"
    path.write_text(
        account("work", OWNER, rig.password(OWNER))
        + account("home", BOB, bob_password)
        + '\n[lifecycle]\npoll_interval = "1h"\nsweep_interval = "1h"\n'
        + f'[state]\npath = "state.sqlite3"\n[templates]\ndir = "{REPO / "templates"}"\n'
    )
    return path


def test_accounts_load_with_their_own_state(rig: MailRig, tmp_path: Path) -> None:
    work, home = load_accounts(two_accounts(rig, tmp_path, rig.password(BOB)))
    assert (work.name, work.owner.email, home.owner.email) == ("work", OWNER, BOB)
    assert work.state.path.name == "state.work.sqlite3"
    assert home.state.path.name == "state.home.sqlite3"
    assert work.lifecycle.poll_interval == home.lifecycle.poll_interval  # shared tables


def test_account_errors_name_the_account(rig: MailRig, tmp_path: Path) -> None:
    path = two_accounts(rig, tmp_path, rig.password(BOB))
    path.write_text(path.read_text().replace(f"port = {rig.imap_port}", 'port = "x"', 1))
    with pytest.raises(ConfigError, match=r"accounts\[0\]\.imap\.port: "):
        load_accounts(path)


def test_one_failing_account_does_not_stop_the_other(rig: MailRig, tmp_path: Path) -> None:
    config = two_accounts(rig, tmp_path, "wrong-password")
    rig.deliver(linkedin_2012("Alice Example", ALICE), OWNER)
    once = askfirst("run", "--once", "--config", str(config))
    assert once.returncode == 1  # one account could not log in ...
    assert len(rig.messages(ALICE)) == 1  # ... and the other did its job

    proc = spawn_daemon(config, tmp_path / "daemon.log")
    try:
        rig.deliver(linkedin_2012("Carol Direct", CAROL), OWNER)
        rig.wait_for(CAROL, 1, timeout=15)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    status = askfirst("status", "--json", "--config", str(config))
    records = json.loads(status.stdout)
    assert {(r["account"], r["inviter_email"]) for r in records} == {
        ("work", ALICE),
        ("work", CAROL),
    }
