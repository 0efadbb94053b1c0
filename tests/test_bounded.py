"""Bounded work per mail: pathological bodies are read in linear time, the text any pattern
sees is capped, and a mail over `limits.time_per_mail` is set aside and reported."""

from __future__ import annotations

import time
from datetime import timedelta
from email.message import EmailMessage

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from askfirst.budget import OverBudget, deadline
from askfirst.classify import classify
from askfirst.config import NetworkRule
from askfirst.message import MAX_TEXT, parse
from askfirst.networks import invitation_key
from askfirst.status import status_text
from askfirst.store import Store
from harness import OWNER, Harness, load
from mails import linkedin_2012

LIMIT = 2.0  # seconds per mail, generous for two shared cores


def mail(body: str, cte: str = "quoted-printable", **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Sam Sample <sam@example.net>"
    msg["To"] = OWNER
    msg["Subject"] = "Invitation to connect on LinkedIn"
    headers.setdefault("Message_ID", "<hostile@example.net>")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body, cte=cte)
    return msg.as_bytes()


def nested(depth: int) -> bytes:
    """multipart/mixed inside multipart/mixed, `depth` deep, a text part at the bottom."""
    head = b"From: sam@example.net\r\nTo: owner@example.test\r\nSubject: deep\r\n"
    parts = [head]
    for level in range(depth):
        parts.append(
            f"Content-Type: multipart/mixed; boundary=b{level}\r\n\r\n--b{level}\r\n".encode()
        )
    parts.append(b"Content-Type: text/plain\r\n\r\nhello\r\n")
    parts.extend(f"--b{level}--\r\n".encode() for level in reversed(range(depth)))
    return b"".join(parts)


def seconds_to_read(raw: bytes) -> float:
    started = time.perf_counter()
    classify(parse(raw))
    return time.perf_counter() - started


@pytest.mark.parametrize(
    "raw",
    [
        mail("linkedin.com/" * 20_000),  # the report: minutes before the patterns were fixed
        mail("https://www.linkedin.com/e/" * 20_000),
        mail("invitationId=" * 20_000 + "linkedin.com/"),
        mail("x" * 400_000, cte="base64"),  # one long token without spaces
        mail("<p>" + "<a href=x>" * 50_000, cte="base64"),
        mail("view profile " * 30_000),
        mail("bis " * 50_000 + "zurück", cte="base64"),
        mail("hi", X_Filler="a" * 500_000),  # a huge header
        mail("hi", References=" ".join(f"<r{n}@x>" for n in range(20_000))),
        nested(2_000),
    ],
    ids=[
        "url-prefix",
        "url-e-prefix",
        "id-prefix",
        "long-token",
        "html-tags",
        "profile-lines",
        "ooo-cues",
        "huge-header",
        "many-references",
        "deep-mime",
    ],
)
def test_a_pathological_mail_is_read_quickly(raw: bytes) -> None:
    assert seconds_to_read(raw) < LIMIT


def raw_mail(**headers: str) -> bytes:
    """A mail with these headers exactly as given (EmailMessage would refold them)."""
    fields = {"From": "sam@example.net", "To": OWNER, "Subject": "hi"} | headers
    head = "".join(f"{name.replace('_', '-')}: {value}\r\n" for name, value in fields.items())
    return (head + "Message-ID: <hostile@example.net>\r\n\r\nhi\r\n").encode()


@pytest.mark.parametrize("value", ["a " * 50_000, "a." * 50_000, '"' + "a " * 50_000])
def test_hostile_address_headers_are_read_quickly_and_give_no_address(value: str) -> None:
    """The email package's address parser takes 17 s on the first of these alone."""
    raw = raw_mail(
        From=value,
        Reply_To=value,
        To=value,
        Cc=value,
        Return_Path=value,
        Bcc=value,
        Resent_To=value,
    )
    raw += b"".join(f"Delivered-To: {value}\r\n".encode() for _ in range(30))
    assert seconds_to_read(raw) < LIMIT
    parsed = parse(raw)
    assert (parsed.from_addr, parsed.to, parsed.cc, parsed.reply_to) == ("", (), (), ())
    assert "from header longer than 2000 characters: not read" in parsed.defects


