"""Send mail over SMTP, one connection for the mails of a sending pass, and say clearly
whether a failure is worth retrying.

TLS is explicit: `ssl` (implicit TLS), `starttls` (required, never a silent plaintext
fallback) or `none`. The transaction is driven step by step so the caller can record the
point of no return (`before_data`) just before DATA: a crash before it means the message
was certainly not sent, after it means it almost certainly was.

A `session()` connects at its first mail and keeps the connection for the next ones (a
new one costs a TCP handshake, EHLO, maybe TLS and a login: ~1.2 ms on loopback without
TLS, far more over a network). A refused mail leaves the connection usable (RSET); a lost
one is dropped, and the next mail connects again. A server may close a connection while
it waits (a timeout, a 421): a kept connection found closed at MAIL FROM, before anything
of the mail went out, is replaced once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import aiosmtplib

from askfirst import logs
from askfirst.config import Smtp
from askfirst.credentials import access_token

log = logs.get()


class SendError(Exception):
    """Sending failed. `transient` says whether trying again later may help; `uncertain`
    that the body went out and the reply never came (the server may well have it);
    `hand_over` that no retry can help and a person should write instead."""

    def __init__(
        self, message: str, *, transient: bool, uncertain: bool = False, hand_over: bool = False
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.uncertain = uncertain
        self.hand_over = hand_over


class SenderRefused(SendError):
    """The server refuses the envelope sender for good (5xx to MAIL FROM), e.g. Postfix's
    `553 5.7.1 Sender address rejected: not owned by user`: `owner.email` may not be used
    with this login. A configuration problem for every mail, not a fault of one recipient;
    the outbox holds all mail until the configuration is fixed (and askfirst restarted)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=False)


@dataclass(frozen=True)
class Envelope:
    sender: str
    recipient: str
    raw: bytes


@functools.cache
def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Certificates and host names are verified, always; `ca_file` adds a private CA.
    Built once per CA file: loading the system bundle costs ~20 ms, every time."""
    return ssl.create_default_context(cafile=ca_file)


class SmtpSender:
    def __init__(self, settings: Smtp) -> None:
        self._settings = settings

    def _client(self) -> aiosmtplib.SMTP:
        s = self._settings
        context = tls_context(str(s.ca_file) if s.ca_file else None) if s.tls != "none" else None
        return aiosmtplib.SMTP(
            hostname=s.host,
            port=s.effective_port,
            use_tls=s.tls == "ssl",
            start_tls=s.tls == "starttls",
            tls_context=context,
            timeout=s.timeout.total_seconds(),
        )

    async def _open(self) -> aiosmtplib.SMTP:
        s = self._settings
        client = self._client()
        await client.connect()
        try:
            if s.auth == "xoauth2":
                token = await asyncio.to_thread(access_token, s)  # may run a command
                logs.hide(token)
                await client.auth_xoauth2(s.username, token)
            elif s.username:
                await client.login(s.username, s.password.get_secret_value())
        except BaseException:
            client.close()  # a refused login must not leave the socket open
            raise
        return client

    async def probe(self, sender: str = "", recipient: str = "") -> None:
        """Connect and log in, for `askfirst check`; raises `SendError` when that fails.
        With a `sender`, also MAIL FROM it and RCPT TO `recipient`, then RSET: a refused
        sender (`SenderRefused`) is found before any mail, and nothing is sent."""
        try:
            client = await self._open()
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise _as_send_error(exc) from exc
        try:
            if sender:
                await _mail_from(client, sender)
                await client.rcpt(recipient or sender)
                await client.rset()
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise _as_send_error(exc) from exc
        finally:
            await _quit(client)

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[SmtpSession]:
        """A session for the mails of one pass: nothing is opened until its first mail;
        QUIT at the end (a pass ended by an exception just drops the connection)."""
        session = SmtpSession(self._open)
        try:
            yield session
        except BaseException:
            session.drop()
            raise
        await session.close()


class SmtpSession:
    """One SMTP connection, opened at the first mail and reused for the next ones."""

    def __init__(self, connect: Callable[[], Awaitable[aiosmtplib.SMTP]]) -> None:
        self._connect = connect
        self._client: aiosmtplib.SMTP | None = None

    async def send(self, envelope: Envelope, before_data: Callable[[], None]) -> None:
        """Deliver one message to one recipient, or raise `SendError`."""
        on_the_wire = False
        try:
            client, encoding = await self._start(envelope)
            # raises on refusal: nothing is silently dropped
            await client.rcpt(envelope.recipient, encoding=encoding)
            before_data()
            on_the_wire = True
            await client.data(envelope.raw)
        except (aiosmtplib.SMTPException, OSError) as exc:
            await self._after_failure(exc)
            if on_the_wire and not isinstance(exc, aiosmtplib.SMTPResponseException):
                raise SendError(
                    f"no reply after the message was sent ({type(exc).__name__}: {exc})",
                    transient=False,
                    uncertain=True,
                ) from exc
            raise _as_send_error(exc) from exc
        except SendError:
            raise  # no transaction is open: MAIL FROM was refused, or never sent
        except BaseException:
            self.drop()  # stopped midway (a lost lease, a cancel): the state is unknown
            raise

    async def _start(self, envelope: Envelope) -> tuple[aiosmtplib.SMTP, str]:
        """MAIL FROM on the kept connection, or on a new one. A kept connection the server
        closed while it waited is replaced once: nothing of this mail has gone out yet."""
        client = self._client
        if client is not None and client.is_connected:
            try:
                return client, await _begin(client, envelope)
            except (aiosmtplib.SMTPServerDisconnected, OSError) as exc:
                log.info("smtp.reconnect", error=f"{type(exc).__name__}: {exc}")
            except aiosmtplib.SMTPResponseException as exc:
                if exc.code != 421:
                    raise
                log.info("smtp.reconnect", error=f"SMTP {exc.code}: {exc.message}")
        self.drop()
        self._client = client = await self._connect()
        return client, await _begin(client, envelope)

    async def _after_failure(self, exc: BaseException) -> None:
        """After a refusal the connection serves the next mail once RSET; a connection
        lost (or unsure) is dropped, and the next mail opens a new one."""
        client = self._client
        if client is None:
            return
        if isinstance(exc, aiosmtplib.SMTPResponseException) and client.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await client.rset()
                return
        self.drop()

    def drop(self) -> None:
        """Close the connection without QUIT."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    async def close(self) -> None:
        """QUIT, if a connection is open."""
        client, self._client = self._client, None
        if client is not None:
            await _quit(client)


