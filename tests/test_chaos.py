"""One live daemon (`askfirst run` against the rig) lives through a hostile mail, a full
state volume, a state file locked for 10 s and a refused login. Afterwards every
invitation was asked exactly once and the daemon still reacts within a second.

The full volume is a 16 MB tmpfs mounted for the state file and then filled up (as root,
where mount works); elsewhere the daemon's RLIMIT_FSIZE is set to 0 with prlimit, so any
write that grows a file fails (EFBIG).
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from askfirst.testing.rig import MailRig
from askfirst.testing.users import password_of
from harness import OWNER, spawn_daemon, write_config
from mails import linkedin_2012

INVITERS = [f"inviter{n:02d}@example.test" for n in range(31, 37)]


@contextlib.contextmanager
def state_volume(tmp_path: Path) -> Iterator[tuple[Path, bool]]:
    """A folder for the state file: a small tmpfs when mount works (True), else plain."""
    folder = tmp_path / "data"
    folder.mkdir()
    mounted = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(folder)],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    try:
        yield folder, mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=False)


@contextlib.contextmanager
def volume_full(folder: Path, mounted: bool, pid: int) -> Iterator[None]:
    if mounted:
        filler = folder / "filler"
        with filler.open("wb") as out, contextlib.suppress(OSError):
            while True:  # until ENOSPC
                out.write(b"\0" * 65536)
                out.flush()
        try:
            yield
        finally:
            filler.unlink()
        return
    limits = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (0, limits[1]))
    try:
        yield
    finally:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, limits)


def asks(rig: MailRig, user: str) -> int:
    new = rig.maildir(user) / "new"
    cur = rig.maildir(user) / "cur"
    return sum(len(os.listdir(d)) for d in (new, cur) if d.is_dir())


def wait_asked(rig: MailRig, user: str, timeout: float) -> float:
    started = time.monotonic()
    while asks(rig, user) < 1:
        assert time.monotonic() - started < timeout, f"{user} was not asked in {timeout} s"
        time.sleep(0.02)
    return time.monotonic() - started


def hostile() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Mallory <mallory@example.net>"
    msg["To"] = OWNER
    msg["Subject"] = "Invitation to connect on LinkedIn"
    msg.set_content("linkedin.com/" * 20_000, cte="quoted-printable")
    return msg.as_bytes()


def set_password(rig: MailRig, user: str, password: str) -> None:
    users = rig.root / "users"
    lines = users.read_text().splitlines()
    prefix = f"{user}:"
    users.write_text(
        "".join(
            (f"{user}:{{PLAIN}}{password}" if line.startswith(prefix) else line) + "\n"
            for line in lines
        )
    )
    later = time.time() + 2  # a new mtime, so Dovecot reads the file again
    os.utime(users, (later, later))


@pytest.mark.timeout(120)
def test_a_live_daemon_lives_through_chaos(rig: MailRig, tmp_path: Path) -> None:
    config = write_config(
        rig, tmp_path, decline_after="1h", poll_interval="1h", sweep_interval="1h"
    )
    log = tmp_path / "daemon.log"
    with state_volume(tmp_path) as (folder, mounted):
        state = folder / "state.sqlite3"
        text = config.read_text().replace('path = "state.sqlite3"', f'path = "{state}"')
        config.write_text(text.replace('tls = "none"', 'tls = "none"\nlogin_retry = "2s"', 1))
        proc = spawn_daemon(config, log)
        try:
            rig.deliver(linkedin_2012("Chaos First", INVITERS[0]), OWNER)
            wait_asked(rig, INVITERS[0], 15)

            # 1. A hostile mail, then an invitation right behind it.
            rig.deliver(hostile(), OWNER)
            rig.deliver(linkedin_2012("Chaos Second", INVITERS[1]), OWNER)
            wait_asked(rig, INVITERS[1], 5)

            # 2. The state volume is full while an invitation arrives.
            with volume_full(folder, mounted, proc.pid):
                rig.deliver(linkedin_2012("Chaos Third", INVITERS[2]), OWNER)
                time.sleep(3)
                assert asks(rig, INVITERS[2]) == 0  # nothing can be recorded, so nothing sent
            wait_asked(rig, INVITERS[2], 15)

            # 3. Another program holds the state file locked for 10 s.
            holder = sqlite3.connect(state, isolation_level=None, timeout=10)
            holder.execute("BEGIN EXCLUSIVE")
            try:
                rig.deliver(linkedin_2012("Chaos Fourth", INVITERS[3]), OWNER)
                time.sleep(10)
                assert asks(rig, INVITERS[3]) == 0
            finally:
                holder.execute("ROLLBACK")
                holder.close()
            wait_asked(rig, INVITERS[3], 15)

            # 4. The server refuses the login for a while.
            set_password(rig, OWNER, "changed-by-the-admin")
            rig.kick(OWNER)
            rig.deliver(linkedin_2012("Chaos Fifth", INVITERS[4]), OWNER)
            time.sleep(3)
            set_password(rig, OWNER, password_of(OWNER))
            wait_asked(rig, INVITERS[4], 20)

            # Afterwards: it still reacts within a second.
            time.sleep(1)
            rig.deliver(linkedin_2012("Chaos Last", INVITERS[5]), OWNER)
            reaction = wait_asked(rig, INVITERS[5], 5)
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=20)
        daemon_log = log.read_text()
        assert reaction < 1.0, daemon_log[-3000:]
        assert [asks(rig, u) for u in INVITERS] == [1] * len(INVITERS), daemon_log[-3000:]
        asked = [r for _, rcpts, _ in rig.accepted for r in rcpts if r in INVITERS]
        assert sorted(asked) == sorted(INVITERS)  # the SMTP server agrees: once each
        assert code == 0
        assert "Traceback" not in daemon_log
        assert "pass.state_busy" in daemon_log  # the full disk and the lock were met ...
        assert "imap.login_refused" in daemon_log  # ... and the refused login
        assert "mail.set_aside" not in daemon_log  # and no invitation was given up on
