"""A throwaway real mail rig for the tests and `askfirst demo`: Dovecot (IMAP + LMTP) plus an
aiosmtpd SMTP bridge. Only the tests and the demo import this module (aiosmtpd comes with the
`test` and `demo` extras); the daemon itself never does.

Why real servers: the daemon's IMAP/SMTP behaviour (IDLE pushes, keywords, APPENDUID, SMTP
refusals) is exactly what fakes get wrong. Everything lives in one temp dir, every port is
OS-assigned, and dovecot is stopped by its own pid only (other dovecot instances may run on
the same machine).

OAuth2: Dovecot also takes XOAUTH2 and OAUTHBEARER, checked by its oauth2 passdb against a
tiny RFC 7662 token-introspection server that the rig runs on loopback; the SMTP bridge takes
XOAUTH2 against the same token store. `MailRig.issue_token` makes a token, `expire_token`
ends it early.
"""

from __future__ import annotations

import asyncio
import binascii
import grp
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import smtplib
import socket
import string
import subprocess
import tempfile
import threading
import time
from base64 import b64decode
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, Session
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

DOMAIN = "example.test"
_NAMED = ("owner", "alice", "bob", "carol", "dave", "erin")
USERS: tuple[str, ...] = tuple(f"{n}@{DOMAIN}" for n in _NAMED) + tuple(
    f"inviter{i:02d}@{DOMAIN}" for i in range(1, 41)
)
_USER_SET = frozenset(USERS)

# Folders Dovecot auto-creates (see the namespace block); reset() empties but keeps them.
SPECIAL_FOLDERS = ("INBOX", "Sent", "Drafts", "Trash", "Junk")
_NOSELECT = {b"\\Noselect", b"\\NonExistent"}
_FETCH_CHUNK = 2000  # explicit UID lists, chunked: imapclient 4.x cannot fetch "1:*"

_DOVECOT_CONF = string.Template("""\
# throwaway dovecot for tests; every path is inside the rig dir
instance_name = ${name}
base_dir = ${rig}/run
state_dir = ${rig}/state
log_path = ${rig}/dovecot.log
hostname = mail.example.test
protocols = imap lmtp
listen = 127.0.0.1

default_internal_user = ${run_user}
default_internal_group = ${run_group}
default_login_user = ${run_user}
mail_uid = ${run_user}
mail_gid = ${run_group}
first_valid_uid = 1
first_valid_gid = 1
service anvil {
  chroot =
  # no auth penalty: refused logins (bad password, expired token) must not slow later ones
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = ${imap_port}
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = ${imaps_port}
    ssl = yes
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = ${lmtp_port}
  }
}

ssl = yes
ssl_cert = <${rig}/ssl/cert.pem
ssl_key = <${rig}/ssl/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2 oauthbearer
auth_failure_delay = 0
# passwords first, so password logins never wait for HTTP; no `mechanisms` here, since
# LMTP's userdb lookups (static userdb) need this passdb and name no mechanism
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${rig}/users
}
# bearer tokens, checked at every login by the rig's introspection server (no auth cache)
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = ${rig}/dovecot-oauth2.conf.ext
}
userdb {
  driver = static
  args = home=${rig}/mail/%d/%n
}

mail_location = maildir:~/Maildir
mail_fsync = never
namespace inbox {
  inbox = yes
  separator = /
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox Drafts {
    special_use = \\Drafts
    auto = subscribe
  }
  mailbox Trash {
    special_use = \\Trash
    auto = subscribe
  }
  mailbox Junk {
    special_use = \\Junk
    auto = subscribe
  }
}
protocol imap {
  mail_max_userip_connections = 100
}
""")


# Rewritten at every start (the introspection server's port is OS-assigned).
_OAUTH2_CONF = string.Template("""\
# the rig's RFC 7662 introspection endpoint (POST token=...), see OAuthTokens
introspection_url = http://127.0.0.1:${port}/introspect
introspection_mode = post
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 5000
""")


