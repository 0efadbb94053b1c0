"""Clear errors, never a traceback: config and state-file problems name the file and the
fix; status reads a state file without writing it; check says what run will meet; the
metrics listener is bounded; each event is logged once."""

from __future__ import annotations

import hashlib
import socket
import sqlite3
import time
import urllib.request
from pathlib import Path

import pytest

from askfirst import check_command, cli, logs
from askfirst.clock import from_epoch
from askfirst.config import ConfigError
from askfirst.config_loading import load_accounts
from askfirst.metrics import CLIENT_TIMEOUT, MAX_CLIENTS, Metrics
from askfirst.store import Store
from askfirst.store.schema import MIGRATIONS
from askfirst.testing.dovecot import free_ports
from askfirst.testing.rig import MailRig
from harness import Harness, askfirst, write_config
from mails import linkedin_2012

ALICE = "alice@example.test"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def without_secrets(config: Path, rig: MailRig) -> Path:
    config.write_text(
        config.read_text().replace(f'password = "{rig.password("owner@example.test")}"\n', "")
    )
    return config


def test_an_unreadable_config_names_the_file_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("")

    def refuse(*args: object, **kwargs: object) -> object:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(ConfigError) as caught:
        load_accounts(config)
    (problem,) = caught.value.problems
    assert str(config) in problem and "readable" in problem and "Permission denied" in problem
    assert cli.main(["status", "--config", str(config)]) == 2
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("command", ["status", "run"])
def test_a_damaged_state_file_is_a_clear_error(rig: MailRig, tmp_path: Path, command: str) -> None:
    config = write_config(rig, tmp_path)
    state = tmp_path / "state.sqlite3"
    state.write_bytes(b"this is not a database, it was overwritten by something else" * 100)
    before = digest(state)
    result = askfirst(command, "--config", str(config), *(["--once"] if command == "run" else []))
    assert result.returncode == 2, result.stderr
    assert str(state) in result.stderr and "backup" in result.stderr
    assert "Traceback" not in result.stderr
    assert digest(state) == before


def test_a_state_file_from_a_newer_version_is_refused_and_left_unchanged(
    rig: MailRig, tmp_path: Path
) -> None:
    config = write_config(rig, tmp_path)
    state = tmp_path / "state.sqlite3"
    Store(state).close()
    db = sqlite3.connect(state)
    db.execute("PRAGMA user_version = 99")
    db.close()
    before = digest(state)
    result = askfirst("run", "--once", "--config", str(config))
    assert result.returncode == 2
    assert "state version 99" in result.stderr
    assert f"up to {len(MIGRATIONS)}" in result.stderr
    assert "Traceback" not in result.stderr
    assert digest(state) == before


def test_a_data_folder_that_cannot_be_created_is_a_clear_error(
    rig: MailRig, tmp_path: Path
) -> None:
    config = write_config(rig, tmp_path)
    (tmp_path / "data").write_text("a file where the data folder should be")
    config.write_text(config.read_text().replace('path = "state.sqlite3"', 'path = "data/s.db"'))
    result = askfirst("run", "--once", "--config", str(config))
    assert result.returncode == 2
    assert "state.path: cannot create" in result.stderr and "writable" in result.stderr
    assert "Traceback" not in result.stderr


def test_status_reads_the_state_without_writing_it_and_needs_no_secrets(
    h: Harness, tmp_path: Path
) -> None:
    state = h.settings.state.path
    store = Store(state)
    with store.transaction():
        store.facts.last_pass_at = from_epoch(0)
    store.close()
    with sqlite3.connect(state) as db:  # an older version: status must not migrate it
        db.execute("PRAGMA user_version = 1")
    state.chmod(0o444)
    before = digest(state)
    config = without_secrets(write_config(h.rig, tmp_path), h.rig)
    env = {"ASKFIRST_IMAP__PASSWORD": "", "ASKFIRST_SMTP__PASSWORD": ""}
    result = askfirst("status", "--config", str(config), env=env)
    assert result.returncode == 0, result.stderr
    assert "invitations: 0" in result.stdout
    assert digest(state) == before
    with sqlite3.connect(f"{state.as_uri()}?mode=ro", uri=True) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    eml = tmp_path / "invite.eml"
    eml.write_bytes(linkedin_2012("Alice Example", ALICE))
    explained = askfirst("explain", str(eml), "--config", str(config), env=env)
    assert explained.returncode == 0, explained.stderr
    ran = askfirst("run", "--once", "--config", str(config), env=env)
    assert ran.returncode == 2 and "imap.password" in ran.stderr  # run does need them


