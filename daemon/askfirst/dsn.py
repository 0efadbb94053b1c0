"""Read delivery status notifications (RFC 3464) recipient by recipient. Pure.

A `multipart/report; report-type=delivery-status` mail carries one `message/delivery-status`
part: a block of per-message fields, then one block per recipient with its `Action`
(RFC 3464 §2.3.3): `failed` means the mail will never arrive; `delayed` (Postfix's
"Delayed Mail (still being retried)"), `delivered`, `relayed` and `expanded` do not. Only a
report that says `failed` for some recipient fails the invitation; the rest are news, not
bounces. The stdlib email package splits the status part into its blocks (compat32 and
the modern policies alike); a report whose blocks arrive encoded is split here.
"""

from __future__ import annotations

import base64
import quopri
import re
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser

STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")  # RFC 6533
FAILED = "failed"
ACTIONS = ("failed", "delayed", "delivered", "relayed", "expanded")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class RecipientStatus:
    """One recipient's block: what happened to the mail for that address."""

    recipient: str  # Final-Recipient (else Original-Recipient), the address only
    action: str  # failed, delayed, delivered, relayed or expanded (lower case)
    status: str = ""  # the enhanced status code, e.g. 5.1.1 (RFC 3463)
    diagnostic: str = ""  # the remote server's words, e.g. "550 5.1.1 User doesn't exist"
    remote_mta: str = ""

    def describe(self) -> str:
        """One line for a notice, a log and `explain`."""
        detail = self.diagnostic or (f"status {self.status}" if self.status else "")
        return f"{self.action} for {self.recipient or 'an unnamed recipient'}" + (
            f": {detail}" if detail else ""
        )


@dataclass(frozen=True)
class DeliveryReport:
    reporting_mta: str
    recipients: tuple[RecipientStatus, ...]

    @property
    def failed(self) -> tuple[RecipientStatus, ...]:
        return tuple(r for r in self.recipients if r.action == FAILED)

    def summary(self) -> str:
        """What the report says, every recipient, failures first."""
        ordered = (*self.failed, *(r for r in self.recipients if r.action != FAILED))
        said = "; ".join(r.describe() for r in ordered) or "no recipient named"
        return f"delivery report from {self.reporting_mta or 'an unnamed server'}: {said}"


def read_report(msg: Message) -> DeliveryReport | None:
    """The delivery status a report mail carries, or None when it carries none."""
    if msg.get_content_type() != "multipart/report":
        return None
    part = next((p for p in msg.walk() if p.get_content_type() in STATUS_TYPES), None)
    if part is None:
        return None
    blocks = _blocks(part)
    if not blocks:
        return None
    # lenient: a report that leaves out the per-message block still names its recipients
    recipients = tuple(_recipient(b) for b in blocks if _field(b, "action"))
    reporter = next((_field(b, "reporting-mta") for b in blocks if _field(b, "reporting-mta")), "")
    return DeliveryReport(_address(reporter), recipients)


def _blocks(part: Message) -> list[Message]:
    """The status part's field blocks, as the parser split them or as split here."""
    payload = part.get_payload()
    encoded = str(part.get("content-transfer-encoding", "")).strip().lower()
    if isinstance(payload, list) and encoded not in ("base64", "quoted-printable"):
        return [b for b in payload if isinstance(b, Message)]
    if isinstance(payload, list):  # the parser split encoded text: its lines are the bodies
        payload = "\n".join(str(b.get_payload()) for b in payload if isinstance(b, Message))
    text = _decode(str(payload), encoded)
    chunks = re.split(r"\r?\n[ \t]*\r?\n", text.strip())
    return [HeaderParser().parsestr(c.strip() + "\n") for c in chunks if c.strip()]


def _decode(text: str, encoded: str) -> str:
    if encoded == "base64":
        return base64.b64decode("".join(text.split()), validate=False).decode("utf-8", "replace")
    if encoded == "quoted-printable":
        return quopri.decodestring(text.encode("ascii", "replace")).decode("utf-8", "replace")
    return text


def _recipient(block: Message) -> RecipientStatus:
    recipient = _address(_field(block, "final-recipient") or _field(block, "original-recipient"))
    action = _field(block, "action").lower().split(" ")[0]
    return RecipientStatus(
        recipient=recipient.lower(),
        action=action if action in ACTIONS else action or "unknown",
        status=_field(block, "status").split(" ")[0],
        diagnostic=_address(_field(block, "diagnostic-code"))[:500],
        remote_mta=_address(_field(block, "remote-mta")),
    )


def _field(block: Message, name: str) -> str:
    value = block.get(name)
    return " ".join(_CONTROL.sub(" ", str(value)).split()) if value is not None else ""


def _address(value: str) -> str:
    """`rfc822; alice@example.org` -> `alice@example.org` (the type is RFC 3464's label)."""
    kind, sep, rest = value.partition(";")
    return rest.strip() if sep and " " not in kind.strip() else value.strip()