def find_dovecot() -> str | None:
    """Locate the dovecot binary; /usr/sbin is often missing from a non-root PATH."""
    found = shutil.which("dovecot")
    if found is None and os.access("/usr/sbin/dovecot", os.X_OK):
        found = "/usr/sbin/dovecot"
    return found


def _doveadm() -> str:
    return shutil.which("doveadm") or "/usr/bin/doveadm"


def free_ports(n: int) -> list[int]:
    """`n` distinct OS-assigned free loopback ports: fixed ports collide with other rigs."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def _password(user: str) -> str:
    if user.lower() not in _USER_SET:
        raise ValueError(f"{user!r} is not a rig user")
    return user.split("@", 1)[0].lower() + "pass"


def _chunks(seq: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


@dataclass(frozen=True)
class RigMessage:
    """One stored message as the tests see it; flags are decoded, \\Recent dropped."""

    uid: int
    flags: frozenset[str]
    raw: bytes

    @property
    def subject(self) -> str:
        """The Subject header, for readable assertions."""
        msg = BytesHeaderParser(policy=default_policy).parsebytes(self.raw)
        return str(msg.get("Subject", ""))


@dataclass
class _Fault:
    stage: str
    code: int
    message: str
    times: int


class SmtpFaults:
    """Faults the SMTP handler answers with on demand; thread-safe (the server has its own
    thread)."""

    STAGES = ("MAIL", "RCPT", "DATA")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Fault] = []

    def fail_next(
        self, code: int, message: str = "injected fault", times: int = 1, stage: str = "DATA"
    ) -> None:
        """Answer the next `times` commands of `stage` with `code message`."""
        stage = stage.upper()
        if stage not in self.STAGES:
            raise ValueError(f"stage must be one of {self.STAGES}, not {stage!r}")
        if not 400 <= code <= 599:
            raise ValueError(f"fault code must be 4xx/5xx, not {code}")
        with self._lock:
            self._queue.append(_Fault(stage, code, message, times))

    def clear(self) -> None:
        """Drop all pending faults."""
        with self._lock:
            self._queue.clear()

    def take(self, stage: str) -> str | None:
        """Consume one pending fault for `stage`; the SMTP reply line, or None."""
        with self._lock:
            for fault in self._queue:
                if fault.stage == stage:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._queue.remove(fault)
                    return f"{fault.code} {fault.message}"
        return None


def _lmtp_deliver(port: int, mail_from: str, rcpts: Sequence[str], data: bytes) -> dict[str, str]:
    """Deliver over LMTP, ONE recipient per transaction (smtplib.LMTP reads one DATA reply).

    Returns the refused recipients with their reply.
    """
    refused: dict[str, str] = {}
    with smtplib.LMTP("127.0.0.1", port, timeout=30) as lmtp:
        for rcpt in rcpts:
            try:
                lmtp.sendmail(mail_from, [rcpt], data)
            except smtplib.SMTPRecipientsRefused as e:
                for addr, (code, msg) in e.recipients.items():
                    refused[addr] = f"{code} {msg.decode(errors='replace')}"
            except smtplib.SMTPResponseException as e:
                err = e.smtp_error
                text = err.decode(errors="replace") if isinstance(err, bytes) else err
                refused[rcpt] = f"{e.smtp_code} {text}"  # smtplib already sent RSET
    return refused


class LmtpRelayHandler:
    """aiosmtpd handler: refuses unknown recipients, injects faults, relays to Dovecot LMTP."""

    def __init__(
        self,
        lmtp_port: int,
        faults: SmtpFaults,
        accepted: list[tuple[str, list[str], bytes]],
        tokens: OAuthTokens | None = None,
    ) -> None:
        self.lmtp_port = lmtp_port
        self.faults = faults
        self.accepted = accepted
        self.tokens = tokens if tokens is not None else OAuthTokens()

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        """AUTH XOAUTH2 as Gmail does it: the initial response (or the answer to an empty
        challenge) is base64 of `user=U^Aauth=Bearer T^A^A`; a refused token gets a base64
        JSON error challenge, the client answers with an empty line, then 535."""
        if len(args) == 1:
            answer = await server.challenge_auth("")
            if answer is MISSING:
                return AuthResult(success=False, handled=True)  # challenge_auth replied 501
            blob = answer
        else:
            try:
                blob = b64decode(args[1], validate=True)
            except binascii.Error:
                await server.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        self.tokens.count_smtp_check()
        fields = _xoauth2_fields(blob)
        if fields is not None and self.tokens.owner(fields[1]) == fields[0].lower():
            return AuthResult(success=True, auth_data=fields[0].lower())
        error = {"status": "401", "schemes": "bearer", "scope": "https://mail.google.com/"}
        if await server.challenge_auth(json.dumps(error)) is MISSING:
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False)  # smtp_AUTH answers 535 5.7.8

    @staticmethod
    def _fault_reply(server: SMTP, reply: str) -> str:
        """A 421 means "closing the channel", so really close it after the reply is sent."""
        if reply.startswith("421") and server.transport is not None:
            server.loop.call_soon(server.transport.close)
        return reply

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        fault = self.faults.take("MAIL")
        if fault is not None:
            return self._fault_reply(server, fault)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        fault = self.faults.take("RCPT")
        if fault is not None:
            return self._fault_reply(server, fault)
        if address.lower() not in _USER_SET:
            return f"550 5.1.1 <{address}>: no such user here"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        fault = self.faults.take("DATA")
        if fault is not None:
            return self._fault_reply(server, fault)
        data = envelope.original_content
        if isinstance(data, str):
            data = data.encode()
        assert data is not None
        mail_from = envelope.mail_from or ""
        rcpts = list(envelope.rcpt_tos)
        refused = await asyncio.to_thread(_lmtp_deliver, self.lmtp_port, mail_from, rcpts, data)
        if len(refused) == len(rcpts):
            return f"550 5.1.1 no recipient accepted: {refused!r}"
        self.accepted.append((mail_from, rcpts, data))
        return "250 OK delivered"


@dataclass
class _Token:
    user: str
    expires: float  # time.monotonic(): a token's life is real time, not the daemon's clock


class OAuthTokens:
    """Bearer tokens the rig accepts, shared by the introspection server (Dovecot) and the
    SMTP bridge; thread-safe (both servers have their own threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, _Token] = {}
        self._introspections = 0
        self._smtp_checks = 0

    def issue(self, user: str, ttl: float = 3600) -> str:
        """A new token for rig user `user`, active for `ttl` seconds."""
        _password(user)  # refuses a non-rig user
        token = "rig-" + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = _Token(user.lower(), time.monotonic() + ttl)
        return token

    def expire(self, token: str) -> None:
        """End `token` now; it is then refused, as an expired one is."""
        with self._lock:
            found = self._tokens.get(token)
            if found is None:
                raise KeyError("not a token this rig issued")
            found.expires = 0.0

    def owner(self, token: str) -> str | None:
        """The user `token` is active for, or None (unknown or expired)."""
        found = self.lookup(token)
        return None if found is None else found[0]

    def lookup(self, token: str) -> tuple[str, float] | None:
        """(user, seconds left) while `token` is active, else None."""
        with self._lock:
            found = self._tokens.get(token)
            if found is None:
                return None
            left = found.expires - time.monotonic()
            return (found.user, left) if left > 0 else None

    def count_introspection(self) -> None:
        with self._lock:
            self._introspections += 1

    def count_smtp_check(self) -> None:
        with self._lock:
            self._smtp_checks += 1

    @property
    def introspections(self) -> int:
        """HTTP requests answered by the introspection server (one per Dovecot login)."""
        with self._lock:
            return self._introspections

    @property
    def smtp_checks(self) -> int:
        """AUTH XOAUTH2 attempts the SMTP bridge checked."""
        with self._lock:
            return self._smtp_checks

    def clear(self) -> None:
        """Forget every token and zero the counters."""
        with self._lock:
            self._tokens.clear()
            self._introspections = 0
            self._smtp_checks = 0


