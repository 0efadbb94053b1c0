"""One writer per state file: a second `askfirst run` on a state a running daemon holds
refuses with its own exit code; claiming an outbox row is a compare-and-set."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

from askfirst.exits import EXIT_LOCKED
from askfirst.lock import hold, lock_path
from askfirst.mails import MailKind, OutboxState
from askfirst.store import Store
from askfirst.testing.rig import MailRig
from harness import askfirst, spawn_daemon, write_config


def test_a_second_run_on_a_held_state_refuses(rig: MailRig, tmp_path: Path) -> None:
    config = write_config(rig, tmp_path, poll_interval="1h", sweep_interval="1h")
    proc = spawn_daemon(config, tmp_path / "daemon.log")
    try:
        lock = lock_path(tmp_path / "state.sqlite3")
        deadline = time.monotonic() + 15
        while not (lock.exists() and lock.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.05)
        for args in (("--once",), ()):
            second = askfirst("run", "--config", str(config), *args)
            assert second.returncode == EXIT_LOCKED, second.stderr
            assert f"in use by process {proc.pid}" in second.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    after = askfirst("run", "--once", "--config", str(config))  # the lock died with it
    assert after.returncode == 0, after.stderr


def test_claiming_an_outbox_row_is_a_compare_and_set(tmp_path: Path) -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    first, second = Store(tmp_path / "s.sqlite3"), Store(tmp_path / "s.sqlite3")
    try:
        first.enqueue("<m@x>", None, MailKind.HANDOVER, "o@x", b"raw", now)
        pending, sending = OutboxState.PENDING, OutboxState.SENDING
        with first.transaction():
            assert first.claim("<m@x>", pending, sending)
        with second.transaction():
            assert not second.claim("<m@x>", pending, sending)  # already taken
    finally:
        first.close()
        second.close()


def test_with_a_state_url_the_file_lock_does_not_guard(
    rig: MailRig, tmp_path: Path, pg_url: str
) -> None:
    """With `[state] url` the account's lease is the one-writer guard: a lock on the
    (unused) state file does not stop a replica from running."""
    config = write_config(rig, tmp_path, poll_interval="1h", sweep_interval="1h")
    config.write_text(config.read_text().replace("[state]\n", f'[state]\nurl = "{pg_url}"\n'))
    held = hold(tmp_path / "state.sqlite3")  # as another askfirst would
    try:
        run = askfirst("run", "--once", "--config", str(config))
        assert run.returncode == 0, run.stderr
        assert not (tmp_path / "state.sqlite3").exists()
    finally:
        os.close(held)
