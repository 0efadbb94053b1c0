"""`askfirst demo`: the real daemon against a private mail rig, with a scripted story.

A throwaway Dovecot (IMAP + LMTP) and an SMTP server that delivers into it start on loopback
(`askfirst.testing.rig`); `askfirst run` runs as a real subprocess against the owner's mailbox with
a short `decline_after`, IDLE doing the waking. Five people then write to the owner
(`storymail`; the scenes are in `scenes`):

- alice sends a boilerplate invitation, gets the ask, answers: handed to the owner;
- bob sends a boilerplate invitation, gets the ask, stays silent: declined;
- carol's invitation carries a personal note: straight to the owner, nothing sent to her;
- "dave" is a phishing imitation of a LinkedIn invitation; the timeline shows whatever the
  daemon decides about it, read back from `askfirst status --json` and the mailboxes;
- erin invites through modern LinkedIn (no address of hers): the owner gets the ask to paste
  by hand, LinkedIn's "Erin just messaged you" arrives, and askfirst hands her over.

Everything the daemon does is observed from outside, as a user would (`observer`): the
mailboxes over IMAP, `askfirst status --json` for the why. Dovecot, the daemon and the temp
dir are removed on every exit, Ctrl-C and SIGTERM included (MAILRIG_KEEP=1 keeps the dir).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from askfirst.durations import parse_duration
from askfirst.testing.observer import DemoError, Observer, Timeline, spawn, stop
from askfirst.testing.scenes import story
from askfirst.testing.storymail import AUTHSERV_ID

if TYPE_CHECKING:
    from askfirst.testing.rig import MailRig

INSTALL_DOVECOT = "apt-get install dovecot-imapd dovecot-lmtpd"
INSTALL_DEMO_EXTRA = (
    "pip install 'askfirst[demo]'  (from a clone: .venv/bin/pip install -e '.[demo]')"
)
MIN_DECLINE, MAX_DECLINE = 1.0, 600.0
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


# -- set-up and tear-down ------------------------------------------------------------------


def _missing() -> str | None:
    """What must be installed first, or None."""
    from askfirst.testing.dovecot import find_dovecot  # only after aiosmtpd was found

    if find_dovecot() is None:
        return f"Dovecot is not installed. Install it with: {INSTALL_DOVECOT}"
    if shutil.which("openssl") is None:
        return "openssl is not installed (the rig makes a certificate): apt-get install openssl"
    return None


def _dovecot_version() -> str:
    from askfirst.testing.dovecot import find_dovecot

    binary = find_dovecot()
    try:
        res = subprocess.run(
            [binary or "dovecot", "--version"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "Dovecot"
    version = res.stdout.split()
    return f"Dovecot {version[0]}" if version else "Dovecot"


def write_config(rig: MailRig, directory: Path, decline_after: str) -> Path:
    """The owner's config: IDLE does the waking; the owner's MX stamps authentication."""
    from askfirst.testing.ownerconfig import owner_config

    lifecycle = {"decline_after": decline_after, "poll_interval": "1h", "sweep_interval": "1h"}
    return owner_config(
        rig, directory, None, lifecycle, f'\n[classify]\nauthserv_id = "{AUTHSERV_ID}"\n'
    )


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """Loggers of the in-process rig (aiosmtpd logs every SMTP command at INFO) stay below
    the timeline while the demo runs; the CLI may have set the root logger to INFO."""
    loggers = [logging.getLogger(name) for name in names]
    saved = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, saved, strict=True):
            lg.setLevel(level)


@contextmanager
def _signals(handler: Any, *sigs: signal.Signals) -> Iterator[None]:
    """Install `handler` for `sigs`, restore the old handlers afterwards. Only the main
    thread may set handlers; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.signal(s, handler) for s in sigs}
    try:
        yield
    finally:
        for s, old in saved.items():
            signal.signal(s, old)


# -- the run ---------------------------------------------------------------------------------


def run_demo(out: TextIO, decline_after: str = "20s") -> int:
    """Play the story and print its timeline to `out`. 0 when everything went as told."""
    try:
        wait = parse_duration(decline_after).total_seconds()
    except ValueError as exc:
        out.write(f"askfirst demo: --decline-after {decline_after!r}: {exc}\n")
        return EXIT_USAGE
    if not MIN_DECLINE <= wait <= MAX_DECLINE:
        out.write(
            f"askfirst demo: --decline-after must be between {MIN_DECLINE:.0f}s and "
            f"{MAX_DECLINE / 60:.0f}m (a demo, not a week)\n"
        )
        return EXIT_USAGE
    if importlib.util.find_spec("aiosmtpd") is None:
        out.write(
            "askfirst demo needs aiosmtpd for its private SMTP server. Install it with:\n"
            f"  {INSTALL_DEMO_EXTRA}\n"
        )
        return EXIT_FAILED
    problem = _missing()
    if problem is not None:
        out.write(f"askfirst demo: {problem}\n")
        return EXIT_FAILED

    from askfirst.testing.rig import start_rig

    tl = Timeline(out)
    rig: MailRig | None = None
    proc: subprocess.Popen[bytes] | None = None
    obs: Observer | None = None
    with _signals(_interrupt, signal.SIGTERM, signal.SIGHUP), _quiet("mail.log"):
        try:
            rig = start_rig()
            tl.say(
                f"rig up: IMAP 127.0.0.1:{rig.imap_port}, SMTP 127.0.0.1:{rig.smtp_port} "
                f"({_dovecot_version()}), everything in {rig.root}"
            )
            work = rig.root / "askfirst"
            config = write_config(rig, work, decline_after)
            proc = spawn(config, work / "askfirst.log")
            obs = Observer(rig, config, proc)
            return EXIT_OK if story(tl, obs, decline_after, wait) else EXIT_FAILED
        except KeyboardInterrupt:
            tl.say("interrupted: stopping askfirst and the rig")
            return EXIT_INTERRUPTED
        except DemoError as exc:
            tl.say(f"FAILED: {exc}")
            if obs is not None:
                tl.write("--- the end of askfirst's log ---\n" + obs.log_tail())
            return EXIT_FAILED
        finally:
            # a second Ctrl-C or SIGTERM must not strand dovecot or the daemon
            with _signals(signal.SIG_IGN, signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                if proc is not None and proc.poll() is None:
                    stop(proc)
                if rig is not None:
                    rig.stop()
                    if os.environ.get("MAILRIG_KEEP") == "1":
                        tl.write(f"MAILRIG_KEEP=1: the rig's files stay in {rig.root}")