def test_check_says_what_run_will_meet(rig: MailRig, tmp_path: Path) -> None:
    config = write_config(rig, tmp_path)
    text = config.read_text().replace("[templates]\ndir = ", '[templates]\ndir = "missing" #')
    config.write_text('mode = "approve"\n' + text)
    result = askfirst(
        "check", "--config", str(config), env={"ASKFIRST_IMAP__SENT_FOLDER": "Sent by me"}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "templates: folder" in out and "built-in templates will be used" in out
    assert "classify.authserv_id: unset" in out
    assert "sent folder 'Sent by me' does not exist: askfirst will create it" in out


def test_check_refuses_a_send_window_that_never_opens(
    h: Harness, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def never(*args: object) -> object:
        raise ValueError("never opens")

    monkeypatch.setattr(check_command, "next_send_time", never)
    assert check_command._foresee(h.settings) is False
    assert "never opens" in capsys.readouterr().out


@pytest.mark.parametrize(
    "listen", ["nonsense host:9464", "127.0.0.1", "::1:9464", "[::1]:99999", "300.1.2.3:80"]
)
def test_a_bad_metrics_address_is_a_config_error(rig: MailRig, tmp_path: Path, listen: str) -> None:
    config = write_config(rig, tmp_path)
    config.write_text(config.read_text() + f'\n[metrics]\nlisten = "{listen}"\n')
    with pytest.raises(ConfigError) as caught:
        load_accounts(config)
    assert any(p.startswith("metrics.listen") for p in caught.value.problems)


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback here")
def test_the_metrics_listener_serves_ipv6() -> None:
    (port,) = free_ports(1)
    metrics = Metrics(stale_after=60)
    metrics.pass_completed()
    server = metrics.serve(f"[::1]:{port}")
    try:
        with urllib.request.urlopen(f"http://[::1]:{port}/healthz", timeout=5) as page:
            assert page.status == 200
    finally:
        server.shutdown()
        server.server_close()


def test_the_metrics_listener_is_bounded(capsys: pytest.CaptureFixture[str]) -> None:
    (port,) = free_ports(1)
    metrics = Metrics(stale_after=60)
    metrics.pass_completed()
    server = metrics.serve(f"127.0.0.1:{port}")
    silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(MAX_CLIENTS)]
    try:
        time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", port)) as extra:
            extra.settimeout(2)
            assert extra.recv(1) == b""  # closed at once: every slot is taken
        time.sleep(CLIENT_TIMEOUT + 0.5)  # the silent clients are dropped
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as page:
            assert page.status == 200
        for client in silent:
            client.settimeout(1)
            assert client.recv(1) == b""
    finally:
        for client in silent:
            client.close()
        server.shutdown()
        server.server_close()
    assert "Traceback" not in capsys.readouterr().out


async def test_each_invitation_event_is_logged_once(
    h: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure(json=True)  # to this test's stderr (an earlier test's CLI run rebound it)
    h.invite(linkedin_2012("Alice Example", ALICE))
    report = await h.step()
    assert report.sent == 1
    out = capsys.readouterr().err
    assert out.count("invitation.asked") == 1
    assert out.count("mail.processed") == 1


def test_status_before_the_first_run_says_so(rig: MailRig, tmp_path: Path) -> None:
    config = write_config(rig, tmp_path)
    result = askfirst("status", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "askfirst run has not started" in result.stdout
    assert not (tmp_path / "state.sqlite3").exists()  # status creates nothing
    assert askfirst("status", "--json", "--config", str(config)).stdout.strip() == "[]"