async def _begin(client: aiosmtplib.SMTP, envelope: Envelope) -> str:
    """MAIL FROM for `envelope` (with SMTPUTF8 when it needs it); the address encoding."""
    options = await _utf8_options(client, envelope)
    encoding = "utf-8" if options else "ascii"
    await _mail_from(client, envelope.sender, options, encoding)
    return encoding


async def _mail_from(
    client: aiosmtplib.SMTP, sender: str, options: list[str] | None = None, encoding: str = "ascii"
) -> None:
    try:
        await client.mail(sender, options=options, encoding=encoding)
    except aiosmtplib.SMTPSenderRefused as exc:
        if 500 <= exc.code < 600:
            raise SenderRefused(f"sender <{sender}> refused: {exc.code} {exc.message}") from exc
        raise


async def _utf8_options(client: aiosmtplib.SMTP, envelope: Envelope) -> list[str]:
    """SMTPUTF8 (RFC 6531) when an address or a header is not ASCII, if the server offers
    it; otherwise the mail cannot go as it is, and a person should write instead."""
    if envelope.raw.isascii() and envelope.recipient.isascii() and envelope.sender.isascii():
        return []
    if not client.esmtp_extensions:
        await client.ehlo()
    if client.supports_extension("smtputf8"):
        return ["SMTPUTF8"]
    raise SendError(
        f"the address {envelope.recipient} or a Message-ID is not ASCII, "
        "and the SMTP server does not offer SMTPUTF8",
        transient=False,
        hand_over=True,
    )


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        client.close()


def _as_send_error(exc: BaseException) -> SendError:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return SendError(f"TLS certificate not trusted: {exc.verify_message}", transient=False)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        return SendError(f"recipient refused: {exc}", transient=all(400 <= c < 500 for c in codes))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        transient = 400 <= exc.code < 500
        return SendError(f"SMTP {exc.code}: {exc.message}", transient=transient)
    return SendError(f"{type(exc).__name__}: {exc}", transient=True)
