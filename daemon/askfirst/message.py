"""Parse one incoming mail into the few plain fields the rest of askfirst looks at.

Mail is hostile input: every header is read defensively, CR/LF and control characters
never survive into a field, unknown charsets degrade to replacement characters, and a
message too broken to parse at all still yields a `Mail` (with `defects`) rather than an
exception, so one bad message can never stop the loop.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message

from askfirst.dsn import DeliveryReport, read_report
from askfirst.headerfields import MAX_ADDRESS_HEADER, clean, decode_words, mailboxes
from askfirst.htmltext import html_to_text

_MSGID = re.compile(r"<[^<>\s]+>")
# The most body text any pattern sees: a real invitation or answer is a few kB; the cap
# bounds the work every classifier pattern does on a hostile mail (HTML is cut before
# parsing, at a larger size, since markup shrinks to text).
MAX_TEXT = 100_000
ADDRESS_COPIES = 10  # headers read for a field gathered from several (Bcc, Resent-*, ...)
ADDRESS_HEADERS = (
    *("from", "reply-to", "to", "cc", "bcc", "return-path"),
    *("resent-to", "resent-cc", "resent-bcc", "delivered-to", "x-original-to"),
)
MAX_HTML = 4 * MAX_TEXT
HTML_LIMIT = 500_000  # characters of an HTML part kept for its links
# RFC 2369 and RFC 2919: any of these marks a list post, whatever its value.
LIST_HEADERS = tuple(
    f"list-{n}" for n in ("id", "help", "subscribe", "unsubscribe", "post", "owner", "archive")
)
# Headers kept verbatim (cleaned) for the classifier, the gates and the answer detector.
KEPT_HEADERS = (
    "date",  # with Message-ID, From and Subject it tells two mails apart (store.mail_key)
    "auto-submitted",
    "precedence",
    "x-autoreply",
    "x-autorespond",
    "x-auto-response-suppress",
    *LIST_HEADERS,
    "return-path",
    "x-linkedin-class",
    "x-linkedin-template",
    "x-facebook-notify",
    "authentication-results",
    "content-type",
    "x-askfirst",
)


@dataclass(frozen=True)
class Mail:
    message_id: str
    from_addr: str = ""
    from_name: str = ""
    reply_to: tuple[str, ...] = ()
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    subject: str = ""
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)
    text: str = ""
    content_type: str = "text/plain"
    report_ids: tuple[str, ...] = ()
    auth_results: tuple[str, ...] = ()  # every Authentication-Results header, in order
    defects: tuple[str, ...] = ()
    copies: dict[str, tuple[str, ...]] = field(default_factory=dict)  # kept headers seen twice+
    bcc: tuple[str, ...] = ()
    resent_to: tuple[str, ...] = ()  # every Resent-To, Resent-Cc and Resent-Bcc address
    delivered_to: tuple[str, ...] = ()  # the envelope recipient: Delivered-To, X-Original-To
    html: str = ""  # the HTML part as sent, when there is one (its links name people)
    delivery: DeliveryReport | None = None  # what a delivery status notification says (dsn)

    def header(self, name: str) -> str:
        """The first copy of a kept header ("" when absent)."""
        return self.headers.get(name.lower(), "")

    @property
    def list_header(self) -> str | None:
        """The first list header (RFC 2369 / RFC 2919) this mail carries, if any."""
        return next((name for name in LIST_HEADERS if name in self.headers), None)

    def header_all(self, name: str) -> tuple[str, ...]:
        """Every copy of a kept header, in order: a gate must look at each (RFC 5230 §4.6)."""
        name = name.lower()
        if name in self.copies:
            return self.copies[name]
        return (self.headers[name],) if name in self.headers else ()

    @property
    def envelope_from(self) -> str | None:
        """The envelope sender from the topmost Return-Path: "" for the null sender <>,
        None when the delivering server wrote no Return-Path."""
        if "return-path" not in self.headers:
            return None
        found = mailboxes(self.headers["return-path"])
        return next((a for _, a in found if a), "")

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Message-IDs this mail says it answers, nearest first (a bounce names the
        bounced message only inside its report)."""
        return (*self.in_reply_to, *reversed(self.references), *self.report_ids)


