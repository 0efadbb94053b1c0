"""Many accounts in one process: `askfirst run` with N accounts (one TOML file each in
`accounts_dir`, SQLite state) on N rig mailboxes. Reports the time until every account
finished its first pass, then RSS, threads and fds, then the reaction (LMTP delivery of an
invitation to the ask in the inviter's mailbox) on 20 accounts spread over the range,
the last one included.

    .venv/bin/python bench/many_accounts.py [--accounts 1000] [--idle-check 1]

Every IMAP process of Dovecot needs an inotify instance to push IDLE at once; beyond the
kernel's per-user `fs.inotify.max_user_instances` (128 by default) it looks every
`mailbox_idle_check_interval` (30 s), which then bounds the reaction, not askfirst.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from askfirst.testing.rig import MailRig, start_rig  # noqa: E402
from mails import linkedin_2012  # noqa: E402

INVITERS = [f"inviter{n:02d}@example.test" for n in range(1, 21)]


def box(n: int) -> str:
    return f"box{n:04d}@example.test"


def account(rig: MailRig, user: str) -> str:
    return f"""[owner]
name = "Owner {user}"
email = "{user}"
[imap]
host = "127.0.0.1"
port = {rig.imap_port}
username = "{user}"
password = "boxpass"
tls = "none"
[smtp]
host = "127.0.0.1"
port = {rig.smtp_port}
tls = "none"
"""


def first_passes_done(work: Path, names: list[str]) -> int:
    done = 0
    for name in names:
        path = work / f"state.{name}.sqlite3"
        if not path.exists():
            continue
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                row = db.execute("SELECT value FROM meta WHERE key = 'last_pass_at'").fetchone()
        except sqlite3.Error:
            continue
        done += row is not None
    return done


def proc_figures(pid: int) -> tuple[float, int, int]:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024
    threads = next(int(line.split()[1]) for line in status if line.startswith("Threads"))
    return rss, threads, len(os.listdir(f"/proc/{pid}/fd"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument(
        "--idle-check",
        default="",
        metavar="SECONDS",
        help="Dovecot's mailbox_idle_check_interval: how often an IMAP process without an "
        "inotify instance (beyond fs.inotify.max_user_instances) looks for new mail",
    )
    args = parser.parse_args()
    n = args.accounts
    rig = start_rig()
    if args.idle_check:
        with rig.conf.open("a") as conf:
            conf.write(f"mailbox_idle_check_interval = {args.idle_check} secs\n")
        rig.restart_dovecot()
    work = Path(tempfile.mkdtemp(prefix="askfirst-many-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        with (rig.root / "users").open("a") as users:  # passwd-file: re-read on change
            users.writelines(f"{box(i)}:{{PLAIN}}boxpass\n" for i in range(1, n + 1))
        (work / "accounts").mkdir()
        names = [f"box{i:04d}" for i in range(1, n + 1)]
        for i, name in enumerate(names, 1):
            (work / "accounts" / f"{name}.toml").write_text(account(rig, box(i)))
        (work / "config.toml").write_text(
            'accounts_dir = "accounts"\n[lifecycle]\ndecline_after = "1h"\n'
            "[limits]\nmax_per_hour = 100000\nmax_per_day = 100000\n"
            f'[state]\npath = "state.sqlite3"\n[templates]\ndir = "{ROOT / "templates"}"\n'
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASKFIRST_")}
        started = time.monotonic()
        with (work / "daemon.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "askfirst", "run", "--config", str(work / "config.toml")],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=work,
                env=env,
            )
        while (done := first_passes_done(work, names)) < n and time.monotonic() - started < 600:
            time.sleep(2)
        first = time.monotonic() - started
        time.sleep(5)
        rss, threads, fds = proc_figures(proc.pid)
        picks = [round(1 + k * (n - 1) / (len(INVITERS) - 1)) for k in range(len(INVITERS))]
        reactions = []
        for inviter, i in zip(INVITERS, picks, strict=True):
            t0 = time.monotonic()
            rig.deliver(linkedin_2012(f"Bench Person{i}", inviter), box(i))
            while not rig.messages(inviter) and time.monotonic() - t0 < 60:
                time.sleep(0.02)
            reactions.append(time.monotonic() - t0)
        print(
            f"{n} accounts: first passes {done}/{n} in {first:.0f} s; RSS {rss:.0f} MB, "
            f"{threads} threads, {fds} fds; reaction p50 {statistics.median(reactions):.2f} s, "
            f"max {max(reactions):.2f} s, last account {reactions[-1]:.2f} s"
        )
        server_log = (rig.root / "dovecot.log").read_text(errors="replace")
        if "inotify" in server_log:  # beyond it, Dovecot polls for IDLE every 30 s
            print(
                "    (Dovecot ran out of inotify instances: fs.inotify.max_user_instances = "
                f"{Path('/proc/sys/fs/inotify/max_user_instances').read_text().strip()}, "
                f"{server_log.count('inotify')} warnings)"
            )
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)
        rig.stop()


if __name__ == "__main__":
    main()
