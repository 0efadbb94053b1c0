"""The rig's Dovecot: IMAP and LMTP in one temp dir, on OS-assigned loopback ports, stopped
by its own pid only (other dovecot instances may run on the same machine)."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import socket
import string
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from askfirst.testing.users import USERS, password_of

# Folders Dovecot auto-creates (see the namespace block); reset() empties but keeps them.
SPECIAL_FOLDERS = ("INBOX", "Sent", "Drafts", "Trash", "Junk")
NOSELECT = {b"\\Noselect", b"\\NonExistent"}

DOVECOT_CONF = string.Template("""\
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


def find_dovecot() -> str | None:
    """Locate the dovecot binary; /usr/sbin is often missing from a non-root PATH."""
    found = shutil.which("dovecot")
    if found is None and os.access("/usr/sbin/dovecot", os.X_OK):
        found = "/usr/sbin/dovecot"
    return found


def doveadm() -> str:
    return shutil.which("doveadm") or "/usr/bin/doveadm"


def terminate(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM one server's own master process (never a name), then wait; kill if stuck."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


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


def read_banner(port: int) -> bool:
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
class Dovecot:
    """One private Dovecot: its config, users file and certificate in `root`, its process."""

    root: Path
    imap_port: int
    imaps_port: int
    lmtp_port: int
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def conf(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def log(self) -> Path:
        return self.root / "dovecot.log"

    def log_tail(self, lines: int = 30) -> str:
        """The end of dovecot.log, for error messages."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no dovecot.log)"

    def write_files(self, cafile: Path) -> None:
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
            DOVECOT_CONF.substitute(
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
        users.write_text("".join(f"{u}:{{PLAIN}}{password_of(u)}\n" for u in USERS))
        users.chmod(0o644)
        key = self.root / "ssl" / "key.pem"
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                "-keyout", str(key), "-out", str(cafile),
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        if is_root:
            pw = pwd.getpwnam("dovecot")
            os.chown(self.root / "mail", pw.pw_uid, pw.pw_gid)

    def start(self) -> None:
        """Start in the foreground of its own process and wait for the IMAP banner."""
        binary = find_dovecot()
        if binary is None:
            raise RuntimeError("dovecot not found: apt-get install dovecot-imapd dovecot-lmtpd")
        self._proc = subprocess.Popen([binary, "-F", "-c", str(self.conf)])
        deadline = time.monotonic() + 15
        while not read_banner(self.imap_port):
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"dovecot exited with {self._proc.returncode}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"dovecot gave no IMAP banner in 15 s:\n{self.log_tail()}")
            time.sleep(0.02)

    def stop(self) -> None:
        """SIGTERM our own master pid only; it stops its children (about 1 s)."""
        proc, self._proc = self._proc, None
        terminate(proc)

    def kick(self, user: str) -> None:
        """Disconnect every IMAP session of `user` (doveadm kick), like an admin would."""
        res = subprocess.run(
            [doveadm(), "-c", str(self.conf), "kick", user],
            capture_output=True,
            text=True,
            check=False,
        )
        if res.returncode not in (0, 68):  # 68 (EX_NOUSER): nobody was connected
            raise RuntimeError(f"doveadm kick {user} failed ({res.returncode}): {res.stderr}")