def parse(raw: bytes) -> Mail:
    """Parse raw RFC 5322 bytes; never raises on bad input.

    The email package parses the structure (compat32: headers stay raw strings, which is
    several times faster than its header registry); headers are decoded here, and address
    lists are split before their names are decoded (see `headerfields.address_list`)."""
    defects: list[str] = []
    try:
        msg: Message = message_from_bytes(raw)
    except Exception as exc:  # the stdlib parser is lenient; this is the last resort
        return Mail(message_id=_synthetic_id(raw), defects=(f"unparseable: {exc!r}",))
    defects.extend(type(d).__name__ for d in msg.defects)
    first: dict[str, str] = {}
    every: dict[str, list[str]] = {}
    for key, value in msg.raw_items():
        first.setdefault(key.lower(), _utf8(str(value)))
        every.setdefault(key.lower(), []).append(_utf8(str(value)))

    def plain(name: str, limit: int = 1000) -> str:
        return clean(decode_words(first[name]), limit) if name in first else ""

    def addresses(name: str) -> list[tuple[str, str]]:
        return mailboxes(first[name]) if name in first else []

    def every_address(*names: str) -> tuple[str, ...]:
        values = [v for name in names for v in every.get(name, ())][:ADDRESS_COPIES]
        return tuple(a for v in values for _, a in mailboxes(v) if a)

    for name in ADDRESS_HEADERS:  # longer ones are not read (`headerfields.address_list`)
        if any(len(v) > MAX_ADDRESS_HEADER for v in every.get(name, ())):
            defects.append(f"{name} header longer than {MAX_ADDRESS_HEADER} characters: not read")

    from_name, from_addr = next(iter(addresses("from")), ("", ""))
    ids = _MSGID.findall(plain("message-id"))
    text, content_type, html = _body_text(msg, defects)
    delivery = _delivery(msg, defects)  # before `defects` is frozen: a broken report is one
    return Mail(
        message_id=ids[0] if ids else _synthetic_id(raw),
        from_addr=from_addr,
        from_name=from_name,
        reply_to=tuple(a for _, a in addresses("reply-to") if a),
        to=tuple(a for _, a in addresses("to") if a),
        cc=tuple(a for _, a in addresses("cc") if a),
        subject=plain("subject"),
        in_reply_to=tuple(_MSGID.findall(plain("in-reply-to"))),
        references=tuple(_MSGID.findall(plain("references", limit=8000))),
        headers={name: plain(name) for name in KEPT_HEADERS if name in first},
        text=text,
        content_type=content_type,
        report_ids=_report_ids(msg, raw),
        auth_results=_all(msg, "authentication-results"),
        defects=tuple(defects),
        copies={
            name: tuple(clean(decode_words(v)) for v in every[name][:20])
            for name in KEPT_HEADERS
            if len(every.get(name, ())) > 1
        },
        bcc=every_address("bcc"),
        resent_to=every_address("resent-to", "resent-cc", "resent-bcc"),
        delivered_to=every_address("delivered-to", "x-original-to"),
        html=html,
        delivery=delivery,
    )


def _utf8(value: str) -> str:
    """Raw 8-bit header bytes (RFC 6532) arrive surrogate-escaped: read them as UTF-8."""
    if value.isascii():
        return value
    return value.encode("ascii", "surrogateescape").decode("utf-8", "replace")


def _all(msg: Message, name: str) -> tuple[str, ...]:
    """Every occurrence of a header (raw, cleaned): some headers come many times."""
    return tuple(clean(str(v), 2000) for k, v in msg.raw_items() if k.lower() == name)[:20]


def _report_ids(msg: Message, raw: bytes) -> tuple[str, ...]:
    """Message-IDs quoted inside a delivery report: which of our mails bounced."""
    if msg.get_content_type() != "multipart/report":
        return ()
    text = raw[:200_000].decode("ascii", errors="replace")
    return tuple(dict.fromkeys(_MSGID.findall(text)))


def _delivery(msg: Message, defects: list[str]) -> DeliveryReport | None:
    try:
        return read_report(msg)
    except Exception as exc:  # a broken report is still a mail; say so and go on
        defects.append(f"delivery report: {exc!r}"[:200])
        return None


def _synthetic_id(raw: bytes) -> str:
    """A stable stand-in for a missing Message-ID, so dedupe still works."""
    return f"<{hashlib.sha256(raw[:65536]).hexdigest()[:32]}@missing-id.askfirst.invalid>"


def _body_text(msg: Message, defects: list[str]) -> tuple[str, str, str]:
    """The first text/plain part that is not an attachment, else the first text/html one
    turned into text; "" when there is neither. Attached messages are not looked into.
    Third: the first text/html part itself (a network's profile links live only there)."""
    found: dict[str, Message] = {}
    try:
        _find_text(msg, found, depth=0)
    except RecursionError:
        defects.append("body: nested too deeply")
    part = found.get("text/plain") or found.get("text/html")
    if part is None:
        return "", clean(msg.get_content_type(), 200), ""  # a header value: no controls either
    content = _decoded(part, defects)
    if len(content) > MAX_TEXT:
        defects.append(f"body: longer than {MAX_TEXT} characters, read only that far")
    if part.get_content_type() == "text/html":
        return html_to_text(content[:MAX_HTML])[:MAX_TEXT], "text/html", content[:HTML_LIMIT]
    html = found.get("text/html")
    return (
        content[:MAX_TEXT],
        "text/plain",
        _decoded(html, [])[:HTML_LIMIT] if html is not None else "",
    )


def _find_text(part: Message, found: dict[str, Message], depth: int) -> None:
    if depth > 500 or len(found) == 2 or part.get_content_maintype() == "message":
        return
    if part.is_multipart():
        for sub in part.get_payload():
            if isinstance(sub, Message):
                _find_text(sub, found, depth + 1)
        return
    kind = part.get_content_type()
    attached = str(part.get("content-disposition", "")).strip().lower().startswith("attachment")
    if kind in ("text/plain", "text/html") and not attached:
        found.setdefault(kind, part)


def _decoded(part: Message, defects: list[str]) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception as exc:
        defects.append(f"payload: {exc!r}")
        return ""
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except (LookupError, ValueError):  # ValueError: a NUL in the charset's name
        defects.append(f"unknown charset {clean(charset, 40)!r}")
        return payload.decode("utf-8", errors="replace")
