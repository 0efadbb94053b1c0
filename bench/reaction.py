"""P1 reaction: an invitation delivered over LMTP → the ask accepted by the SMTP server.

The real daemon runs as `askfirst run` (IDLE on), the baseline as baseline_react.py (raw
IDLE → UID FETCH → smtplib). Both send to the bench's SMTP sink, which notes the moment
each recipient's mail is accepted. Invitations go one at a time, alternating between the
two (so drift on this shared machine hits both alike); the clock starts when Dovecot's
LMTP has accepted the delivery and stops when the sink accepts the ask.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import (
    BENCH,
    PYTHON,
    Line,
    MailRig,
    Sink,
    askfirst_command,
    ensure_maildir,
    invitation,
    p50,
    p99,
    ratio,
    rig_config,
    say,
    spawn,
    stop,
    wait_ready,
)

GAP = 0.3  # seconds after each ask, so the daemon's own follow-up (flags, Sent) is done


@dataclass
class Target:
    name: str
    user: str
    samples: list[float] = field(default_factory=list)


def deliver_and_wait(rig: MailRig, sink: Sink, target: Target, tag: str) -> float:
    rcpt = f"p1-{target.name}-{tag}@inviters.test"
    raw = invitation(f"Robin Number{tag}", rcpt, to=target.user)
    rig.deliver(raw, target.user, mail_from=rcpt)
    delivered = time.monotonic()
    return sink.wait_for(rcpt, timeout=30) - delivered


def run(rig: MailRig, sink: Sink, work: Path, n: int) -> list[Line]:
    daemon_t = Target("daemon", "alice@example.test")
    raw_t = Target("raw", "bob@example.test")
    for t in (daemon_t, raw_t):
        ensure_maildir(rig, t.user)
    config = rig_config(rig, work / "p1", daemon_t.user, sink.port)
    daemon: subprocess.Popen[str] | None = None
    baseline: subprocess.Popen[str] | None = None
    try:
        daemon = spawn(
            [*askfirst_command(), "run", "--config", str(config)], work / "p1/daemon.log"
        )
        baseline = spawn(
            [
                PYTHON,
                str(BENCH / "baseline_react.py"),
                str(rig.imap_port),
                raw_t.user,
                rig.password(raw_t.user),
                str(sink.port),
            ],
            work / "p1/baseline.log",
            stdout_pipe=True,
        )
        wait_ready(baseline)
        # warm-up (untimed): proves both loops work, gets the daemon past its first pass
        for t in (daemon_t, raw_t):
            deliver_and_wait(rig, sink, t, "warmup")
            time.sleep(GAP)
        for i in range(n):
            for t in (daemon_t, raw_t) if i % 2 == 0 else (raw_t, daemon_t):
                t.samples.append(deliver_and_wait(rig, sink, t, str(i)))
                time.sleep(GAP)
        say(f"P1: {n} invitations each; daemon p50 {p50(daemon_t.samples):.3f} s")
    finally:
        stop(daemon)
        stop(baseline)
    d50, d99 = p50(daemon_t.samples), p99(daemon_t.samples)
    r50, r99 = p50(raw_t.samples), p99(raw_t.samples)
    return [
        Line(
            f"P1 reaction p50 ({n} invitations)",
            d50,
            "s",
            ratio(d50, r50),
            f"raw IDLE->fetch->SMTP p50 {r50:.3f} s",
            "p50 < 1 s",
            d50 < 1.0,
        ),
        Line(
            f"P1 reaction p99 ({n} invitations)",
            d99,
            "s",
            ratio(d99, r99),
            f"raw IDLE->fetch->SMTP p99 {r99:.3f} s",
        ),
    ]
