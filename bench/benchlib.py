"""Shared parts of the benchmark suite: the rig, Maildir seeding, a recording SMTP sink,
daemon configs, raw-IMAP helpers, byte counting and the result lines.

Everything here is measurement plumbing; nothing in it changes how the daemon works.
"""

from __future__ import annotations

import asyncio
import imaplib
import importlib
import logging
import math
import os
import pwd
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from askfirst.app import App
from askfirst.app import build_app as app_for
from askfirst.clock import Clock
from askfirst.config import Settings
from askfirst.config_loading import load_settings
from askfirst.message import KEPT_HEADERS
from mailrig import SRC, MailRig, find_dovecot, free_ports, start_rig

__all__ = ["MailRig", "find_dovecot", "start_rig"]  # re-exported for the scenarios

PYTHON = sys.executable
DAY = 86400.0
# The header fields the daemon's parser reads: what a header-only fetch must bring.
NEEDED_HEADERS = (
    "FROM",
    "SENDER",
    "REPLY-TO",
    "TO",
    "CC",
    "SUBJECT",
    "DATE",
    "MESSAGE-ID",
    "IN-REPLY-TO",
    "REFERENCES",
    *(h.upper() for h in KEPT_HEADERS),
)


# -- result lines -----------------------------------------------------------------------


@dataclass
class Line:
    """One printed figure: `name: value unit (ratio vs baseline)`."""

    name: str
    value: float
    unit: str
    ratio: float | None
    baseline: str
    aim: str = ""
    ok: bool | None = None

    def render(self) -> str:
        ratio = "n/a" if self.ratio is None else f"{self.ratio:.2f}x"
        text = f"{self.name}: {fmt(self.value)} {self.unit} ({ratio} vs {self.baseline})"
        if self.aim:
            verdict = "" if self.ok is None else (" ok" if self.ok else " OVER")
            text += f"  [aim {self.aim}:{verdict}]"
        return text


def fmt(value: float) -> str:
    """Three significant digits, no exponent for the ranges printed here."""
    if value == 0:
        return "0"
    digits = max(0, 2 - math.floor(math.log10(abs(value))))
    return f"{value:.{digits}f}"


def ratio(value: float, base: float) -> float | None:
    return value / base if base > 0 else None


def p50(values: Sequence[float]) -> float:
    return statistics.median(values)


