"""What the demo sees and how it tells it: the daemon as a subprocess (started and stopped
as a service manager would), watched from outside as a user would (the mailboxes over IMAP,
`askfirst status --json` and `health`, with timeouts), and the timeline it prints."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

if TYPE_CHECKING:
    from askfirst.testing.rig import MailRig
    from askfirst.testing.rigmail import RigMessage

T = TypeVar("T")


class DemoError(Exception):
    """The story could not go on: something did not happen in time, or a process died."""


class Timeline:
    """Timestamped lines, seconds since the demo started."""

    INDENT = " " * 9

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.start = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def say(self, text: str) -> None:
        self.write(f"[{self.elapsed():4.1f}s] {text}")

    def why(self, text: str) -> None:
        self.write(f"{self.INDENT}{text}")

    def write(self, line: str) -> None:
        try:
            self.out.write(line + "\n")
        except UnicodeEncodeError:  # a terminal that cannot show the arrows
            enc = getattr(self.out, "encoding", None) or "ascii"
            self.out.write(line.encode(enc, errors="replace").decode(enc) + "\n")
        self.out.flush()


def body_text(raw: bytes) -> str:
    msg = message_from_bytes(raw, policy=email_policy.default)
    assert isinstance(msg, EmailMessage)
    part = msg.get_body(preferencelist=("plain",))
    if not isinstance(part, EmailMessage):
        return ""
    return str(part.get_content())


def gist(text: str, width: int = 64) -> str:
    """The first words of a mail body on one line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


_HIT = re.compile(r"[\w-]+: hit, (.*?)(?: -> \w+)?(?: \[.*\])?$")


def _hit_text(reason: str) -> str:
    """'personal-note: hit, <this> -> hand_over [RFC ...]' -> '<this>'; else unchanged."""
    m = _HIT.match(reason)
    return m.group(1) if m else reason


def _hit(decision: dict[str, Any]) -> str:
    """The rule that decided, in words."""
    for reason in reversed(decision.get("reasons") or []):
        if _HIT.match(str(reason)):
            return _hit_text(str(reason))
    return ""


def why(record: dict[str, Any]) -> str:
    """One line from `askfirst status --json`: state, decision.rule, reason."""
    decision = record.get("decision") or {}
    rule = str(decision.get("rule") or "?")
    hit = _hit(decision)
    reason = _hit_text(str(record.get("reason") or ""))
    text = f"status: {record['state']} · rule {rule}" + (f" ({hit})" if hit else "")
    if reason and reason not in (rule, hit):
        text += f" · {reason}"
    return text


class Observer:
    """Watches the mailboxes, `askfirst status` and `health`, and the process, with timeouts."""

    def __init__(self, rig: MailRig, config: Path, proc: subprocess.Popen[bytes]):
        self.rig = rig
        self.config = config
        self.proc = proc
        self.log = config.parent / "askfirst.log"

    def poll(self, what: str, probe: Callable[[], T | None], timeout: float) -> T:
        deadline = time.monotonic() + timeout
        while True:
            found = probe()
            if found is not None:
                return found
            code = self.proc.poll()
            if code is not None:
                raise DemoError(f"askfirst run exited with {code} while waiting for {what}")
            if time.monotonic() > deadline:
                raise DemoError(f"no {what} within {timeout:.0f} s")
            time.sleep(0.1)

    def _askfirst(self, *args: str) -> subprocess.CompletedProcess[str]:
        """An `askfirst` command on the demo's config, run as a user would."""
        return subprocess.run(
            [sys.executable, "-m", "askfirst", *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=self.config.parent,
            env=_clean_env(),
            check=False,
        )

    def ready(self) -> bool | None:
        """True once `askfirst health` says the daemon finished a pass and is connected."""
        return True if self._askfirst("health").returncode == 0 else None

    def mail(
        self, user: str, match: Callable[[RigMessage], bool], folder: str = "INBOX"
    ) -> Callable[[], RigMessage | None]:
        def probe() -> RigMessage | None:
            return next((m for m in self.rig.messages(user, folder) if match(m)), None)

        return probe

    def status(self) -> list[dict[str, Any]]:
        """`askfirst status --json`: the daemon's own account of every invitation."""
        res = self._askfirst("status", "--json")
        if res.returncode != 0:
            raise DemoError(f"askfirst status failed ({res.returncode}): {res.stderr.strip()}")
        records: list[dict[str, Any]] = json.loads(res.stdout)
        return records

    def record(self, message_id: str) -> dict[str, Any] | None:
        return next((r for r in self.status() if r.get("source_message_id") == message_id), None)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _clean_env() -> dict[str, str]:
    """The environment without ASKFIRST_* overrides: the demo's config is the whole truth."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ASKFIRST_")}


def spawn(config: Path, log: Path) -> subprocess.Popen[bytes]:
    """`askfirst run` in its own session: a Ctrl-C reaches the demo, which stops it."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "askfirst", "run", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=config.parent,
            env=_clean_env(),
            start_new_session=True,
        )


def stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM, as a service manager would; SIGKILL only if it hangs."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
            return -9
    return proc.returncode
