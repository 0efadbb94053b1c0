"""`askfirst demo`: the real daemon against a private mail rig, with a scripted story.

A throwaway Dovecot (IMAP + LMTP) and an SMTP server that delivers into it start on loopback
(`askfirst.testing.rig`); `askfirst run` runs as a real subprocess against the owner's mailbox with
a short `decline_after`, IDLE doing the waking. Four people then write to the owner:

- alice sends a boilerplate invitation, gets the ask, answers: handed to the owner;
- bob sends a boilerplate invitation, gets the ask, stays silent: declined;
- carol's invitation carries a personal note: straight to the owner, nothing sent to her;
- "dave" is a phishing imitation of a LinkedIn invitation; the timeline shows whatever the
  daemon decides about it, read back from `askfirst status --json` and the mailboxes;
- erin invites through modern LinkedIn (no address of hers): the owner gets the ask to paste
  by hand, LinkedIn's "Erin just messaged you" arrives, and askfirst hands her over.

Everything the daemon does is observed from outside, as a user would: the mailboxes over
IMAP, `askfirst status --json` for the why. Dovecot, the daemon and the temp dir are removed
on every exit, Ctrl-C and SIGTERM included (MAILRIG_KEEP=1 keeps the dir to look at).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from askfirst.clock import SystemClock
from askfirst.durations import parse_duration

if TYPE_CHECKING:
    from askfirst.testing.mailbox import RigMessage
    from askfirst.testing.rig import MailRig

OWNER = "owner@example.test"
OWNER_NAME = "Pat Owner"
ALICE = ("Alice Example", "alice@example.test")
BOB = ("Bob Builder", "bob@example.test")
CAROL = ("Carol Jones", "carol@example.test")
DAVE = ("Dave Miller", "dave@example.test")  # the phisher's own mailbox (his Reply-To)
ERIN = ("Erin Okafor", "erin-okafor-1a2b3c")  # a LinkedIn member: name and profile slug
BOILERPLATE = "I'd like to add you to my professional network on LinkedIn."
CAROL_NOTE = (
    "We sat next to each other at the Python meetup in Leeds last week and talked "
    "about IMAP IDLE. I'd like to stay in touch."
)
ALICE_ANSWER = (
    "Hi Pat,\n\nfair question! I run the data team at Example Ltd and read your talk on "
    "mail automation; I'd love to compare notes on IMAP some time.\n\nAlice\n"
)
PHISH_HOST = "www.linkedin.com.isd-confirm.example.net"
AUTHSERV_ID = "mx.example.test"  # the owner's MX stamps Authentication-Results with this
PHISH_AUTH = (
    f"{AUTHSERV_ID}; spf=fail smtp.mailfrom=linkedin.com; dkim=fail "
    'reason="signature verification failed" header.d=linkedin.com; '
    "dmarc=fail (p=REJECT) header.from=linkedin.com"
)
INSTALL_DOVECOT = "apt-get install dovecot-imapd dovecot-lmtpd"
INSTALL_DEMO_EXTRA = (
    "pip install 'askfirst[demo]'  (from a clone: .venv/bin/pip install -e '.[demo]')"
)
MIN_DECLINE, MAX_DECLINE = 1.0, 600.0
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

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


# -- the mails of the story (built like tests/mails.py; the package never imports tests/) ----


def build_mail(sender: str, to: str, subject: str, body: str, **headers: str) -> EmailMessage:
    """A plain-text mail as a person's client would send it (the tests build theirs too)."""
    msg = EmailMessage(policy=email_policy.SMTP)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(SystemClock().now())
    domain = sender.rpartition("@")[2].rstrip(">") or "example.test"
    msg["Message-ID"] = headers.pop("message_id", f"<{uuid.uuid4().hex}@{domain}>")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def linkedin_2012(
    name: str,
    email: str,
    note: str = BOILERPLATE,
    link_host: str = "www.linkedin.com",
    sender: str | None = None,
    to: str = OWNER,
    **headers: str,
) -> EmailMessage:
    """An invitation in the 2012-13 LinkedIn format: From is the inviter's own address."""
    first = name.split()[0]
    isd = 10_000_000_000 + uuid.uuid4().int % 90_000_000_000  # one invitation id per mail
    body = (
        "LinkedIn\n------------\n\n"
        "Pat,\n\n"
        f"{note}\n\n"
        f"- {first}\n\n"
        f"{name}\nSenior Engineer at Example Ltd\nLondon, United Kingdom\n\n"
        f"Confirm that you know {name}:\n"
        f"https://{link_host}/e/-3wy1w2-hb4ms4qz-4v/isd/{isd}/9xm2Pqz_/?hs=false&tok=0\n\n"
        "--\nYou are receiving Invitation to Connect emails. Click to unsubscribe:\n"
        f"http://{link_host}/e/-3wy1w2-hb4ms4qz-4v/z2oU7dKDzpt2G7xQz2FC2SclHmnUGzmsk0c/goo/\n\n"
        "(c) 2012, LinkedIn Corporation. 2029 Stierlin Ct, Mountain View, CA 94043, USA\n"
    )
    if sender is None:  # the owner's MX vouches for the inviter's own domain
        sender = f"{name} <{email}>"
        domain = email.rpartition("@")[2]
        headers.setdefault(
            "Authentication_Results",
            f"{AUTHSERV_ID}; dkim=pass header.d={domain}; dmarc=pass header.from={domain}",
        )
    return build_mail(sender, to, "Invitation to connect on LinkedIn", body, **headers)


