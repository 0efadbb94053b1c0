"""P4 burst: N invitations land at once (written to tmp/ first, then renamed into the
Maildir's cur/ in one go, INTERNALDATE = now), with the sending caps raised out of reach.
The clock starts at the renames; "asked" stops when the SMTP sink has accepted the last
ask, "settled" when the Sent folder holds every copy (the daemon flags the invitations
before it files the copies, so by then the flags are set too).

The daemon runs as `askfirst run` (IDLE on). The baseline is baseline_burst.py, the raw
loop: IDLE, UID FETCH, every reply over one SMTP connection, then APPEND + STORE each.
Both get an untimed warm-up invitation first.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from benchlib import (
    BENCH,
    PYTHON,
    Line,
    MaildirWriter,
    MailRig,
    Seed,
    Sink,
    askfirst_command,
    ensure_maildir,
    invitation,
    ratio,
    rig_config,
    say,
    spawn,
    stop,
    wait_ready,
)

DAEMON_USER = "inviter01@example.test"
RAW_USER = "inviter02@example.test"


def sent_count(rig: MailRig, user: str) -> int:
    with rig.imap(user) as client:
        return int(client.folder_status("Sent", [b"MESSAGES"])[b"MESSAGES"])


def wait_sent(rig: MailRig, user: str, count: int, timeout: float) -> float:
    """monotonic() when Sent first held `count` messages (polled every 0.1 s)."""
    deadline = time.monotonic() + timeout
    with rig.imap(user) as client:
        while True:
            have = int(client.folder_status("Sent", [b"MESSAGES"])[b"MESSAGES"])
            if have >= count:
                return time.monotonic()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{user}: Sent holds {have} of {count} after {timeout} s")
            time.sleep(0.1)


def burst(
    rig: MailRig, sink: Sink, user: str, name: str, n: int, timeout: float
) -> tuple[float, float]:
    """Seconds from the renames to the last ask accepted, and to the last Sent copy."""
    writer = MaildirWriter(rig.maildir(user))
    sent_before = sent_count(rig, user)
    now = time.time()
    rcpts = [f"p4-{name}-{i}@inviters.test" for i in range(n)]
    seeds = [Seed(invitation(f"Pat Burst{i}", r, user), now) for i, r in enumerate(rcpts)]
    moves = writer.stage(seeds)
    t0 = time.monotonic()
    writer.publish(moves)
    asked = sink.wait_all(rcpts, timeout) - t0
    settled = wait_sent(rig, user, sent_before + n, timeout) - t0
    return asked, settled


def warm_up(rig: MailRig, sink: Sink, user: str, name: str) -> None:
    writer = MaildirWriter(rig.maildir(user))
    rcpt = f"p4-{name}-warmup@inviters.test"
    writer.publish(writer.stage([Seed(invitation("Pat Warmup", rcpt, user), time.time())]))
    sink.wait_for(rcpt, 60)
    wait_sent(rig, user, 1, 60)


def run(rig: MailRig, sink: Sink, work: Path, n: int) -> list[Line | str]:
    for user in (DAEMON_USER, RAW_USER):
        ensure_maildir(rig, user)
    timeout = max(120.0, n * 0.4)
    config = rig_config(rig, work / "p4", DAEMON_USER, sink.port)
    proc: subprocess.Popen[str] | None = None
    try:
        proc = spawn([*askfirst_command(), "run", "--config", str(config)], work / "p4/daemon.log")
        warm_up(rig, sink, DAEMON_USER, "daemon")
        d_asked, d_settled = burst(rig, sink, DAEMON_USER, "daemon", n, timeout)
        say(f"P4 daemon: asked in {d_asked:.2f} s, settled in {d_settled:.2f} s")
    finally:
        stop(proc)
    proc = None
    try:
        proc = spawn(
            [
                PYTHON,
                str(BENCH / "baseline_burst.py"),
                str(rig.imap_port),
                RAW_USER,
                rig.password(RAW_USER),
                str(sink.port),
            ],
            work / "p4/baseline.log",
            stdout_pipe=True,
        )
        wait_ready(proc)
        warm_up(rig, sink, RAW_USER, "raw")
        r_asked, r_settled = burst(rig, sink, RAW_USER, "raw", n, timeout)
        say(f"P4 raw: asked in {r_asked:.2f} s, settled in {r_settled:.2f} s")
    finally:
        stop(proc)
    d_rate, r_rate = n / d_asked, n / r_asked
    ds_rate, rs_rate = n / d_settled, n / r_settled
    return [
        Line(
            f"P4 burst, {n} invitations at once: until all asked",
            d_rate,
            "lifecycles/s",
            ratio(d_rate, r_rate),
            f"raw APPEND+SMTP loop {r_rate:.1f}/s",
            ">= 50/s",
            d_rate >= 50,
        ),
        Line(
            f"P4 burst, {n} invitations at once: until flagged and filed in Sent",
            ds_rate,
            "lifecycles/s",
            ratio(ds_rate, rs_rate),
            f"raw APPEND+SMTP loop {rs_rate:.1f}/s",
        ),
        f"P4 seconds: daemon asked {d_asked:.2f} / settled {d_settled:.2f}; "
        f"raw asked {r_asked:.2f} / settled {r_settled:.2f}",
    ]