class _TokenServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tokens: OAuthTokens) -> None:
        super().__init__(("127.0.0.1", 0), _IntrospectionHandler)
        self.tokens = tokens

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _IntrospectionHandler(BaseHTTPRequestHandler):
    """POST /introspect (RFC 7662: form field `token`; 200 with `active` true or false) and
    GET /tokeninfo?access_token=... (Google style: 200 while active, else 401)."""

    server: _TokenServer

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests read Dovecot's log, not ours."""

    def _answer(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _describe(self, token: str) -> dict[str, object] | None:
        self.server.tokens.count_introspection()
        found = self.server.tokens.lookup(token)
        if found is None:
            return None
        user, left = found
        return {
            "active": True,
            "username": user,
            "email": user,
            "token_type": "Bearer",
            "scope": "imap smtp",
            "expires_in": max(1, int(left)),
        }

    def do_POST(self) -> None:
        if urlsplit(self.path).path != "/introspect":
            self._answer(404, {"error": "not_found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode(errors="replace"))
        token = (form.get("token") or [""])[0]
        self._answer(200, self._describe(token) or {"active": False})

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/tokeninfo":
            self._answer(404, {"error": "not_found"})
            return
        token = (parse_qs(url.query).get("access_token") or [""])[0]
        found = self._describe(token)
        if found is None:
            self._answer(401, {"error": "invalid_token"})
        else:
            self._answer(200, found)


def _xoauth2_fields(blob: bytes) -> tuple[str, str] | None:
    """(user, token) from a decoded XOAUTH2 response `user=U^Aauth=Bearer T^A^A`."""
    fields: dict[str, str] = {}
    for part in blob.decode(errors="replace").split("\x01"):
        key, sep, value = part.partition("=")
        if sep:
            fields[key.lower()] = value
    scheme, _, token = fields.get("auth", "").partition(" ")
    user = fields.get("user", "")
    if not user or scheme.lower() != "bearer" or not token:
        return None
    return user, token


def _smtp_auth_ok(mechanism: str, login: bytes, password: bytes) -> bool:
    """Accept any rig user with its rig password (PLAIN or LOGIN, over plain loopback)."""
    user = login.decode(errors="replace").lower()
    return user in _USER_SET and password.decode(errors="replace") == _password(user)


def _read_banner(port: int) -> bool:
    """True once the IMAP greeting says '* OK'; logs out so no imap-login process lingers."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s, s.makefile("rb") as f:
            if not f.readline().startswith(b"* OK"):
                return False
            s.sendall(b"x LOGOUT\r\n")
            while line := f.readline():
                if line.startswith(b"x "):
                    break
            return True
    except OSError:
        return False


@dataclass
class MailRig:
    """A running Dovecot + SMTP bridge in one temp dir; see the module docstring."""

    root: Path
    imap_port: int
    imaps_port: int
    lmtp_port: int
    smtp_port: int
    cafile: Path
    faults: SmtpFaults = field(default_factory=SmtpFaults)
    accepted: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    tokens: OAuthTokens = field(default_factory=OAuthTokens)
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _controller: Controller | None = field(default=None, repr=False)
    _token_server: _TokenServer | None = field(default=None, repr=False)

    # -- paths -------------------------------------------------------------------------
    @property
    def conf(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def log(self) -> Path:
        return self.root / "dovecot.log"

    @property
    def oauth2_conf(self) -> Path:
        return self.root / "dovecot-oauth2.conf.ext"

    @property
    def token_port(self) -> int:
        """The introspection server's port (it runs while the rig does)."""
        if self._token_server is None:
            raise RuntimeError("the rig is not running")
        return self._token_server.port

    def maildir(self, user: str) -> Path:
        """Where Dovecot keeps `user`'s Maildir (created on first login or delivery)."""
        local, domain = user.lower().split("@", 1)
        return self.root / "mail" / domain / local / "Maildir"

    def log_tail(self, lines: int = 30) -> str:
        """The end of dovecot.log, for error messages."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no dovecot.log)"

    # -- setup -------------------------------------------------------------------------
    def _write_files(self) -> None:
        """Config, users file and certificate; as root, hand mail/ to the dovecot user."""
        is_root = os.geteuid() == 0
        if is_root:
            run_user, run_group = "dovecot", "dovecot"
        else:
            run_user = pwd.getpwuid(os.getuid()).pw_name
            run_group = grp.getgrgid(os.getgid()).gr_name
        self.root.chmod(0o755)  # dovecot's uid must traverse it (mkdtemp makes 0700)
        for sub in ("run", "state", "ssl", "mail"):
            (self.root / sub).mkdir(exist_ok=True)
        self.conf.write_text(
            _DOVECOT_CONF.substitute(
                name=f"rig{os.getpid()}",
                rig=str(self.root),
                run_user=run_user,
                run_group=run_group,
                imap_port=self.imap_port,
                imaps_port=self.imaps_port,
                lmtp_port=self.lmtp_port,
            )
        )
        users = self.root / "users"
        users.write_text("".join(f"{u}:{{PLAIN}}{_password(u)}\n" for u in USERS))
        users.chmod(0o644)
        key = self.root / "ssl" / "key.pem"
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                "-keyout", str(key), "-out", str(self.cafile),
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        if is_root:
            pw = pwd.getpwnam("dovecot")
            os.chown(self.root / "mail", pw.pw_uid, pw.pw_gid)

    def _start_dovecot(self) -> None:
        binary = find_dovecot()
        if binary is None:
            raise RuntimeError("dovecot not found: apt-get install dovecot-imapd dovecot-lmtpd")
        self._proc = subprocess.Popen([binary, "-F", "-c", str(self.conf)])
        deadline = time.monotonic() + 15
        while not _read_banner(self.imap_port):
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"dovecot exited with {self._proc.returncode}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self._stop_dovecot()
                raise RuntimeError(f"dovecot gave no IMAP banner in 15 s:\n{self.log_tail()}")
            time.sleep(0.02)

    def _stop_dovecot(self) -> None:
        """SIGTERM our own master pid only; it stops its children (about 1 s)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def _start_token_server(self) -> None:
        """The introspection server (a daemon thread), then its port into Dovecot's
        oauth2 config; Dovecot's auth process reads that file when it starts."""
        if self._token_server is None:
            server = _TokenServer(self.tokens)
            threading.Thread(
                target=server.serve_forever, name="rig-introspection", daemon=True
            ).start()
            self._token_server = server
        self.oauth2_conf.write_text(_OAUTH2_CONF.substitute(port=self._token_server.port))
        self.oauth2_conf.chmod(0o644)

    def _stop_token_server(self) -> None:
        server, self._token_server = self._token_server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def _start_smtp(self) -> None:
        handler = LmtpRelayHandler(self.lmtp_port, self.faults, self.accepted, self.tokens)
        controller = Controller(
            handler,
            hostname="127.0.0.1",
            port=self.smtp_port,
            server_hostname="mail.example.test",  # skip socket.getfqdn()
            ready_timeout=15,
            auth_required=False,
            auth_require_tls=False,
            auth_callback=_smtp_auth_ok,
        )
        controller.start()
        self._controller = controller

    def start(self) -> MailRig:
        """Write everything, start Dovecot and wait for its banner, then the SMTP bridge."""
        if not self.conf.exists():
            self._write_files()
        self._start_token_server()
        try:
            self._start_dovecot()
        except BaseException:
            self._stop_token_server()
            raise
        try:
            self._start_smtp()
        except BaseException:
            self._stop_dovecot()
            self._stop_token_server()
            raise
        return self

    def stop(self) -> None:
        """Stop both servers and remove the temp dir (MAILRIG_KEEP=1 keeps it to debug)."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()
        self._stop_dovecot()
        self._stop_token_server()
        if os.environ.get("MAILRIG_KEEP") != "1":
            shutil.rmtree(self.root, ignore_errors=True)

    def restart_dovecot(self) -> None:
        """Stop Dovecot by pid and start it again on the same ports (a server outage)."""
        self._stop_dovecot()
        self._start_dovecot()

    # -- users and access --------------------------------------------------------------
    def password(self, user: str) -> str:
        """The rig password: '<localpart>pass'."""
        return _password(user)

    def issue_token(self, user: str, ttl: float = 3600) -> str:
        """An OAuth2 access token for `user`: IMAP (XOAUTH2, OAUTHBEARER) and SMTP (XOAUTH2)
        take it for `ttl` seconds; after that the introspection server says inactive."""
        return self.tokens.issue(user, ttl)

    def expire_token(self, token: str) -> None:
        """End `token` now, as if its lifetime were over."""
        self.tokens.expire(token)

    @property
    def introspections(self) -> int:
        """How many token checks Dovecot asked the introspection server for."""
        return self.tokens.introspections

    def imap(self, user: str) -> IMAPClient:
        """A logged-in client on the plain port; the caller logs out (use it in a `with`)."""
        client = IMAPClient("127.0.0.1", port=self.imap_port, ssl=False, timeout=30)
        client.normalise_times = False  # keep INTERNALDATE's real offset
        try:
            client.login(user, self.password(user))
        except BaseException:
            client.shutdown()
            raise
        return client

    def deliver(self, raw: bytes, rcpt: str, mail_from: str = "sender@example.test") -> None:
        """Put a message straight into Dovecot over LMTP, as an MTA would."""
        refused = _lmtp_deliver(self.lmtp_port, mail_from, [rcpt], raw)
        if refused:
            raise AssertionError(f"LMTP refused {rcpt}: {refused}")

    def append(
        self,
        user: str,
        raw: bytes,
        folder: str = "INBOX",
        when: datetime | None = None,
        flags: Sequence[str] = (),
    ) -> int:
        """APPEND (creating `folder` if needed) and return the new UID from APPENDUID."""
        with self.imap(user) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            resp = client.append(folder, raw, flags=tuple(flags), msg_time=when)
        text = resp.decode(errors="replace") if isinstance(resp, bytes) else str(resp)
        m = re.search(r"\[APPENDUID \d+ (\d+)\]", text)
        if m is None:
            raise AssertionError(f"no APPENDUID in APPEND response {text!r}")
        return int(m.group(1))

    def messages(self, user: str, folder: str = "INBOX") -> list[RigMessage]:
        """Every message in `folder`, by UID, read with BODY.PEEK[] so nothing gets \\Seen."""
        with self.imap(user) as client:
            return self._fetch_all(client, folder)

    @staticmethod
    def _fetch_all(client: IMAPClient, folder: str) -> list[RigMessage]:
        client.select_folder(folder, readonly=True)
        uids = sorted(int(u) for u in client.search("ALL"))
        out: list[RigMessage] = []
        for chunk in _chunks(uids, _FETCH_CHUNK):
            data = client.fetch(list(chunk), ["FLAGS", "BODY.PEEK[]"])
            for uid in chunk:
                item = data[uid]
                flags = frozenset(
                    f.decode(errors="replace") if isinstance(f, bytes) else str(f)
                    for f in item[b"FLAGS"]
                ) - {"\\Recent"}
                out.append(RigMessage(uid=uid, flags=flags, raw=bytes(item[b"BODY[]"])))
        return out

    def wait_for(
        self, user: str, count: int, folder: str = "INBOX", timeout: float = 10.0
    ) -> list[RigMessage]:
        """Poll (STATUS, cheap) until `folder` holds at least `count` messages."""
        deadline = time.monotonic() + timeout
        with self.imap(user) as client:
            while True:
                try:
                    status = client.folder_status(folder, [b"MESSAGES"])
                    have = int(status[b"MESSAGES"])
                except IMAPClientError:  # the folder may not exist yet
                    have = -1
                if have >= count:
                    return self._fetch_all(client, folder)
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            if have < 0:
                raise AssertionError(
                    f"{user} {folder}: wanted {count} message(s) within {timeout} s, "
                    "but the folder does not exist"
                )
            there = [(m.uid, m.subject, sorted(m.flags)) for m in self._fetch_all(client, folder)]
        raise AssertionError(
            f"{user} {folder}: wanted {count} message(s) within {timeout} s, "
            f"found {len(there)}: {there!r}"
        )

    # -- housekeeping ------------------------------------------------------------------
    def _dirt(self, user: str) -> tuple[bool, list[str]]:
        """(has non-default folders, default folders holding files) for `user`, read from
        the Maildir on disk so that untouched users and folders cost no IMAP round trip."""
        md = self.maildir(user)
        if not md.is_dir():
            return False, []
        with os.scandir(md) as it:
            subs = {e.name for e in it if e.is_dir() and e.name.startswith(".")}
        special = {"." + f: f for f in SPECIAL_FOLDERS if f != "INBOX"}
        extra = bool(subs - special.keys())
        full: list[str] = []
        for path, name in [(md, "INBOX"), *((md / d, special[d]) for d in subs & special.keys())]:
            for sub in ("cur", "new"):
                try:
                    with os.scandir(path / sub) as it:
                        if next(it, None) is not None:
                            full.append(name)
                            break
                except FileNotFoundError:
                    pass
        return extra, full

    def reset(self) -> None:
        """Empty every folder of every user, delete extra folders, clear faults/accepted,
        forget every OAuth2 token."""
        self.faults.clear()
        self.accepted.clear()
        self.tokens.clear()
        for user in USERS:
            extra, full = self._dirt(user)
            if not extra and not full:
                continue
            with self.imap(user) as client:
                if extra:
                    self._delete_extra_folders(client)
                for name in full:
                    client.select_folder(name)
                    client.delete_messages("1:*", silent=True)
                    client.expunge()
                    client.unselect_folder()

    @staticmethod
    def _delete_extra_folders(client: IMAPClient) -> None:
        listed = client.list_folders()
        # "A/B" alone makes "A" a \\NonExistent placeholder: nothing to delete there
        phantom = {name for flags, _d, name in listed if _NOSELECT & set(flags)}
        extra = [n for _f, _d, n in listed if n not in phantom and n not in SPECIAL_FOLDERS]
        # children before parents, so no "has children" refusal
        for name in sorted(extra, key=lambda n: (-n.count("/"), n)):
            client.delete_folder(name)

    def kick(self, user: str) -> None:
        """Disconnect every IMAP session of `user` (doveadm kick), like an admin would."""
        res = subprocess.run(
            [_doveadm(), "-c", str(self.conf), "kick", user],
            capture_output=True,
            text=True,
            check=False,
        )
        if res.returncode not in (0, 68):  # 68 (EX_NOUSER): nobody was connected
            raise RuntimeError(f"doveadm kick {user} failed ({res.returncode}): {res.stderr}")


def owner_config(
    rig: MailRig,
    directory: Path,
    templates: Path,
    lifecycle: dict[str, str] | None = None,
    extra: str = "",
) -> Path:
    """A config file for the rig's owner account (plaintext on loopback, no rate caps)."""
    directory.mkdir(parents=True, exist_ok=True)
    owner = "owner@example.test"
    settings = "".join(f"{key} = {json.dumps(value)}\n" for key, value in (lifecycle or {}).items())
    path = directory / "config.toml"
    path.write_text(
        f"""[owner]
name = "Pat Owner"
email = "{owner}"

[imap]
host = "127.0.0.1"
port = {rig.imap_port}
username = "{owner}"
password = "{rig.password(owner)}"
tls = "none"

[smtp]
host = "127.0.0.1"
port = {rig.smtp_port}
tls = "none"

[lifecycle]
{settings}
[limits]
max_per_hour = 1000
max_per_day = 10000

[state]
path = "state.sqlite3"

[templates]
dir = {json.dumps(str(templates))}
{extra}"""
    )
    path.chmod(0o600)
    return path


def start_rig() -> MailRig:
    """Create a temp dir (mkdtemp, chmod 755: not pytest's 0700 tmp_path) and start a rig."""
    root = Path(tempfile.mkdtemp(prefix="mailrig-"))
    imap_port, imaps_port, lmtp_port, smtp_port = free_ports(4)
    rig = MailRig(
        root=root,
        imap_port=imap_port,
        imaps_port=imaps_port,
        lmtp_port=lmtp_port,
        smtp_port=smtp_port,
        cafile=root / "ssl" / "cert.pem",
    )
    try:
        return rig.start()
    except BaseException:
        rig.stop()
        raise
