"""`accounts_dir`: one TOML file per account, picked up and let go without a restart."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from askfirst.config import ConfigError
from askfirst.config_loading import load_accounts
from askfirst.testing.rig import MailRig
from harness import OWNER, REPO, spawn_daemon
from mails import linkedin_2012

BOB, CAROL, DAVE = "bob@example.test", "carol@example.test", "dave@example.test"


def account_file(rig: MailRig, user: str) -> str:
    return f"""[owner]
name = "Owner of {user}"
email = "{user}"
[imap]
host = "127.0.0.1"
port = {rig.imap_port}
username = "{user}"
password = "{rig.password(user)}"
tls = "none"
[smtp]
host = "127.0.0.1"
port = {rig.smtp_port}
tls = "none"
"""


def folder_config(rig: MailRig, tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "accounts.d").mkdir(exist_ok=True)
    (tmp_path / "accounts.d" / "main.toml").write_text(account_file(rig, OWNER))
    path = tmp_path / "config.toml"
    path.write_text(
        'accounts_dir = "accounts.d"\n'
        + extra
        + '[lifecycle]\npoll_interval = "1h"\nsweep_interval = "1h"\n'
        + f'[state]\npath = "state.sqlite3"\n[templates]\ndir = "{REPO / "templates"}"\n'
    )
    return path


def test_every_file_is_an_account_named_after_it(rig: MailRig, tmp_path: Path) -> None:
    path = folder_config(rig, tmp_path)
    (tmp_path / "accounts.d" / "bob.toml").write_text(account_file(rig, BOB))
    (tmp_path / "accounts.d" / "notes.txt").write_text("not an account")
    bob, main = load_accounts(path)  # in file name order
    assert (main.name, main.owner.email, bob.name, bob.owner.email) == ("main", OWNER, "bob", BOB)
    assert bob.state.path.name == "state.bob.sqlite3"  # each keeps its own state

    (tmp_path / "accounts.d" / "bad.toml").write_text(account_file(rig, CAROL) + "port = 'x'\n")
    with pytest.raises(ConfigError, match=r"accounts_dir/bad\.toml: "):
        load_accounts(path)


def test_files_added_and_removed_are_picked_up_while_running(rig: MailRig, tmp_path: Path) -> None:
    path = folder_config(rig, tmp_path)
    log = tmp_path / "daemon.log"
    proc = spawn_daemon(path, log)
    try:
        rig.deliver(linkedin_2012("Carol Example", CAROL), OWNER)
        rig.wait_for(CAROL, 1, timeout=30)

        (tmp_path / "accounts.d" / "bob.toml").write_text(account_file(rig, BOB))
        deadline = time.monotonic() + 30
        while '"account": "bob"' not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        rig.deliver(linkedin_2012("Dave Example", DAVE), BOB)
        rig.wait_for(DAVE, 1, timeout=30)  # the new account, served without a restart

        (tmp_path / "accounts.d" / "main.toml").unlink()
        deadline = time.monotonic() + 30
        while "removed from the configuration" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        rig.deliver(linkedin_2012("Erin Example", "erin@example.test"), OWNER)
        time.sleep(3)
        assert rig.messages("erin@example.test") == []  # main is no longer served
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