def test_a_long_but_ordinary_address_list_is_still_read() -> None:
    many = ", ".join(f"Person {n} <p{n}@example.org>" for n in range(40))
    assert len(many) < 2_000
    parsed = parse(raw_mail(Cc=many))
    assert len(parsed.cc) == 40 and parsed.cc[-1] == "p39@example.org"


def test_the_text_a_pattern_sees_is_capped() -> None:
    parsed = parse(mail("word " * 100_000))
    assert len(parsed.text) == MAX_TEXT
    assert any("longer than" in d for d in parsed.defects)


def test_the_invitation_id_is_still_found_after_a_rewrite_for_linear_time() -> None:
    assert invitation_key("see https://www.linkedin.com/comm/x?invitationId=42&a=b") == "42"
    assert invitation_key("https://www.linkedin.com/e/-x-/isd/77/k/") == "77"
    assert invitation_key("linkedin.com/" * 5_000 + "/blk/I9_1") == "9"
    assert invitation_key("https://evil.example/?invitationId=1") is None


FRAGMENTS = st.sampled_from(
    [
        "linkedin.com/",
        "https://",
        "invitationId=",
        "/isd/",
        "view ",
        "'s profile",
        "-",
        ".",
        "a",
        " ",
        "\n",
        "bis ",
        "until ",
        "12.",
        "Hi ",
        "--",
        ">",
    ]
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(st.tuples(FRAGMENTS, st.integers(1, 20_000)), min_size=1, max_size=4))
def test_any_repetition_of_pattern_fragments_is_read_quickly(
    pieces: list[tuple[str, int]],
) -> None:
    body = "".join(fragment * count for fragment, count in pieces)
    assert seconds_to_read(mail(body, cte="base64")) < LIMIT


def test_the_deadline_stops_even_a_catastrophic_pattern() -> None:
    import re

    started = time.perf_counter()
    with pytest.raises(OverBudget), deadline(0.3):
        re.search(r"(a+)+$", "a" * 40 + "b")
    assert time.perf_counter() - started < LIMIT


async def test_a_mail_over_budget_is_set_aside_and_the_owner_is_told(h: Harness) -> None:
    """A user's own pattern that backtracks: the budget stops it, the mail is set aside
    with its reason, tagged $askfirst-error, the owner is told, `status` shows it, and the
    next mail is handled as usual."""
    h.settings.limits.time_per_mail = timedelta(seconds=0.5)
    h.settings.classify.networks = [NetworkRule(id="slow", body=[r"(a+)+$"])]
    h.invite(mail("a" * 40 + "b", cte="7bit", Message_ID="<slow@example.net>"))
    h.invite(linkedin_2012("Alice Example", "alice@example.test"))
    started = time.perf_counter()
    report = await h.step()
    assert time.perf_counter() - started < 10
    assert report.errors == 1
    assert any("set aside" in o and "0.5 s" in o for o in report.outcomes)
    slow = h.inbox(OWNER)[0]
    assert "$askfirst-error" in slow.flags
    assert len(h.rig.messages("alice@example.test")) == 1  # the next mail went on as usual
    (notice,) = [m for m in h.inbox(OWNER) if m.subject.startswith("[askfirst]")]
    assert notice.subject.endswith(": set aside")
    body = load(notice.raw)
    assert body["In-Reply-To"] == "<slow@example.net>"
    assert "longer than the 0.5 s" in body.get_content()
    store = Store(h.settings.state.path, read_only=True)
    try:
        assert "set aside" in status_text(store, h.clock.now())
    finally:
        store.close()
    again = await h.step()  # never retried (it sees only the notice, in the same folder)
    assert again.errors == 0 and again.outcomes == ["ignored: a message askfirst sent"]


def test_the_deadline_gives_an_outer_timer_back_its_rest() -> None:
    import signal

    fired: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 5.0)
        with deadline(0.5):
            pass
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 4.0 < left <= 5.0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert not fired


@pytest.mark.parametrize(
    "body", ["until " * 4000, "bis 12. " * 3000, "ab am " * 4000, "1/1/" * 6000, "-" * 60_000]
)
def test_an_out_of_office_with_a_pathological_body_is_read_quickly(body: str) -> None:
    from datetime import UTC, datetime

    from askfirst.ooo import return_date

    started = time.perf_counter()
    return_date("Out of office", body, datetime(2026, 12, 1, tzinfo=UTC))
    assert time.perf_counter() - started < LIMIT
