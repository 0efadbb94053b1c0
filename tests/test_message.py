"""message.parse: hostile bytes in, plain one-line fields out, never an exception."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from askfirst import headerfields
from askfirst.headerfields import clean
from askfirst.htmltext import html_to_text
from askfirst.message import Mail, parse

SYNTHETIC_ID = re.compile(r"<[0-9a-f]{32}@missing-id\.askfirst\.invalid>")


def raw_mail(*headers: str, body: str = "hello\r\n") -> bytes:
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode("utf-8")


def single_line_fields(mail: Mail) -> list[str]:
    return [
        mail.message_id,
        mail.from_addr,
        mail.from_name,
        mail.subject,
        mail.content_type,
        *mail.reply_to,
        *mail.to,
        *mail.in_reply_to,
        *mail.references,
        *mail.report_ids,
        *mail.headers.values(),
    ]


def assert_single_line(mail: Mail) -> None:
    for value in single_line_fields(mail):
        assert "\r" not in value and "\n" not in value, value
        assert not re.search(r"[\x00-\x1f\x7f]", value), value


# -- never raises ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage \x80\x81",
        b"From:",
        b'From:"',
        b"From: <<<@@@>>>\r\nTo: ,,,;;;\r\n\r\n",
        b"Subject: =?utf-8?b?!!!not-base64?=\r\n\r\nx",
        b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n--",
        b"Content-Type: multipart/mixed\r\n\r\nno boundary parameter at all",
        b'Content-Type: text/plain; charset="\r\nContent-Transfer-Encoding: base64\r\n\r\n@@@',
        b"Message-ID: <>\r\nIn-Reply-To: <<<\r\nReferences: > < >\r\n\r\n",
        b"\r\n\r\n\r\n",
        b"X-Header-Without-Body\r\n",
    ],
)
def test_garbage_yields_a_mail_not_an_exception(raw: bytes) -> None:
    mail = parse(raw)
    assert isinstance(mail, Mail)
    assert mail.message_id.startswith("<") and mail.message_id.endswith(">")
    assert_single_line(mail)


_FRAGMENTS = st.sampled_from(
    [
        b"From: ",
        b"To: ",
        b"Reply-To: ",
        b"Subject: ",
        b"Message-ID: ",
        b"In-Reply-To: ",
        b"References: ",
        b"Content-Type: ",
        b"Content-Transfer-Encoding: ",
        b"multipart/mixed; boundary=b",
        b"multipart/report",
        b"text/html",
        b"; charset=",
        b"x-unknown",
        b"base64",
        b"quoted-printable",
        b"\r\n",
        b"\n",
        b"\r\n\r\n",
        b"--b",
        b"=?utf-8?q?",
        b"=?utf-8?b?",
        b"?=",
        b"=0D=0A",
        b"<",
        b">",
        b"@",
        b",",
        b":",
        b'"',
        b"\x00",
        b"\xff",
        b"<script>",
        b"<p>",
    ]
)
MAILISH = st.lists(st.one_of(_FRAGMENTS, st.binary(max_size=6)), max_size=50).map(b"".join)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=1500), MAILISH))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    mail = parse(raw)
    assert mail.message_id.startswith("<") and mail.message_id.endswith(">")
    assert_single_line(mail)
    assert parse(raw) == mail  # deterministic, including the synthetic id


def test_truncated_multipart_keeps_the_text_and_records_a_defect() -> None:
    raw = raw_mail(
        "From: sam@example.net",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="XX"',
        body="--XX\r\nContent-Type: text/plain\r\n\r\nhalf a mail",
    )
    mail = parse(raw)
    assert mail.text.strip() == "half a mail"
    assert mail.defects


def test_truncated_base64_body_does_not_raise() -> None:
    raw = raw_mail(
        "From: sam@example.net",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: base64",
        body="SGVsbG8gd29y",  # "Hello wor" cut mid-quantum
    )
    assert parse(raw).text.startswith("Hello wo")


def test_unknown_charset_degrades_and_is_recorded() -> None:
    raw = (
        b"From: sam@example.net\r\nContent-Type: text/plain; charset=x-nonsense-42\r\n\r\n"
        b"caf\xe9 ok"
    )
    mail = parse(raw)
    assert mail.text == "caf\ufffd ok"
    assert any("unknown charset" in d for d in mail.defects)


def test_a_known_charset_is_decoded() -> None:
    raw = b"From: a@b.example\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\ncaf\xe9"
    assert parse(raw).text == "café"


# -- headers: one line each, addresses not spoofable by encoded names ----------------------


def test_encoded_subject_with_crlf_stays_one_line() -> None:
    mail = parse(raw_mail("From: a@b.example", "Subject: =?utf-8?q?hi=0D=0AX-Injected:_yes?="))
    assert mail.subject == "hi X-Injected: yes"
    assert "x-injected" not in mail.headers


@pytest.mark.parametrize(
    ("from_header", "name"),
    [
        ("=?utf-8?q?Evil=0D=0ABcc:_x@y.example?= <a@b.example>", "Evil Bcc: x@y.example"),
        ("=?utf-8?q?Bob=0A_=3Cbob@evil.example=3E?= <a@b.example>", "Bob <bob@evil.example>"),
        ("=?utf-8?q?Bob=0A=2C_bob@evil.example?= <a@b.example>", "Bob , bob@evil.example"),
        ("=?utf-8?q?A=0D=0AB?= <a@b.example>", "A B"),
        ("=?utf-8?b?QQ0KQg==?= <a@b.example>", "A B"),
    ],
)
def test_encoded_name_with_crlf_cannot_change_the_address(from_header: str, name: str) -> None:
    mail = parse(raw_mail(f"From: {from_header}", f"Reply-To: {from_header}"))
    assert mail.from_addr == "a@b.example"
    assert mail.from_name == name
    assert mail.reply_to == ("a@b.example",)
    assert_single_line(mail)


def test_encoded_names_are_decoded() -> None:
    mail = parse(raw_mail("From: =?utf-8?q?Jos=C3=A9_P=C3=A9rez?= <Jose@Example.NET>"))
    assert (mail.from_name, mail.from_addr) == ("José Pérez", "jose@example.net")


def test_a_quoted_name_with_a_comma_is_one_address() -> None:
    mail = parse(raw_mail('From: "Smith, John" <john@example.net>'))
    assert (mail.from_name, mail.from_addr) == ("Smith, John", "john@example.net")


def test_an_apostrophe_in_the_local_part_is_an_address() -> None:
    mail = parse(raw_mail("From: Sean O'Brien <o'brien@example.ie>"))
    assert mail.from_addr == "o'brien@example.ie"


# The plain single address skips the full parser (headerfields.simple_address); whatever it
# reads must come out exactly as the full parser's, and anything unusual must fall back.
_NEAR_ADDRESSES = st.text(alphabet=" \"<>@.,;:()\\?=!#[]'aZ09-_\t", max_size=40)


@settings(max_examples=500)
@given(st.from_regex(headerfields._SIMPLE, fullmatch=True))
def test_a_plain_address_reads_as_the_full_parser_reads_it(value: str) -> None:
    assert headerfields.simple_address(value) == headerfields.parsed_address_list(value)


@settings(max_examples=1000)
@given(_NEAR_ADDRESSES)
def test_the_plain_address_shortcut_answers_only_what_it_reads_alike(value: str) -> None:
    simple = headerfields.simple_address(value)
    assert simple is None or simple == headerfields.parsed_address_list(value)


@pytest.mark.parametrize(
    "value",
    [
        "a@b.example, c@d.example",  # a list
        "=?utf-8?q?Bob?= <a@b.example>",  # an encoded word
        '"a\\"b" <a@b.example>',  # an escape
        "Pat (work) <a@b.example>",  # a comment
        "Pat Q. <a@b.example>",  # an obsolete phrase
        "a@[192.0.2.1]",  # a domain literal
        "Jos\u00e9 <a@b.example>",  # not ASCII
        "Pat\r\n <a@b.example>",  # folded
    ],
)
def test_anything_unusual_goes_to_the_full_parser(value: str) -> None:
    assert headerfields.simple_address(value) is None


@pytest.mark.parametrize("value", ["not-an-address", "a@b@c.example", "<>", "a b@c.example"])
def test_an_invalid_from_gives_no_address(value: str) -> None:
    assert parse(raw_mail(f"From: {value}")).from_addr == ""


def test_address_lists_are_lower_cased_and_complete() -> None:
    mail = parse(
        raw_mail(
            "From: Sam <SAM@Example.NET>",
            "To: Pat <pat@example.org>, Other@Example.org",
            "Reply-To: sam.private@example.net",
        )
    )
    assert mail.to == ("pat@example.org", "other@example.org")
    assert mail.reply_to == ("sam.private@example.net",)


def test_kept_headers_are_available_case_insensitively() -> None:
    mail = parse(
        raw_mail(
            "From: a@b.example",
            "Auto-Submitted: auto-replied",
            "List-Id: <list.example.org>",
            "X-Unkept: secret",
        )
    )
    assert mail.header("Auto-Submitted") == "auto-replied"
    assert mail.header("list-id") == "<list.example.org>"
    assert mail.header("x-unkept") == ""


def test_threading_ids_nearest_first() -> None:
    mail = parse(
        raw_mail(
            "From: a@b.example",
            "Message-ID: junk <self@b.example> more",
            "In-Reply-To: <parent@x.example>",
            "References: <root@x.example>\r\n <mid@x.example> <parent@x.example>",
        )
    )
    assert mail.message_id == "<self@b.example>"
    assert mail.in_reply_to == ("<parent@x.example>",)
    assert mail.references == ("<root@x.example>", "<mid@x.example>", "<parent@x.example>")
    assert mail.thread_ids[:3] == ("<parent@x.example>", "<parent@x.example>", "<mid@x.example>")


def test_missing_message_id_gets_a_stable_synthetic_one() -> None:
    raw = raw_mail("From: a@b.example", "Subject: no id")
    first, again = parse(raw), parse(raw)
    assert SYNTHETIC_ID.fullmatch(first.message_id)
    assert first.message_id == again.message_id
    assert parse(raw + b"!").message_id != first.message_id


# -- bodies --------------------------------------------------------------------------------


HTML = (
    "<html><head><title>Page title</title><style>p { color: red }</style></head>"
    "<body><script>alert('x')</script><p>Hello &amp; welcome</p><div>second line</div>"
    "<table><tr><td>cell</td></tr></table></body></html>"
)


def test_html_only_mail_is_turned_into_text() -> None:
    mail = parse(raw_mail("From: a@b.example", "Content-Type: text/html; charset=utf-8", body=HTML))
    assert mail.content_type == "text/html"
    lines = [line for line in mail.text.splitlines() if line]
    assert lines == ["Hello & welcome", "second line", "cell"]
    for hidden in ("alert", "color", "Page title", "<"):
        assert hidden not in mail.text


def test_plain_part_is_preferred_over_html() -> None:
    body = (
        "--A\r\nContent-Type: text/html\r\n\r\n<p>html version</p>\r\n"
        "--A\r\nContent-Type: text/plain\r\n\r\nplain version\r\n--A--\r\n"
    )
    mail = parse(
        raw_mail(
            "From: a@b.example",
            "MIME-Version: 1.0",
            'Content-Type: multipart/alternative; boundary="A"',
            body=body,
        )
    )
    assert (mail.text.strip(), mail.content_type) == ("plain version", "text/plain")


def test_html_to_text_survives_broken_markup() -> None:
    text = html_to_text("<p>open <b>never closed <script>x = '<p>'; <div>after")
    assert "open" in text
    assert "x =" not in text


def nested(depth: int) -> bytes:
    opening = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(depth)
    )
    closing = b"".join(b"\r\n--b%d--" % i for i in reversed(range(depth)))
    return (
        b"From: a@b.example\r\nMessage-ID: <deep@b.example>\r\nMIME-Version: 1.0\r\n"
        + opening
        + b"Content-Type: text/plain\r\n\r\ndeep text"
        + closing
        + b"\r\n"
    )


def test_deep_multipart_nesting_is_parsed() -> None:
    mail = parse(nested(200))
    assert mail.text.strip() == "deep text"
    assert mail.message_id == "<deep@b.example>"


def test_absurd_nesting_does_not_raise() -> None:
    mail = parse(nested(1200))
    assert mail.message_id.startswith("<")
    # either the parser coped, or it says why it could not; both beat an exception
    assert mail.text.strip() == "deep text" or mail.defects


# -- bounces -------------------------------------------------------------------------------

BOUNCE = (
    b"From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
    b"To: pat@example.org\r\n"
    b"Subject: Undelivered Mail Returned to Sender\r\n"
    b"Message-ID: <dsn-1@mx.example.org>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="BB"\r\n'
    b"\r\n"
    b"--BB\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
    b"--BB\r\nContent-Type: message/delivery-status\r\n\r\n"
    b"Reporting-MTA: dns; mx.example.org\r\n\r\n"
    b"Final-Recipient: rfc822; sam@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n"
    b"--BB\r\nContent-Type: text/rfc822-headers\r\n\r\n"
    b"From: Pat Owner <pat@example.org>\r\n"
    b"Message-ID: <ask-123@example.org>\r\n"
    b"--BB--\r\n"
)


def test_a_delivery_report_names_the_bounced_message() -> None:
    mail = parse(BOUNCE)
    assert "<ask-123@example.org>" in mail.report_ids
    assert "<ask-123@example.org>" in mail.thread_ids
    assert mail.header("content-type").startswith("multipart/report")
    assert mail.text.strip() == "The mail could not be delivered."


def test_an_ordinary_mail_has_no_report_ids() -> None:
    mail = parse(raw_mail("From: a@b.example", body="see <ask-123@example.org>\r\n"))
    assert mail.report_ids == ()


# -- clean ---------------------------------------------------------------------------------


def test_clean_makes_one_safe_line() -> None:
    assert clean("a\r\nb\tc\x00d\x7f  e ") == "a b c d e"
    assert clean("x" * 50, limit=10) == "x" * 10
