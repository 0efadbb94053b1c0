"""Replicas: the same config started three times shares 12 accounts through PostgreSQL.
A replica SIGKILLed during a burst, or cut off from the database, loses its accounts to the
others within 30 s, and every inviter is asked exactly once."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from askfirst.pgstate import ACCOUNT_LOCK
from askfirst.testing.rig import MailRig
from harness import REPO, askfirst, spawn_daemon
from mails import linkedin_2012
from test_accounts_dir import account_file

# Twelve mailboxes served, 24 others inviting them (two each).
OWNERS = [f"inviter{n:02d}@example.test" for n in range(29, 41)]
INVITERS = [f"inviter{n:02d}@example.test" for n in range(1, 25)]
FAILOVER_LIMIT = 30.0


def replica_config(rig: MailRig, tmp_path: Path, url: str) -> Path:
    """Twelve [[accounts]] sharing one [state] url."""
    accounts = "".join(
        f'\n[[accounts]]\nname = "box{n:02d}"\n'
        + account_file(rig, user).replace("[", "[accounts.")
        for n, user in enumerate(OWNERS)
    )
    path = tmp_path / "config.toml"
    path.write_text(
        accounts
        + '\n[lifecycle]\ndecline_after = "1h"\npoll_interval = "1h"\nsweep_interval = "1h"\n'
        + "[limits]\nmax_per_hour = 1000\nmax_per_day = 10000\n"
        + f'[state]\nurl = "{url}"\n[templates]\ndir = "{REPO / "templates"}"\n'
    )
    return path


def start_replicas(
    n: int, config: Path, log: Path, url: str
) -> tuple[list[subprocess.Popen[bytes]], dict[int, int]]:
    """N replicas of one config, once they serve every account in fair shares."""
    procs = [spawn_daemon(config, log) for _ in range(n)]
    fair = dict.fromkeys((p.pid for p in procs), len(OWNERS) // n)
    return procs, wait_served(url, time.monotonic() + 60, lambda s: s == fair)


def served_by(url: str) -> dict[int, int]:
    """Client pid (the replica process) -> how many accounts its sessions hold."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.classid = %s AND l.objsubid = 2 AND l.granted",
            (ACCOUNT_LOCK,),
        ).fetchall()
    return dict(Counter(int(name.rsplit(" ", 1)[1]) for (name,) in rows))


def wait_served(url: str, until: float, check: object) -> dict[int, int]:
    while True:
        now = served_by(url)
        if check(now) or time.monotonic() > until:  # type: ignore[operator]
            return now
        time.sleep(0.2)


def all_served(replicas: set[int]) -> object:
    return lambda s: sum(s.values()) == len(OWNERS) and set(s) <= replicas


def asks(rig: MailRig) -> dict[str, int]:
    return {u: len(rig.messages(u)) for u in INVITERS}


def burst(rig: MailRig, inviters: list[str], pause: float) -> threading.Thread:
    def deliver() -> None:
        for n, inviter in enumerate(inviters):
            owner = OWNERS[n % len(OWNERS)]
            rig.deliver(linkedin_2012(f"Burst Person{n:02d}", inviter), owner)
            time.sleep(pause)

    thread = threading.Thread(target=deliver)
    thread.start()
    return thread