def p99(values: Sequence[float]) -> float:
    """Nearest-rank 99th percentile (with 50 samples: the largest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def say(text: str) -> None:
    """Progress notes go to stderr so stdout carries only the figures."""
    print(f"  .. {text}", file=sys.stderr, flush=True)


# -- the daemon's configuration ---------------------------------------------------------


def write_config(
    directory: Path,
    *,
    user: str,
    password: str,
    imap_port: int,
    smtp_port: int,
    **lifecycle: str,
) -> Path:
    """A config for `user` as the owner (plaintext on loopback), like tests/harness.py's,
    but for any rig user and any SMTP server (the bench's sink)."""
    directory.mkdir(parents=True, exist_ok=True)
    extra = "".join(f'{key} = "{value}"\n' for key, value in lifecycle.items())
    # "Caps off": the sending caps, where this version of the daemon has them, are raised
    # out of reach so a burst measures the pipeline, not the brake.
    limits = (
        "[limits]\nmax_per_hour = 1000000\nmax_per_day = 1000000\n"
        if "limits" in Settings.model_fields
        else ""
    )
    path = directory / "config.toml"
    path.write_text(
        f"""
[owner]
name = "Bench Owner"
email = "{user}"

[imap]
host = "127.0.0.1"
port = {imap_port}
username = "{user}"
password = "{password}"
tls = "none"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"

[lifecycle]
{extra}
{limits}
[state]
path = "state.sqlite3"

[templates]
dir = "{SRC / "templates"}"
"""
    )
    return path


def rig_config(rig: MailRig, directory: Path, user: str, smtp_port: int, **lc: str) -> Path:
    return write_config(
        directory,
        user=user,
        password=rig.password(user),
        imap_port=rig.imap_port,
        smtp_port=smtp_port,
        **lc,
    )


def build_app(config: Path, clock: Clock | None = None) -> App:
    """The daemon's App, wired as `askfirst run` wires it (`askfirst.app.build_app`)."""
    return app_for(load_settings(config), clock=clock)


async def close_app(app: App) -> None:
    """What leaving `async with app` does: the connection and the state close."""
    await app.__aexit__()


def daemon_logging(path: Path) -> None:
    """In-process daemons log at INFO, as `askfirst run` does (its own set-up when this
    version has one: askfirst/logs.py, JSON as when stderr is not a terminal), into a file."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    try:
        logs = importlib.import_module("askfirst.logs")
    except ImportError:
        logs = None
    if logs is not None and hasattr(logs, "configure"):
        logs.configure(json=True)
        formatter = logging.getLogger().handlers[0].formatter
        if formatter is not None:
            handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    for noisy in ("imapclient", "apscheduler", "aiosmtplib", "asyncio", "mail.log"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# -- a recording SMTP sink --------------------------------------------------------------


class _SinkHandler:
    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.sink.record(envelope.rcpt_tos)
        return "250 OK queued"


class Sink:
    """An SMTP server that accepts every recipient at once, like an MTA queueing the mail,
    and notes when each recipient's message was accepted (time.monotonic)."""

    def __init__(self) -> None:
        self.port = free_ports(1)[0]
        self._cond = threading.Condition()
        self.accepted: dict[str, float] = {}
        self.total = 0
        self._controller = Controller(
            _SinkHandler(self),
            hostname="127.0.0.1",
            port=self.port,
            server_hostname="sink.example.test",
            ready_timeout=15,
        )

    def start(self) -> Sink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def record(self, rcpts: Iterable[str]) -> None:
        now = time.monotonic()
        with self._cond:
            for rcpt in rcpts:
                self.accepted[rcpt.lower()] = now
                self.total += 1
            self._cond.notify_all()

    def wait_for(self, rcpt: str, timeout: float) -> float:
        """When the message to `rcpt` was accepted; raises after `timeout` seconds."""
        rcpt = rcpt.lower()
        with self._cond:
            if not self._cond.wait_for(lambda: rcpt in self.accepted, timeout):
                raise TimeoutError(f"no mail to {rcpt} within {timeout} s")
            return self.accepted[rcpt]

    def wait_all(self, rcpts: Sequence[str], timeout: float) -> float:
        """When the last of `rcpts` was accepted; raises with the count after `timeout`."""
        wanted = [r.lower() for r in rcpts]
        with self._cond:
            ok = self._cond.wait_for(lambda: all(r in self.accepted for r in wanted), timeout)
            got = [self.accepted[r] for r in wanted if r in self.accepted]
            if not ok:
                raise TimeoutError(f"{len(got)} of {len(wanted)} accepted within {timeout} s")
            return max(got)


# -- writing Maildir files directly (rig doc section 14) --------------------------------


def ensure_maildir(rig: MailRig, user: str) -> Path:
    """Log in once so Dovecot creates the Maildir and its special folders."""
    with rig.imap(user) as client:
        client.select_folder("INBOX")
    return rig.maildir(user)


@dataclass(frozen=True)
class Seed:
    raw: bytes  # CRLF or LF; stored with LF endings
    when: float  # epoch seconds: the INTERNALDATE (mtime)
    seen: bool = False


class MaildirWriter:
    """Writes messages as `cur/` files the way the rig doc section 14 describes: named
    `<time>.M<seq>P<pid>.<host>,S=<bytes>,W=<crlf bytes>:2,<flags>`, mtime = INTERNALDATE,
    owned by `dovecot` when we are root. Dovecot numbers them in name order."""

    _seq = 0

    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir
        self.owner: tuple[int, int] | None = None
        if os.geteuid() == 0:
            pw = pwd.getpwnam("dovecot")
            self.owner = (pw.pw_uid, pw.pw_gid)

    def _name(self, seed: Seed, size: int, wsize: int) -> str:
        MaildirWriter._seq += 1
        flags = "S" if seed.seen else ""
        return (
            f"{int(seed.when)}.M{MaildirWriter._seq:08d}P{os.getpid()}.bench,"
            f"S={size},W={wsize}:2,{flags}"
        )

    def _write(self, directory: Path, name: str, data: bytes, when: float) -> Path:
        path = directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            if self.owner is not None:
                os.fchown(fd, *self.owner)
            os.utime(fd, (when, when))
        finally:
            os.close(fd)
        return path

    def write(self, seeds: Iterable[Seed]) -> int:
        """Straight into cur/ (bulk loading before anyone looks)."""
        cur = self.maildir / "cur"
        n = 0
        for seed in seeds:
            data = seed.raw.replace(b"\r\n", b"\n")
            name = self._name(seed, len(data), len(data) + data.count(b"\n"))
            self._write(cur, name, data, seed.when)
            n += 1
        return n

    def stage(self, seeds: Iterable[Seed]) -> list[tuple[Path, Path]]:
        """Write into tmp/ now; `publish` renames them into cur/ all at once later."""
        tmp, cur = self.maildir / "tmp", self.maildir / "cur"
        moves = []
        for seed in seeds:
            data = seed.raw.replace(b"\r\n", b"\n")
            name = self._name(seed, len(data), len(data) + data.count(b"\n"))
            moves.append((self._write(tmp, name, data, seed.when), cur / name))
        return moves

    @staticmethod
    def publish(moves: Sequence[tuple[Path, Path]]) -> None:
        for src, dst in moves:
            os.rename(src, dst)


_SENDERS = [f"sender{i:02d}@lists.example.test" for i in range(50)]
_FILLER = (
    "Hello,\n\nthis is an ordinary message of the kind a mailbox collects over the years.\n"
    "It carries a few lines of text so that its size is close to a real short mail.\n\n"
) * 8


def plain_mail(i: int, to: str, when: float) -> bytes:
    """An ordinary non-invitation message of about 2 KB (LF endings)."""
    sender = _SENDERS[i % len(_SENDERS)]
    lines = [
        f"From: Sender {i % 50} <{sender}>",
        f"To: {to}",
        f"Subject: Message number {i}",
        f"Date: {format_datetime(datetime.fromtimestamp(when, UTC))}",
        f"Message-ID: <bench-{i}-{int(when)}@example.test>",
    ]
    if i % 3 == 0:
        lines += [f"In-Reply-To: <bench-{i - 1}@example.test>"]
        lines += [f"References: <bench-{i - 2}@example.test> <bench-{i - 1}@example.test>"]
    if i % 10 == 0:
        lines.append("Auto-Submitted: auto-generated")
    if i % 7 == 0:
        lines.append("List-ID: <list.example.test>")
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", ""]
    return ("\n".join(lines) + "\n" + _FILLER).encode()


def invitation(name: str, email: str, to: str) -> bytes:
    """A boilerplate LinkedIn invitation (the tests' builder) from a reachable inviter."""
    from mails import linkedin_2012

    return linkedin_2012(name, email, to=to)


# -- raw imaplib helpers (the baselines) ------------------------------------------------


def raw_login(rig: MailRig, user: str, folder: str = "INBOX") -> imaplib.IMAP4:
    imap = imaplib.IMAP4("127.0.0.1", rig.imap_port, timeout=60)
    imap.login(user, rig.password(user))
    imap.select(folder)
    return imap


# -- counting bytes on the daemon's IMAP connection -------------------------------------


@dataclass
class ByteCounter:
    sent: int = 0
    received: int = 0

    @property
    def total(self) -> int:
        return self.sent + self.received


def count_bytes(imap: imaplib.IMAP4) -> ByteCounter:
    """Wrap this imaplib instance's send/read/readline (imapclient drives imaplib under
    `client._imap`), so every byte on the wire is counted from now on."""
    counter = ByteCounter()
    send, read, readline = imap.send, imap.read, imap.readline

    def counting_send(data: Any) -> None:  # typeshed says Buffer
        counter.sent += len(data)
        send(data)

    def counting_read(size: int) -> bytes:
        data = read(size)
        counter.received += len(data)
        return data

    def counting_readline() -> bytes:
        data = readline()
        counter.received += len(data)
        return data

    imap.send = counting_send  # type: ignore[method-assign]
    imap.read = counting_read  # type: ignore[method-assign]
    imap.readline = counting_readline  # type: ignore[method-assign]
    return counter


# -- /proc sampling ---------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` (all its threads, also exited ones), from /proc/<pid>/stat;
    10 ms resolution."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # fields 14 and 15 of stat(5)


@dataclass(frozen=True)
class ThreadUse:
    cpu: float  # seconds on a CPU (ns resolution, from schedstat)
    wakeups: int  # voluntary context switches: how often it slept and woke again


def thread_use(pid: int) -> dict[int, ThreadUse]:
    """Per live thread of `pid`: CPU time from /proc/<pid>/task/<tid>/schedstat and the
    number of voluntary sleeps. Threads that already exited are not in it."""
    out: dict[int, ThreadUse] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            ns = int((task / "schedstat").read_text().split()[0])
            status = (task / "status").read_text()
        except (OSError, ValueError, IndexError):
            continue
        wakeups = 0
        for line in status.splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                wakeups = int(line.split()[1])
        out[int(task.name)] = ThreadUse(ns / 1e9, wakeups)
    return out


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {key} for pid {pid}")


# -- misc -------------------------------------------------------------------------------


@dataclass
class Timer:
    started: float = field(default_factory=time.perf_counter)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started


def run_async(coro: Any) -> Any:
    return asyncio.run(coro)


def poll(check: Callable[[], bool], timeout: float, every: float = 0.05, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what or check}")
        time.sleep(every)


# -- child processes --------------------------------------------------------------------

BENCH = Path(__file__).resolve().parent


def askfirst_command() -> list[str]:
    """The installed `askfirst` console script next to this interpreter (or -m askfirst)."""
    script = Path(sys.executable).parent / "askfirst"
    return [str(script)] if script.exists() else [sys.executable, "-m", "askfirst"]


def spawn(argv: Sequence[str], log: Path, *, stdout_pipe: bool = False) -> subprocess.Popen[str]:
    """Start a child with stderr (and stdout unless piped) in `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as fh:
        return subprocess.Popen(
            list(argv),
            stdout=subprocess.PIPE if stdout_pipe else fh,
            stderr=fh,
            text=True,
            cwd=log.parent,
        )


def wait_ready(proc: subprocess.Popen[str], timeout: float = 30) -> None:
    """Read the child's stdout until it prints `ready`."""
    assert proc.stdout is not None
    ready = threading.Event()

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip() == "ready":
                ready.set()
                return

    threading.Thread(target=reader, daemon=True).start()
    if not ready.wait(timeout):
        raise TimeoutError(f"{proc.args!r} did not get ready in {timeout} s")


def stop(proc: subprocess.Popen[str] | None) -> None:
    """SIGTERM this child (by its own pid), wait, and SIGKILL only if it will not go."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