def phishing_invitation() -> EmailMessage:
    """A forged LinkedIn invitation: From spoofs linkedin.com (DKIM and DMARC fail at the
    owner's MX), the links go to a look-alike host, and Reply-To is the phisher's mailbox."""
    name, email = DAVE
    return linkedin_2012(
        name,
        email,
        link_host=PHISH_HOST,
        sender=f"{name} via LinkedIn <invitations@linkedin.com>",
        Reply_To=f"{name} <{email}>",
        Authentication_Results=PHISH_AUTH,
        Return_Path="<bounce-7731@mass-mailer.example.top>",
    )


def reply(original: bytes, sender: str, body: str, to: str = OWNER) -> EmailMessage:
    """An answer to `original`, threaded through In-Reply-To and References."""
    parent = message_from_bytes(original, policy=email_policy.default)
    parent_id = str(parent["Message-ID"])
    refs = f"{parent.get('References', '')} {parent_id}".strip()
    subject = str(parent["Subject"])
    subject = subject if subject.lower().startswith("re:") else f"Re: {subject}"
    return build_mail(sender, to, subject, body, In_Reply_To=parent_id, References=refs)


# -- reading what happened ---------------------------------------------------------------


def _body_text(raw: bytes) -> str:
    msg = message_from_bytes(raw, policy=email_policy.default)
    assert isinstance(msg, EmailMessage)
    part = msg.get_body(preferencelist=("plain",))
    if not isinstance(part, EmailMessage):
        return ""
    return str(part.get_content())


