"""dsn.read_report and answer_kind on real Postfix reports: only `Action: failed` fails."""

from __future__ import annotations

import pytest

from askfirst.answer import answer_kind
from askfirst.dsn import DeliveryReport, RecipientStatus
from askfirst.message import parse
from mails import bounce, postfix_report

ASK = "<ask-1@example.test>"


def report(action: str) -> DeliveryReport:
    found = parse(postfix_report(action, ASK)).delivery
    assert found is not None
    return found


def test_postfix_failed_report_is_read_per_recipient() -> None:
    assert report("failed").recipients == (
        RecipientStatus(
            recipient="alice@gone.example.test",
            action="failed",
            status="5.1.1",
            diagnostic="550 5.1.1 User doesn't exist",
            remote_mta="127.0.0.1",
        ),
    )
    assert report("failed").reporting_mta == "mx.example.test"


def test_postfix_delay_warning_is_delayed_with_its_diagnostic() -> None:
    (delayed,) = report("delayed").recipients
    assert (delayed.action, delayed.status) == ("delayed", "4.4.1")
    assert delayed.diagnostic == "connect to 127.0.0.1[127.0.0.1]:9: Connection refused"
    assert report("delayed").failed == ()


def test_postfix_relayed_report_is_relayed() -> None:
    assert [r.action for r in report("relayed").recipients] == ["relayed"]


def test_a_failed_report_is_a_bounce_that_quotes_the_diagnostic() -> None:
    kind, why = answer_kind(parse(postfix_report("failed", ASK)))
    assert kind == "bounce"
    assert "550 5.1.1 User doesn't exist" in why
    assert "alice@gone.example.test" in why


@pytest.mark.parametrize("action", ["delayed", "relayed"])
def test_delayed_and_relayed_reports_are_not_bounces(action: str) -> None:
    kind, why = answer_kind(parse(postfix_report(action, ASK)))
    assert kind == "report"
    assert f"{action} for" in why and "not a failure" in why


def test_the_reported_message_is_found_for_the_thread() -> None:
    for action in ("failed", "delayed", "relayed"):
        assert ASK in parse(postfix_report(action, ASK)).thread_ids


def test_a_report_with_several_recipients_fails_when_one_failed() -> None:
    raw = postfix_report("failed", ASK).replace(
        b"Final-Recipient: rfc822; alice@gone.example.test",
        b"Final-Recipient: rfc822; bob@example.net\r\nAction: delivered\r\nStatus: 2.0.0\r\n"
        b"\r\nFinal-Recipient: rfc822; alice@gone.example.test",
    )
    found = parse(raw).delivery
    assert found is not None
    assert [r.action for r in found.recipients] == ["delivered", "failed"]
    assert [r.recipient for r in found.failed] == ["alice@gone.example.test"]
    assert found.summary().index("failed for") < found.summary().index("delivered for")


def test_a_base64_status_part_is_split_here() -> None:
    import base64

    fields = (
        "Reporting-MTA: dns; mx.example.net\r\n\r\nFinal-Recipient: rfc822; sam@example.net\r\n"
        "Action: Delayed\r\nStatus: 4.2.2\r\n"
    )
    raw = (
        "From: MAILER-DAEMON@example.net\r\nMessage-ID: <r@example.net>\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nlate\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        f"{base64.b64encode(fields.encode()).decode()}\r\n--B--\r\n"
    ).encode()
    found = parse(raw).delivery
    assert found is not None
    assert found.reporting_mta == "mx.example.net"
    assert [(r.recipient, r.action) for r in found.recipients] == [("sam@example.net", "delayed")]


def test_a_report_without_a_status_part_is_not_read_and_stays_a_bounce() -> None:
    raw = (
        b"From: MAILER-DAEMON@example.net\r\nMessage-ID: <r@example.net>\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nundeliverable\r\n--B--\r\n"
    )
    mail = parse(raw)
    assert mail.delivery is None
    assert answer_kind(mail)[0] == "bounce"  # no report to read: the old, careful guess


def test_the_test_builders_bounce_is_a_failed_report() -> None:
    found = parse(bounce(ASK)).delivery
    assert found is not None
    assert [r.action for r in found.failed] == ["failed"]
