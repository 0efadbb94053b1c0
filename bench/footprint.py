"""P6 idle footprint: RSS and CPU seconds of the real `askfirst run` process while it
sits idle on a mailbox (IDLE on, default intervals: a sweep pass every minute), read
from /proc/<pid>/status and /proc/<pid>/stat. Baseline: baseline_idle.py, a bare Python
process holding one plain-imaplib IDLE connection to the same mailbox.

It runs last, after the other scenarios have finished and stopped their processes, so
the machine is quiet: measured while P1-P5 ran, the same daemon used ~60% more CPU per
wake-up (cache and frequency effects on a busy 2-core machine).
"""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import time
from pathlib import Path

from benchlib import (
    BENCH,
    DAY,
    PYTHON,
    Line,
    MaildirWriter,
    MailRig,
    Seed,
    Sink,
    ThreadUse,
    askfirst_command,
    cpu_seconds,
    ensure_maildir,
    plain_mail,
    poll,
    ratio,
    rig_config,
    rss_mb,
    say,
    spawn,
    stop,
    thread_use,
    wait_ready,
)

USER = "owner@example.test"
SIZE, RECENT = 1_000, 50


class Footprint:
    def __init__(self, rig: MailRig, sink: Sink, work: Path, seconds: float) -> None:
        self.rig, self.sink, self.work, self.seconds = rig, sink, work / "p6", seconds
        self.daemon: subprocess.Popen[str] | None = None
        self.baseline: subprocess.Popen[str] | None = None
        self.rss: dict[int, list[float]] = {}
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None
        self.t0 = 0.0
        self.window = 0.0
        self.hwm = 0.0
        self.cpu0: dict[int, float] = {}
        self.cpu1: dict[int, float] = {}
        self.threads0: dict[int, dict[int, ThreadUse]] = {}
        self.threads1: dict[int, dict[int, ThreadUse]] = {}

    def _seed(self) -> None:
        maildir = ensure_maildir(self.rig, USER)
        now = time.time()
        old = SIZE - RECENT
        seeds = [
            Seed(
                plain_mail(i, USER, now - 300 * DAY + i * DAY / 5),
                now - 300 * DAY + i * DAY / 5,
                True,
            )
            for i in range(old)
        ]
        seeds += [
            Seed(plain_mail(old + j, USER, now - DAY + j * 60), now - DAY + j * 60)
            for j in range(RECENT)
        ]
        MaildirWriter(maildir).write(seeds)

    def start(self) -> None:
        """Start both processes, let the daemon finish its first pass, start the clock."""
        self._seed()
        config = rig_config(self.rig, self.work, USER, self.sink.port)
        state = self.work / "state.sqlite3"
        self.daemon = spawn(
            [*askfirst_command(), "run", "--config", str(config)], self.work / "daemon.log"
        )
        self.baseline = spawn(
            [
                PYTHON,
                str(BENCH / "baseline_idle.py"),
                str(self.rig.imap_port),
                USER,
                self.rig.password(USER),
            ],
            self.work / "baseline.log",
            stdout_pipe=True,
        )
        wait_ready(self.baseline)

        def first_pass_done() -> bool:
            if self.daemon is not None and self.daemon.poll() is not None:
                raise RuntimeError(f"askfirst run exited with {self.daemon.returncode}")
            if not state.exists():
                return False
            try:
                with sqlite3.connect(f"file:{state}?mode=ro", uri=True) as db:
                    return int(db.execute("SELECT COUNT(*) FROM seen").fetchone()[0]) >= RECENT
            except sqlite3.Error:
                return False

        poll(first_pass_done, 60, 0.2, "the daemon's first pass")
        time.sleep(3)  # the IDLE watcher connects and settles
        pids = [self.daemon.pid, self.baseline.pid]
        self.t0 = time.monotonic()
        self.cpu0 = {pid: cpu_seconds(pid) for pid in pids}
        self.threads0 = {pid: thread_use(pid) for pid in pids}
        self.rss = {pid: [rss_mb(pid)] for pid in pids}
        self._sampler = threading.Thread(target=self._sample, args=(pids,), daemon=True)
        self._sampler.start()
        say(f"P6: idle window of {self.seconds:.0f} s started")

    def _sample(self, pids: list[int]) -> None:
        """RSS every 5 s; at the end of the window, the closing CPU and RSS readings."""
        end = self.t0 + self.seconds
        while not self._stop.wait(min(5.0, max(0.0, end - time.monotonic()))):
            now = time.monotonic()
            for pid in pids:
                self.rss[pid].append(rss_mb(pid))
            if now >= end:
                self.window = now - self.t0
                self.cpu1 = {pid: cpu_seconds(pid) for pid in pids}
                self.threads1 = {pid: thread_use(pid) for pid in pids}
                self.hwm = rss_mb(pids[0], "VmHWM")
                return

    def finish(self) -> list[Line | str]:
        assert self.daemon is not None
        assert self.baseline is not None
        assert self._sampler is not None
        remaining = self.t0 + self.seconds - time.monotonic()
        if remaining > 0:
            say(f"P6: waiting {remaining:.0f} s for the idle window to end")
        self._sampler.join()
        if not self.cpu1:
            raise RuntimeError("the idle window ended without its closing readings")
        d, b = self.daemon.pid, self.baseline.pid
        window = self.window
        use = {pid: self._thread_deltas(pid) for pid in (d, b)}
        # schedstat (ns) over the live threads; /proc/<pid>/stat (10 ms ticks) as a check
        cpu = {pid: sum(u.cpu for u in use[pid].values()) for pid in (d, b)}
        ticks = {pid: self.cpu1[pid] - self.cpu0[pid] for pid in (d, b)}
        self.close()
        per_hour = {pid: cpu[pid] * 3600 / window for pid in (d, b)}
        d_rss, b_rss = max(self.rss[d]), max(self.rss[b])
        threads = ", ".join(
            f"{'main' if tid == d else f'thread {n}'} {u.cpu * 3600 / window:.2f} CPU-s/h "
            f"{u.wakeups / window:.2f} wakeups/s"
            for n, (tid, u) in enumerate(sorted(use[d].items()))
        )
        return [
            Line(
                f"P6 idle RSS over {window:.0f} s",
                d_rss,
                "MB",
                ratio(d_rss, b_rss),
                f"bare Python + one IMAP IDLE {b_rss:.1f} MB",
                "< 60 MB",
                d_rss < 60,
            ),
            Line(
                f"P6 idle CPU over {window:.0f} s",
                per_hour[d],
                "CPU-s/hour",
                ratio(per_hour[d], per_hour[b]),
                f"bare Python + one IMAP IDLE {per_hour[b]:.3f} CPU-s/hour",
                "< 1 CPU-s/hour",
                per_hour[d] < 1,
            ),
            f"P6 raw: daemon {cpu[d] * 1000:.1f} ms CPU in {window:.0f} s (utime+stime "
            f"{ticks[d] * 1000:.0f} ms); by thread: {threads}; RSS first {self.rss[d][0]:.1f} "
            f"MB, last {self.rss[d][-1]:.1f} MB, VmHWM {self.hwm:.1f} MB; baseline "
            f"{cpu[b] * 1000:.1f} ms CPU",
        ]

    def _thread_deltas(self, pid: int) -> dict[int, ThreadUse]:
        before, after = self.threads0[pid], self.threads1[pid]
        zero = ThreadUse(0.0, 0)
        return {
            tid: ThreadUse(
                u.cpu - before.get(tid, zero).cpu, u.wakeups - before.get(tid, zero).wakeups
            )
            for tid, u in after.items()
        }

    def close(self) -> None:
        self._stop.set()
        stop(self.daemon)
        stop(self.baseline)
