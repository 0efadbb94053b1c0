"""askfirst benchmarks P1-P6, each against a baseline measured in the same run
on the same rig (a throwaway Dovecot + SMTP bridge from askfirst.testing, plus an SMTP sink).

    .venv/bin/python bench/run.py                 # everything, full sizes (< 10 min)
    .venv/bin/python bench/run.py --quick         # smaller sizes, 30 s idle (< 2 min)
    .venv/bin/python bench/run.py --only P1,P3    # some of them
    .venv/bin/python bench/run.py --quick --full-idle   # quick, but the 5-minute P6
    .venv/bin/python bench/run.py --pin           # measure a copy taken at start (others edit)

Each figure prints as `name: value unit (ratio vs baseline)`; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import benchlib
import burst
import first_start
import reaction
import sweep
import wake
from benchlib import Line, MailRig, Sink, find_dovecot, say, start_rig
from footprint import Footprint
from mailrig import SRC

PIN_ENV = "ASKFIRST_BENCH_PINNED"
ALL = ("P1", "P2", "P3", "P4", "P5", "P6")


@dataclass(frozen=True)
class Sizes:
    p1_invitations: int
    p3_mailbox: int
    p3_newer: int
    p3_invitations: int
    p3_reps: int
    p4_burst: int
    p5_open: int
    p6_seconds: float


FULL = Sizes(50, 20_000, 1_000, 20, 3, 1_000, 100_000, 300)
QUICK = Sizes(10, 2_000, 200, 5, 3, 200, 10_000, 30)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, 30 s idle")
    parser.add_argument("--only", default=",".join(ALL), help="e.g. P1,P3 (default: all)")
    parser.add_argument(
        "--full-idle", action="store_true", help="P6 over 5 minutes even with --quick"
    )
    parser.add_argument(
        "--profile", action="store_true", help="also write a cProfile of one P3 pass"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, state files)")
    parser.add_argument(
        "--pin",
        action="store_true",
        help="copy daemon/, templates/ and the test helpers first and measure that copy, "
        "so edits made while the suite runs cannot mix versions",
    )
    args = parser.parse_args(argv)
    args.only = [p.strip().upper() for p in args.only.split(",") if p.strip()]
    unknown = set(args.only) - set(ALL)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    return args


def emit(items: list[Line | str]) -> None:
    for item in items:
        print(item.render() if isinstance(item, Line) else f"    ({item})", flush=True)


def describe_source() -> str:
    """Which daemon code is measured: a pinned copy, or the tree (commit + edits)."""
    pinned = os.environ.get(PIN_ENV)
    if pinned:
        return (Path(pinned) / "PINNED").read_text().strip()
    return f"{SRC} {git_state(SRC)}"


def git_state(root: Path) -> str:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD")
    if not head:
        return "(not a git checkout)"
    edited = [
        line
        for line in git("status", "--porcelain", "--", "daemon", "templates").splitlines()
        if line
    ]
    return f"at {head}" + (
        f" + {len(edited)} uncommitted change(s) in daemon/ templates/" if edited else ""
    )


def pin_and_reexec(argv: list[str]) -> None:
    """Copy the code under test to a temp dir and run this script again against it."""
    pinned = Path(tempfile.mkdtemp(prefix="askfirst-pinned-"))
    shutil.copytree(SRC / "daemon", pinned / "daemon", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(SRC / "templates", pinned / "templates")
    (pinned / "tests").mkdir()
    shutil.copy2(SRC / "tests" / "mails.py", pinned / "tests" / "mails.py")
    (pinned / "PINNED").write_text(
        f"{pinned}: copy of {SRC} {git_state(SRC)}, taken {time.strftime('%H:%M:%S')}"
    )
    env = {**os.environ, PIN_ENV: str(pinned)}
    source_root = str(pinned / "daemon")  # the package `askfirst` lives in daemon/
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source_root, env.get("PYTHONPATH", "")) if p)
    args = [a for a in argv if a != "--pin"]
    os.execve(sys.executable, [sys.executable, str(Path(__file__).resolve()), *args], env)


def header(sizes: Sizes, quick: bool) -> None:
    dovecot = find_dovecot()
    version = "none"
    if dovecot:
        version = subprocess.run(
            [dovecot, "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
    print(
        f"# askfirst bench ({'quick' if quick else 'full'}): {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, Dovecot {version}, {time.strftime('%Y-%m-%d %H:%M')}",
        flush=True,
    )
    print(f"# daemon under test: {describe_source()}", flush=True)
    print(
        f"# sizes: P1 {sizes.p1_invitations} invitations; P2 1k vs "
        f"{'10k' if quick else '100k'}; P3 {sizes.p3_mailbox} mailbox; P4 {sizes.p4_burst} burst; "
        f"P5 {sizes.p5_open} open; P6 {sizes.p6_seconds:.0f} s idle",
        flush=True,
    )


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.pin and not os.environ.get(PIN_ENV):
        pin_and_reexec(argv)
    sizes = QUICK if args.quick else FULL
    if args.full_idle:
        sizes = Sizes(**{**sizes.__dict__, "p6_seconds": 300})
    started = time.monotonic()
    header(sizes, args.quick)
    work = Path(tempfile.mkdtemp(prefix="askfirst-bench-"))
    benchlib.daemon_logging(work / "in-process-daemon.log")
    needs_rig = any(p in args.only for p in ("P1", "P2", "P3", "P4", "P6"))
    rig: MailRig | None = None
    sink: Sink | None = None
    footprint: Footprint | None = None
    failures = 0

    def attempt(name: str, fn: Callable[[], list[Line | str]]) -> None:
        nonlocal failures
        t = time.monotonic()
        try:
            emit(fn())
        except Exception as exc:  # report and go on with the next benchmark
            failures += 1
            print(f"{name}: FAILED: {type(exc).__name__}: {exc}", flush=True)
            traceback.print_exc(file=sys.stderr)
        say(f"{name} took {time.monotonic() - t:.1f} s")

    try:
        if needs_rig:
            if find_dovecot() is None:
                print("dovecot not found: apt-get install -y dovecot-imapd dovecot-lmtpd")
                return 2
            rig = start_rig()
            sink = Sink().start()
        if "P1" in args.only:
            assert rig is not None
            assert sink is not None
            r, s = rig, sink
            attempt("P1", lambda: list(reaction.run(r, s, work, sizes.p1_invitations)))
        if "P2" in args.only:
            assert rig is not None
            assert sink is not None
            r, s = rig, sink
            attempt("P2", lambda: list(asyncio.run(wake.run(r, s, work, args.quick))))
        if "P3" in args.only:
            assert rig is not None
            assert sink is not None
            r, s = rig, sink
            attempt(
                "P3",
                lambda: first_start.run(
                    r, s, work, sizes.p3_mailbox, sizes.p3_newer, sizes.p3_invitations,
                    sizes.p3_reps, args.profile,
                ),
            )  # fmt: skip
        if "P4" in args.only:
            assert rig is not None
            assert sink is not None
            r, s = rig, sink
            attempt("P4", lambda: burst.run(r, s, work, sizes.p4_burst))
        if "P5" in args.only:
            attempt("P5", lambda: sweep.run(work, sizes.p5_open))
        if "P6" in args.only:  # last and alone: idle CPU is only honest on a quiet machine
            assert rig is not None
            assert sink is not None
            footprint = Footprint(rig, sink, work, sizes.p6_seconds)
            try:
                footprint.start()
            except Exception as exc:
                failures += 1
                print(f"P6: FAILED to start: {type(exc).__name__}: {exc}", flush=True)
                footprint.close()
                footprint = None
        if footprint is not None:
            fp = footprint
            attempt("P6", fp.finish)
    finally:
        if footprint is not None:
            footprint.close()
        if sink is not None:
            sink.stop()
        if rig is not None:
            rig.stop()
        if args.keep:
            say(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
        pinned = os.environ.get(PIN_ENV)
        if pinned and not args.keep:
            shutil.rmtree(pinned, ignore_errors=True)
    print(f"# wall time: {time.monotonic() - started:.0f} s", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
