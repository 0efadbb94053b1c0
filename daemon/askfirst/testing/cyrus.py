"""A private Cyrus IMAP for the rig, beside Dovecot: a second, independent server.

Cyrus keeps personal folders under `INBOX.` with `.` as the separator, refuses top-level
`Sent` or `askfirst`, refuses to delete a special-use folder, and pushes IDLE only while
its `idled` runs (else every 60 s). The Debian packages `cyrus-imapd` and `dovecot-imapd`
conflict, so only Cyrus's shared parts are installed (`cyrus-common`, `sasl2-bin`) and
`imapd`/`idled` are unpacked from the `cyrus-imapd` package into a folder (`scripts/test`
does both; see `find_cyrus`). Everything lives in one temp dir, on OS-assigned loopback
ports; stopped by its own master pid only. `set_quota` makes APPEND (STORAGE) or CREATE
(X-NUM-FOLDERS) go over quota, as a full mailbox does.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import string
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from imapclient import IMAPClient
from imapclient.imapclient import Quota

from askfirst.folders import Personal
from askfirst.testing.dovecot import free_ports, read_banner, terminate
from askfirst.testing.rig import MailRig
from askfirst.testing.users import USERS, password_of

CYRUS_BIN = Path("/usr/lib/cyrus/bin")  # master, lmtpd, ctl_cyrusdb, makedirs (cyrus-common)
UNPACKED = Path(os.environ.get("ASKFIRST_CYRUS_IMAPD", "/opt/cyrus-imapd"))  # imapd, idled
ADMIN, ADMIN_PASSWORD = "cyrus", "cyrusadminpass"

IMAPD_CONF = string.Template("""\
configdirectory: ${root}/config
partition-default: ${root}/partition
defaultpartition: default
proc_path: ${root}/run/proc
mboxname_lockpath: ${root}/run/lock
sievedir: ${root}/sieve
lmtpsocket: ${root}/socket/lmtp
idlesocket: ${root}/socket/idle
notifysocket: ${root}/socket/notify
servername: mail.example.test
altnamespace: no
unixhierarchysep: no
virtdomains: userid
admins: ${admin}
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: ${root}/sasldb2
sasl_mech_list: PLAIN LOGIN
lmtp_downcase_rcpt: yes
autocreate_quota: 0
autocreate_post: 1
autocreate_inbox_folders: Sent | Drafts
xlist-sent: Sent
xlist-drafts: Drafts
delete_mode: immediate
expunge_mode: immediate
hashimapspool: true
""")

CYRUS_CONF = string.Template("""\
START {
  recover cmd="${bin}/ctl_cyrusdb -C ${root}/imapd.conf -r"
}
SERVICES {
  imap cmd="${imapd} -C ${root}/imapd.conf" listen="127.0.0.1:${imap_port}" prefork=0 maxchild=50
  lmtp cmd="${bin}/lmtpd -C ${conf} -a" listen="127.0.0.1:${lmtp_port}" prefork=0 maxchild=10
}
EVENTS {
  checkpoint cmd="${bin}/ctl_cyrusdb -C ${root}/imapd.conf -c" period=30
}
DAEMON {
${idled}}
""")


def find_cyrus() -> Path | None:
    """The unpacked `imapd` when every part is there (and we are root: master switches to
    the cyrus user), else None: the Cyrus tests skip."""
    imapd = UNPACKED / "usr/lib/cyrus/bin/imapd"
    parts = (imapd, CYRUS_BIN / "master", CYRUS_BIN / "lmtpd", Path("/usr/sbin/saslpasswd2"))
    if os.geteuid() != 0 or not all(os.access(p, os.X_OK) for p in parts):
        return None
    try:
        pwd.getpwnam("cyrus")
    except KeyError:
        return None
    return imapd


@dataclass
class Cyrus:
    """One private Cyrus: config, sasldb and spool in `root`, its master process."""

    root: Path
    imap_port: int
    lmtp_port: int
    idled: bool = True  # push IDLE at once; without it Cyrus looks every 60 s
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def conf(self) -> Path:
        return self.root / "imapd.conf"

    def write_files(self) -> None:
        imapd = find_cyrus()
        if imapd is None:
            raise RuntimeError("Cyrus not found: scripts/test installs and unpacks it")
        for sub in ("config", "partition", "sieve", "socket", "run"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        self.conf.write_text(IMAPD_CONF.substitute(root=self.root, admin=ADMIN))
        idled = f'  idled cmd="{imapd.parent}/idled -C {self.conf}"\n' if self.idled else ""
        (self.root / "cyrus.conf").write_text(
            CYRUS_CONF.substitute(
                root=self.root,
                bin=CYRUS_BIN,
                imapd=imapd,
                conf=self.conf,
                imap_port=self.imap_port,
                lmtp_port=self.lmtp_port,
                idled=idled,
            )
        )
        sasldb = str(self.root / "sasldb2")
        logins = [(u.split("@")[0], "example.test", password_of(u)) for u in USERS]
        for name, realm, password in [*logins, (ADMIN, "mail.example.test", ADMIN_PASSWORD)]:
            subprocess.run(
                ["saslpasswd2", "-p", "-c", "-f", sasldb, "-u", realm, name],
                input=password.encode(),
                check=True,
                capture_output=True,
            )
        makedirs = (CYRUS_BIN / "makedirs").read_text()
        makedirs = makedirs.replace("CONF=/etc/imapd.conf", f"CONF={self.conf}")
        makedirs = "\n".join(
            line for line in makedirs.splitlines() if not line.startswith("[ -r /etc/default")
        )
        (self.root / "makedirs.sh").write_text(makedirs)
        subprocess.run(["sh", str(self.root / "makedirs.sh")], check=True, capture_output=True)
        shutil.chown(self.root, "cyrus", "mail")
        for path in self.root.rglob("*"):
            shutil.chown(path, "cyrus", "mail")

    def start(self) -> None:
        """Start the master in the foreground of its own process; wait for the banner."""
        self._proc = subprocess.Popen(
            [
                str(CYRUS_BIN / "master"),
                "-C", str(self.conf),
                "-M", str(self.root / "cyrus.conf"),
                "-p", str(self.root / "run" / "master.pid"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while not read_banner(self.imap_port):
            if self._proc.poll() is not None:
                raise RuntimeError(f"cyrus master exited with {self._proc.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("cyrus did not answer within 20 s")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM our own master pid only; it stops its children."""
        proc, self._proc = self._proc, None
        terminate(proc)