def _gist(text: str, width: int = 64) -> str:
    """The first words of a mail body on one line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


def _first(address: str) -> str:
    return address.split("@", 1)[0]


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


def _notice_for(name: str) -> Callable[[RigMessage], bool]:
    return lambda m: m.subject.startswith("[askfirst]") and name in m.subject


def _is_notice(m: RigMessage) -> bool:
    return m.subject.startswith("[askfirst]")


def _any(m: RigMessage) -> bool:
    return True


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


def _spawn(config: Path, log: Path) -> subprocess.Popen[bytes]:
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


def _stop(proc: subprocess.Popen[bytes]) -> int:
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


# -- the story -------------------------------------------------------------------------------


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
            proc = _spawn(config, work / "askfirst.log")
            obs = Observer(rig, config, proc)
            return _story(tl, obs, decline_after, wait)
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
                    _stop(proc)
                if rig is not None:
                    rig.stop()
                    if os.environ.get("MAILRIG_KEEP") == "1":
                        tl.write(f"MAILRIG_KEEP=1: the rig's files stay in {rig.root}")


def _story(tl: Timeline, obs: Observer, decline_after: str, wait: float) -> int:
    rig = obs.rig
    obs.poll("first pass of askfirst run", obs.ready, timeout=30)
    tl.say(f"askfirst run started (pid {obs.proc.pid}): first pass done, IMAP IDLE on INBOX")
    tl.why(f"config: decline_after = {decline_after}, replies in the name of {OWNER_NAME}")

    # alice: boilerplate -> ask -> she answers -> handed to the owner
    name, alice = ALICE
    invite_a = linkedin_2012(name, alice)
    tl.say(f'→ {alice} invites you (boilerplate: "{BOILERPLATE}")')
    rig.deliver(invite_a.as_bytes(), OWNER, mail_from=alice)
    ask_a = obs.poll(f"ask to {alice}", obs.mail(alice, _any), timeout=20)
    tl.say(f'← askfirst asked alice: "{ask_a.subject}" — {_gist(_body_text(ask_a.raw))}')
    tl.why(_status_line(obs, invite_a))
    answer = reply(ask_a.raw, f"{name} <{alice}>", ALICE_ANSWER)
    tl.say(f'→ alice answers: "{_gist(ALICE_ANSWER.replace("Hi Pat,", ""), 60)}"')
    rig.deliver(answer.as_bytes(), OWNER, mail_from=alice)
    notice_a = obs.poll("handover notice for alice", obs.mail(OWNER, _notice_for(name)), 20)
    tl.say(f'← askfirst handed alice to you: notice "{notice_a.subject}"')
    tl.why(_status_line(obs, invite_a))

    # bob: boilerplate -> ask -> silence -> decline
    name, bob = BOB
    invite_b = linkedin_2012(name, bob)
    tl.say(f'→ {bob} invites you (boilerplate: "{BOILERPLATE}")')
    rig.deliver(invite_b.as_bytes(), OWNER, mail_from=bob)
    ask_b = obs.poll(f"ask to {bob}", obs.mail(bob, _any), timeout=20)
    asked_b = tl.elapsed()
    tl.say(f'← askfirst asked bob: "{ask_b.subject}" — {_gist(_body_text(ask_b.raw))}')
    tl.why(_status_line(obs, invite_b))
    tl.say(f"… bob stays silent; his decline falls due at about [{asked_b + wait:4.1f}s]")

    # carol: a personal note -> straight to the owner, nothing sent to her
    name, carol = CAROL
    invite_c = linkedin_2012(name, carol, note=CAROL_NOTE)
    tl.say(f'→ {carol} invites you with a personal note: "{_gist(CAROL_NOTE, 60)}"')
    rig.deliver(invite_c.as_bytes(), OWNER, mail_from=carol)
    notice_c = obs.poll("handover notice for carol", obs.mail(OWNER, _notice_for(name)), 20)
    sent_c = len(rig.messages(carol))
    tl.say(
        f'← askfirst handed carol to you: notice "{notice_c.subject}"; '
        f"{'nothing' if sent_c == 0 else f'{sent_c} mail(s)'} sent to carol"
    )
    tl.why(_status_line(obs, invite_c))

    # dave: a phishing imitation; report whatever the daemon does
    phish = phishing_invitation()
    _dave_story(tl, obs, phish)

    # erin: modern LinkedIn hides her address -> the owner asks by hand -> she answers there
    erin_id = _erin_story(tl, obs)

    # bob's decline
    name, bob = BOB
    decline = obs.poll(
        f"decline to {bob}", obs.mail(bob, lambda m: m.uid != ask_b.uid), timeout=wait + 30
    )
    tl.say(
        f"← askfirst declined bob (no answer in {decline_after}): {_gist(_body_text(decline.raw))}"
    )
    tl.why(_status_line(obs, invite_b))

    # what the owner's mailbox and `askfirst status` say now, then a clean stop
    records = {r.get("source_message_id"): r for r in obs.status()}
    _mailbox(tl, obs)
    code = _stop(obs.proc)
    tl.say(f"askfirst run stopped by SIGTERM (exit {code})")
    obs.rig.stop()
    tl.say("rig stopped; dovecot gone, temp dir removed")

    outcomes = {
        "alice": records.get(str(invite_a["Message-ID"])),
        "bob": records.get(str(invite_b["Message-ID"])),
        "carol": records.get(str(invite_c["Message-ID"])),
        "erin": records.get(erin_id),
    }
    expected = {
        "alice": "answered",
        "bob": "declined",
        "carol": "handed_over",
        "erin": "answered",
    }
    parts = [
        f"alice {_state(outcomes['alice'])} (handed to you)",
        f"bob {_state(outcomes['bob'])} (no answer in {decline_after})",
        f"carol {_state(outcomes['carol']).replace('_', ' ')} (personal note)",
        f"dave (phishing) {_dave_summary(obs, records.get(str(phish['Message-ID'])))}",
        f"erin {_state(outcomes['erin'])} (asked by hand on LinkedIn)",
    ]
    tl.write("summary: " + ", ".join(parts))
    wrong = [
        f"{who} is {_state(outcomes[who])}, expected {state}"
        for who, state in expected.items()
        if _state(outcomes[who]) != state
    ]
    if code != 0:
        wrong.append(f"askfirst run exited with {code}, expected 0")
    if wrong:
        tl.write("NOT AS EXPECTED: " + "; ".join(wrong))
        return EXIT_FAILED
    tl.write(f"demo took {tl.elapsed():.1f}s")
    return EXIT_OK


def _state(record: dict[str, Any] | None) -> str:
    return str(record["state"]) if record else "not recorded"


def _status_line(obs: Observer, invitation: EmailMessage) -> str:
    record = obs.record(str(invitation["Message-ID"]))
    return why(record) if record else "status: not recorded as an invitation"


def _dave_story(tl: Timeline, obs: Observer, phish: EmailMessage) -> None:
    rig, mid = obs.rig, str(phish["Message-ID"])
    dave = DAVE[1]
    notices_before = sum(1 for m in rig.messages(OWNER) if _is_notice(m))
    tl.say(
        f'→ "{phish["From"]}" invites you: a PHISHING imitation '
        f"(Reply-To {dave}; links to {PHISH_HOST}; dkim=fail, dmarc=fail)"
    )
    rig.deliver(phish.as_bytes(), OWNER, mail_from="bounce-7731@mass-mailer.example.top")
    try:
        record = obs.poll("askfirst's verdict on the phishing mail", lambda: obs.record(mid), 20)
    except DemoError:
        tl.say("· askfirst left the phishing mail untouched: not recorded as an invitation")
        return
    state = str(record["state"])
    if state == "asked":
        to = str(record.get("inviter_email") or dave)
        got = (
            obs.poll(f"ask to {to}", obs.mail(to, _any), timeout=20) if to.lower() == dave else None
        )
        what = f'"{got.subject}" ' if got else ""
        tl.say(
            f"⚠ askfirst asked the phisher: {what}went to {to} — it did NOT recognise the "
            "forgery (the phisher now knows your address is read)"
        )
    elif state == "handed_over":
        notice = obs.poll(
            "notice about the phishing mail",
            lambda: _nth_notice(rig, notices_before + 1),
            timeout=20,
        )
        tl.say(f'← askfirst handed the phishing mail to you: notice "{notice.subject}"')
    else:
        tl.say(f"· askfirst's verdict on the phishing mail: {state}")
    tl.why(why(record))
    sent = len(rig.messages(dave))
    tl.why(f"{'nothing' if sent == 0 else f'{sent} mail(s)'} sent to the Reply-To {dave}")


def _erin_story(tl: Timeline, obs: Observer) -> str:
    """A modern LinkedIn invitation: the owner pastes the ask, LinkedIn's notification says
    she wrote back, askfirst hands her over. The invitation's Message-ID."""
    from askfirst.testing.networkmail import linkedin_invitation, linkedin_message

    rig, (name, slug) = obs.rig, ERIN
    first = name.split()[0]
    invite = linkedin_invitation(name, slug)
    mid = str(message_from_bytes(invite)["Message-ID"])
    tl.say(
        f'→ "{name}" <invitations@linkedin.com> invites you: modern LinkedIn, no address of '
        "hers anywhere (dkim=pass, dmarc=pass)"
    )
    rig.deliver(invite, OWNER, mail_from="s-demo@bounce.linkedin.com")
    by_hand = obs.poll(
        "by-hand notice for erin", obs.mail(OWNER, _notice_for(f"{name}: please ask")), 20
    )
    tl.say(f'← askfirst gives you the ask to paste into LinkedIn: notice "{by_hand.subject}"')
    tl.why(why(obs.record(mid) or {"state": "not recorded"}))
    tl.say("… you paste the ask into LinkedIn yourself; askfirst never writes to LinkedIn")
    tl.say(
        f'→ LinkedIn: "{first} just messaged you" from "{name} via LinkedIn" '
        "<messaging-digest-noreply@linkedin.com> (dkim=pass, dmarc=pass)"
    )
    rig.deliver(linkedin_message(name, slug), OWNER, mail_from="m-demo@bounce.linkedin.com")
    notice = obs.poll(
        "handover notice for erin", obs.mail(OWNER, _notice_for(f"{name}: answered")), 20
    )
    tl.say(f'← askfirst handed erin to you: notice "{notice.subject}"')
    tl.why(why(obs.record(mid) or {"state": "not recorded"}))
    return mid