def wait_asked(rig: MailRig, inviters: list[str], timeout: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while not all(asks(rig)[u] for u in inviters) and time.monotonic() < deadline:
        time.sleep(0.3)
    time.sleep(2.0)  # a late second ask would show up now
    return {u: n for u, n in asks(rig).items() if u in inviters}


def stop_all(procs: list[subprocess.Popen[bytes]]) -> list[int | None]:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    return [proc.wait(timeout=30) for proc in procs]


@pytest.mark.timeout(240)
def test_sigkill_of_a_replica_during_a_burst_asks_everyone_exactly_once(
    rig: MailRig, tmp_path: Path, pg_url: str
) -> None:
    config = replica_config(rig, tmp_path, pg_url)
    log = tmp_path / "replicas.log"
    procs, spread = start_replicas(3, config, log, pg_url)
    try:
        pids = {p.pid for p in procs}
        assert spread == dict.fromkeys(pids, 4), log.read_text()[-3000:]  # a fair share each

        sender = burst(rig, INVITERS, pause=0.15)
        time.sleep(1.5)
        victim = procs[0]
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        killed_at = time.monotonic()
        after = wait_served(pg_url, killed_at + FAILOVER_LIMIT, all_served(pids - {victim.pid}))
        failover = time.monotonic() - killed_at
        assert sum(after.values()) == 12, (after, log.read_text()[-3000:])
        sender.join()

        counts = wait_asked(rig, INVITERS, timeout=60)
        assert counts == dict.fromkeys(INVITERS, 1), log.read_text()[-4000:]
        accepted = [r for _, rcpts, _ in rig.accepted for r in rcpts if r in INVITERS]
        assert len(accepted) == len(set(accepted))  # the server's own record agrees
        print(f"failover after SIGKILL: {failover:.1f} s; shares after: {after}")
    finally:
        codes = stop_all(procs[1:])
    assert codes == [0, 0]

    status = askfirst("status", "--json", "--config", str(config))
    records = json.loads(status.stdout)
    pairs = {(r["account"], r["inviter_email"]) for r in records}
    assert pairs == {(f"box{n % 12:02d}", u) for n, u in enumerate(INVITERS)}


@pytest.mark.timeout(240)
def test_a_replica_cut_off_from_the_database_stops_and_rejoins(
    rig: MailRig, tmp_path: Path, pg_url: str
) -> None:
    config = replica_config(rig, tmp_path, pg_url)
    log = tmp_path / "replicas.log"
    procs, spread = start_replicas(2, config, log, pg_url)
    try:
        pids = {p.pid for p in procs}
        assert spread == dict.fromkeys(pids, 6), log.read_text()[-3000:]
        cut = procs[0]
        with psycopg.connect(pg_url, autocommit=True) as conn:
            ended = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name LIKE %s",
                (f"askfirst % {cut.pid}",),
            ).fetchall()
        assert len(ended) == 7  # its control session and its six accounts' sessions
        cut_at = time.monotonic()
        taken = wait_served(pg_url, cut_at + FAILOVER_LIMIT, lambda s: s.get(procs[1].pid) == 12)
        assert taken.get(procs[1].pid) == 12, (taken, log.read_text()[-3000:])
        print(f"failover after pg_terminate_backend: {time.monotonic() - cut_at:.1f} s")

        sender = burst(rig, INVITERS[:12], pause=0.1)
        sender.join()
        back = wait_served(pg_url, time.monotonic() + 60, lambda s: s == dict.fromkeys(pids, 6))
        assert back == dict.fromkeys(pids, 6), log.read_text()[-3000:]  # it rejoined
        counts = wait_asked(rig, INVITERS[:12], timeout=60)
        assert counts == dict.fromkeys(INVITERS[:12], 1), log.read_text()[-4000:]
        assert cut.poll() is None  # it lived through it
        assert "replica.state_lost" in log.read_text()
    finally:
        codes = stop_all(procs)
    assert codes == [0, 0]


@pytest.mark.timeout(120)
def test_a_replica_picks_up_account_files_as_they_come_and_go(
    rig: MailRig, tmp_path: Path, pg_url: str
) -> None:
    folder = tmp_path / "accounts.d"
    folder.mkdir()
    for user in OWNERS[:2]:
        (folder / f"{user.split('@')[0]}.toml").write_text(account_file(rig, user))
    config = tmp_path / "config.toml"
    config.write_text(
        'accounts_dir = "accounts.d"\n[lifecycle]\npoll_interval = "1h"\n'
        + f'[state]\nurl = "{pg_url}"\n[templates]\ndir = "{REPO / "templates"}"\n'
    )
    log = tmp_path / "replica.log"
    proc = spawn_daemon(config, log)
    try:
        assert wait_served(pg_url, time.monotonic() + 30, lambda s: s == {proc.pid: 2})
        (folder / "third.toml").write_text(account_file(rig, OWNERS[2]))
        now = wait_served(pg_url, time.monotonic() + 30, lambda s: s == {proc.pid: 3})
        assert now == {proc.pid: 3}, log.read_text()[-3000:]
        (folder / "third.toml").unlink()
        now = wait_served(pg_url, time.monotonic() + 30, lambda s: s == {proc.pid: 2})
        assert now == {proc.pid: 2}, log.read_text()[-3000:]
    finally:
        assert stop_all([proc]) == [0]
