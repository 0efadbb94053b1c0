"""The rig's SMTP server: aiosmtpd, refusing unknown recipients, injecting faults on demand
and relaying every accepted mail into Dovecot over LMTP, so a sent reply lands in the
recipient's real mailbox."""

from __future__ import annotations

import asyncio
import binascii
import json
import smtplib
import threading
from base64 import b64decode
from collections.abc import Sequence
from dataclasses import dataclass

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, Session

from askfirst.testing.oauth import OAuthTokens
from askfirst.testing.users import USER_SET, password_of


@dataclass
class _Fault:
    stage: str
    code: int
    message: str
    times: int
    after: int


class SmtpFaults:
    """Faults the SMTP handler answers with on demand; thread-safe (the server has its own
    thread)."""

    STAGES = ("MAIL", "RCPT", "DATA")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Fault] = []
        self._drops = 0
        self._hang_ups: list[bool] = []  # each: say 421 first?

    def drop_after_data(self, times: int = 1) -> None:
        """Take the next message, deliver it, then drop the connection without a reply:
        the client cannot know whether it was accepted."""
        with self._lock:
            self._drops += times

    def hang_up_after_data(self, times: int = 1, *, say_421: bool = True) -> None:
        """Take the next message and answer it, then close the connection (after a `421`,
        or without a word), as a server ending a connection that waits too long does: the
        next mail finds it closed."""
        with self._lock:
            self._hang_ups += [say_421] * times

    def take_drop(self) -> bool:
        with self._lock:
            if self._drops <= 0:
                return False
            self._drops -= 1
            return True

    def take_hang_up(self) -> bool | None:
        """None: no hang-up pending; else whether to say 421 first."""
        with self._lock:
            return self._hang_ups.pop(0) if self._hang_ups else None

    def fail_next(
        self,
        code: int,
        message: str = "injected fault",
        times: int = 1,
        stage: str = "DATA",
        after: int = 0,
    ) -> None:
        """Answer the next `times` commands of `stage` with `code message`, once `after`
        more of them have passed."""
        stage = stage.upper()
        if stage not in self.STAGES:
            raise ValueError(f"stage must be one of {self.STAGES}, not {stage!r}")
        if not 400 <= code <= 599:
            raise ValueError(f"fault code must be 4xx/5xx, not {code}")
        with self._lock:
            self._queue.append(_Fault(stage, code, message, times, after))

    def clear(self) -> None:
        """Drop all pending faults."""
        with self._lock:
            self._queue.clear()
            self._drops = 0
            self._hang_ups.clear()

    def take(self, stage: str) -> str | None:
        """Consume one pending fault for `stage`; the SMTP reply line, or None."""
        with self._lock:
            for fault in self._queue:
                if fault.stage == stage:
                    if fault.after > 0:
                        fault.after -= 1
                        return None
                    fault.times -= 1
                    if fault.times <= 0:
                        self._queue.remove(fault)
                    return f"{fault.code} {fault.message}"
        return None


def lmtp_deliver(port: int, mail_from: str, rcpts: Sequence[str], data: bytes) -> dict[str, str]:
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
        if address.lower() not in USER_SET:
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
        refused = await asyncio.to_thread(lmtp_deliver, self.lmtp_port, mail_from, rcpts, data)
        if len(refused) == len(rcpts):
            return f"550 5.1.1 no recipient accepted: {refused!r}"
        self.accepted.append((mail_from, rcpts, data))
        transport = server.transport
        if not isinstance(transport, asyncio.Transport):
            return "250 OK delivered"
        if self.faults.take_drop():
            transport.abort()  # delivered, and the reply never comes
        elif (say_421 := self.faults.take_hang_up()) is not None:
            server.loop.call_soon(_hang_up, transport, say_421)  # after the reply below
        return "250 OK delivered"


def _hang_up(transport: asyncio.Transport, say_421: bool) -> None:
    if say_421:
        transport.write(b"421 4.4.2 mail.example.test closing: idle too long\r\n")
    transport.close()


class BridgeController(Controller):
    """The bridge's aiosmtpd server, counting the connections it accepts (its own start-up
    check among them)."""

    connections = 0

    def factory(self) -> SMTP:
        self.connections += 1
        return SMTP(self.handler, **self.SMTP_kwargs)  # what Controller.factory does


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


def smtp_auth_ok(mechanism: str, login: bytes, password: bytes) -> bool:
    """Accept any rig user with its rig password (PLAIN or LOGIN, over plain loopback)."""
    user = login.decode(errors="replace").lower()
    return user in USER_SET and password.decode(errors="replace") == password_of(user)
