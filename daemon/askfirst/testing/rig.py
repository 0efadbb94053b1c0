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

Reading and tidying a user's mailbox is `testing.rigmail`; the owner's config file for the
daemon is `testing.ownerconfig`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from imapclient import IMAPClient

from askfirst.testing import rigmail
from askfirst.testing.bridge import (
    BridgeController,
    LmtpRelayHandler,
    SmtpFaults,
    lmtp_deliver,
    smtp_auth_ok,
)
from askfirst.testing.dovecot import Dovecot, free_ports
from askfirst.testing.oauth import OAUTH2_CONF, OAuthTokens, TokenServer
from askfirst.testing.rigmail import RigMessage
from askfirst.testing.users import USERS, password_of


@dataclass
class MailRig:
    """A running Dovecot + SMTP bridge in one temp dir; see the module docstring."""

    server = "dovecot"  # which IMAP server (`testing.cyrus.CyrusRig` says "cyrus")
    root: Path
    imap_port: int
    imaps_port: int
    lmtp_port: int
    smtp_port: int
    cafile: Path
    faults: SmtpFaults = field(default_factory=SmtpFaults)
    accepted: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    tokens: OAuthTokens = field(default_factory=OAuthTokens)
    dovecot: Dovecot = field(init=False, repr=False)
    _controller: BridgeController | None = field(default=None, repr=False)
    _token_server: TokenServer | None = field(default=None, repr=False)

    # -- paths -------------------------------------------------------------------------
    def __post_init__(self) -> None:
        self.dovecot = Dovecot(self.root, self.imap_port, self.imaps_port, self.lmtp_port)

    @property
    def conf(self) -> Path:
        return self.dovecot.conf

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
        return self.dovecot.log_tail(lines)

    def _start_token_server(self) -> None:
        """The introspection server (a daemon thread), then its port into Dovecot's
        oauth2 config; Dovecot's auth process reads that file when it starts."""
        if self._token_server is None:
            server = TokenServer(self.tokens)
            threading.Thread(
                target=server.serve_forever, name="rig-introspection", daemon=True
            ).start()
            self._token_server = server
        self.oauth2_conf.write_text(OAUTH2_CONF.substitute(port=self._token_server.port))
        self.oauth2_conf.chmod(0o644)

    def _stop_token_server(self) -> None:
        server, self._token_server = self._token_server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def _start_smtp(self) -> None:
        handler = LmtpRelayHandler(self.lmtp_port, self.faults, self.accepted, self.tokens)
        controller = BridgeController(
            handler,
            hostname="127.0.0.1",
            port=self.smtp_port,
            server_hostname="mail.example.test",  # skip socket.getfqdn()
            ready_timeout=15,
            auth_required=False,
            auth_require_tls=False,
            auth_callback=smtp_auth_ok,
        )
        controller.start()
        self._controller = controller

    def start(self) -> MailRig:
        """Write everything, start Dovecot and wait for its banner, then the SMTP bridge."""
        if not self.conf.exists():
            self.dovecot.write_files(self.cafile)
        self._start_token_server()
        try:
            self.dovecot.start()
        except BaseException:
            self._stop_token_server()
            raise
        try:
            self._start_smtp()
        except BaseException:
            self.dovecot.stop()
            self._stop_token_server()
            raise
        return self

    def stop(self) -> None:
        """Stop both servers and remove the temp dir (MAILRIG_KEEP=1 keeps it to debug)."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()
        self._stop_imap()
        self._stop_token_server()
        if os.environ.get("MAILRIG_KEEP") != "1":
            shutil.rmtree(self.root, ignore_errors=True)

    def _stop_imap(self) -> None:
        self.dovecot.stop()

    def restart_dovecot(self) -> None:
        """Stop Dovecot by pid and start it again on the same ports (a server outage)."""
        self.dovecot.stop()
        self.dovecot.start()

    @staticmethod
    def folder(name: str) -> str:
        """A folder name written as for Dovecot (`Drafts`, `askfirst/Approve`), as this
        rig's server spells it (Cyrus: `INBOX.Drafts`)."""
        return name

    # -- users and access --------------------------------------------------------------
    def password(self, user: str) -> str:
        """The rig password: '<localpart>pass'."""
        return password_of(user)

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

    @property
    def smtp_connections(self) -> int:
        """How many connections the SMTP bridge accepted since the last `reset`."""
        return self._controller.connections if self._controller is not None else 0

    def offer_smtputf8(self, offered: bool) -> None:
        """Whether the SMTP bridge offers SMTPUTF8 (RFC 6531) to new connections."""
        if self._controller is not None:
            self._controller.SMTP_kwargs["enable_SMTPUTF8"] = offered

    def deliver(self, raw: bytes, rcpt: str, mail_from: str = "sender@example.test") -> None:
        """Put a message straight into Dovecot over LMTP, as an MTA would."""
        refused = lmtp_deliver(self.lmtp_port, mail_from, [rcpt], raw)
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
            return rigmail.append(client, raw, self.folder(folder), when, flags)

    def messages(self, user: str, folder: str = "INBOX") -> list[RigMessage]:
        """Every message in `folder`, by UID, read with BODY.PEEK[] so nothing gets \\Seen."""
        with self.imap(user) as client:
            return rigmail.fetch_all(client, self.folder(folder))

    def wait_for(
        self, user: str, count: int, folder: str = "INBOX", timeout: float = 10.0
    ) -> list[RigMessage]:
        """Poll (STATUS, cheap) until `folder` holds at least `count` messages."""
        with self.imap(user) as client:
            return rigmail.wait_for(client, user, count, self.folder(folder), timeout)

    # -- housekeeping ------------------------------------------------------------------
    def reset(self) -> None:
        """Empty every folder of every user, delete extra folders, clear faults/accepted,
        forget every OAuth2 token."""
        self.faults.clear()
        if self._controller is not None:
            self._controller.connections = 0
        self.offer_smtputf8(True)
        self.accepted.clear()
        self.tokens.clear()
        for user in USERS:
            extra, full = rigmail.dirt(self.maildir(user))
            if not extra and not full:
                continue
            with self.imap(user) as client:
                if extra:
                    rigmail.delete_extra_folders(client)
                rigmail.empty(client, full)

    def kick(self, user: str) -> None:
        """Disconnect every IMAP session of `user` (doveadm kick), like an admin would."""
        self.dovecot.kick(user)


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