PERSONAL = Personal("INBOX.", ".")  # how Cyrus spells the owner's folders
USER_INBOX = re.compile(r"^user\.[^.@]+@[^@]+$")  # user.alice@example.test, as the admin sees it


@dataclass
class CyrusRig(MailRig):
    """The rig with Cyrus instead of Dovecot: the same SMTP bridge (relaying to Cyrus's
    LMTP) and the same helpers; folder names in the helpers are written as for Dovecot
    (`Sent`, `askfirst/Approve`) and spelled the Cyrus way here. No OAuth2, no `kick`."""

    server = "cyrus"
    cyrus: Cyrus = field(init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.cyrus = Cyrus(self.root / "cyrus", self.imap_port, self.lmtp_port)

    def start(self) -> CyrusRig:
        self.cyrus.write_files()
        self.cyrus.start()
        try:
            self._start_smtp()
        except BaseException:
            self.cyrus.stop()
            raise
        return self

    def _stop_imap(self) -> None:
        self.cyrus.stop()

    def log_tail(self, lines: int = 30) -> str:
        return "(cyrus logs to syslog)"

    @staticmethod
    def folder(name: str) -> str:
        """`Drafts` -> `INBOX.Drafts`: the rig's helpers take names as for Dovecot."""
        return PERSONAL.name(name)

    def reset(self) -> None:
        """Delete every user's mailboxes (as the admin); the next login or delivery makes
        a fresh INBOX with Sent and Drafts."""
        self.faults.clear()
        self.accepted.clear()
        self.tokens.clear()
        client = self.admin()
        try:
            for _flags, _sep, name in client.list_folders():
                if not USER_INBOX.match(name):
                    continue  # a user's INBOX takes its folders along
                client.setacl(name, ADMIN, "lrswipkxtecdan")
                client.delete_folder(name)
        finally:
            client.logout()

    def admin(self) -> IMAPClient:
        """A client logged in as the Cyrus admin; the caller logs out."""
        client = IMAPClient("127.0.0.1", port=self.imap_port, ssl=False, timeout=30)
        client.login(ADMIN, ADMIN_PASSWORD)
        return client

    def set_quota(self, user: str, limit: int, resource: str = "STORAGE") -> None:
        """A quota on all of `user`'s folders (STORAGE in KB: APPEND refused beyond it;
        X-NUM-FOLDERS: CREATE refused)."""
        with self.admin() as client:
            client.set_quota([Quota(f"user.{user}", resource, 0, limit)])

    def kick(self, user: str) -> None:
        raise NotImplementedError("the Cyrus rig has no kick")


def start_cyrus_rig() -> CyrusRig:
    """A temp dir and a running Cyrus rig (see `start_rig` for Dovecot)."""
    root = Path(tempfile.mkdtemp(prefix="cyrusrig-"))
    root.chmod(0o755)
    imap_port, imaps_port, lmtp_port, smtp_port = free_ports(4)
    rig = CyrusRig(
        root=root,
        imap_port=imap_port,
        imaps_port=imaps_port,
        lmtp_port=lmtp_port,
        smtp_port=smtp_port,
        cafile=root / "cert.pem",
    )
    try:
        return rig.start()
    except BaseException:
        rig.stop()
        raise