def _nth_notice(rig: MailRig, n: int) -> RigMessage | None:
    notices = [m for m in rig.messages(OWNER) if _is_notice(m)]
    return notices[n - 1] if len(notices) >= n else None


def _dave_summary(obs: Observer, record: dict[str, Any] | None) -> str:
    if record is None:
        return "left untouched (not treated as an invitation)"
    state = str(record["state"])
    if state == "asked":
        return "ASKED — the phisher got a reply (not detected)"
    rule = (record.get("decision") or {}).get("rule") or "?"
    if state == "handed_over":
        return f"handed over to you (rule {rule}), nothing sent to the phisher"
    return f"{state} (rule {rule}: {record.get('reason') or ''})"


def _mailbox(tl: Timeline, obs: Observer) -> None:
    """The owner's INBOX as a mail client shows it: who, subject, askfirst's flags."""
    tl.say("your INBOX now (flags set by askfirst):")
    for m in obs.rig.messages(OWNER):
        msg = message_from_bytes(m.raw, policy=email_policy.default)
        sender = str(msg.get("From", ""))
        flags = sorted(f for f in m.flags if f == "\\Flagged" or f.startswith("$askfirst"))
        mark = " ".join(flags) if flags else "-"
        tl.why(f"{_gist(sender, 40):<40} {_gist(m.subject, 44):<44} {mark}")
