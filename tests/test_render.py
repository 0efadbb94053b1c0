"""render: sandboxed templates with a Subject line; compose keeps headers single-line."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jinja2.exceptions import SecurityError

from askfirst.lifecycle import Invitation
from askfirst.record import DecisionRecord
from askfirst.render import (
    SUBJECT_LIMIT,
    TEMPLATE_NAMES,
    Outgoing,
    Rendered,
    TemplateProblem,
    Templates,
    compose,
    first_name,
    new_message_id,
    person,
    sample_context,
    thread_subject,
    why_told,
)

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
WHEN = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def user_templates(tmp_path: Path, **files: str) -> Templates:
    for name, text in files.items():
        (tmp_path / f"{name}.txt.j2").write_text(text, encoding="utf-8")
    return Templates(tmp_path)


def header_block(raw: bytes) -> list[bytes]:
    head, sep, _ = raw.partition(b"\r\n\r\n")
    assert sep, "no blank line between header and body"
    return head.split(b"\r\n")


def header_names(raw: bytes) -> list[str]:
    return [
        line.split(b":", 1)[0].decode().lower()
        for line in header_block(raw)
        if not line[:1].isspace()
    ]


def assert_clean_header_block(raw: bytes) -> None:
    for line in header_block(raw):
        assert b"\r" not in line and b"\n" not in line, line
        assert line[:1].isspace() or re.match(rb"^[A-Za-z-]+: ", line), line


def load(out: Outgoing) -> EmailMessage:
    msg = message_from_bytes(out.raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def content(out: Outgoing) -> str:
    """The decoded body, with the wire's CRLF turned back into newlines."""
    return str(load(out).get_content()).replace("\r\n", "\n")


def send(rendered: Rendered, **overrides: Any) -> Outgoing:
    kwargs: dict[str, Any] = {
        "sender": ("Pat Owner", "pat@example.org"),
        "to": ("Sam Sample", "sam@example.net"),
        "date": WHEN,
        "message_id": "<ask-1@example.org>",
    }
    kwargs.update(overrides)
    return compose(rendered, **kwargs)


# -- templates -----------------------------------------------------------------------------


def test_the_shipped_templates_are_the_documented_ones() -> None:
    shipped = sorted(p.name for p in TEMPLATE_DIR.glob("*.txt.j2"))
    assert {name.split(".")[0] for name in shipped} == set(TEMPLATE_NAMES)
    assert {f"{name}.txt.j2" for name in TEMPLATE_NAMES} <= set(shipped)
    assert {"ask.de.txt.j2", "decline.de.txt.j2"} <= set(shipped)  # a language beside the default
    builtin = resources.files("askfirst") / "templates"
    for name in shipped:  # the package carries the very files users copy and edit
        assert builtin.joinpath(name).read_text("utf-8") == (TEMPLATE_DIR / name).read_text("utf-8")


def test_a_folder_with_only_some_templates_falls_back_to_the_builtin_ones(tmp_path: Path) -> None:
    (tmp_path / "ask.txt.j2").write_text("Subject: Mine\n\nMy own words.\n")
    templates = Templates(tmp_path)
    assert templates.render("ask", sample_context()).body == "My own words.\n"
    assert templates.render("decline", sample_context()).subject
    assert Templates(tmp_path / "missing").render("ask", sample_context()).subject


@pytest.mark.parametrize("path", sorted(TEMPLATE_DIR.glob("*.txt.j2")), ids=lambda p: p.name)
def test_every_template_renders_with_the_sample_context(path: Path) -> None:
    name = path.name.removesuffix(".txt.j2")
    rendered = Templates(TEMPLATE_DIR).render(name, sample_context())

    assert rendered.subject
    assert "\n" not in rendered.subject
    assert rendered.body.strip()
    assert not rendered.body.startswith("\n")
    for leftover in ("{{", "}}", "{%", "%}"):
        assert leftover not in rendered.subject + rendered.body


def test_check_finds_no_problem_in_the_shipped_templates() -> None:
    assert Templates(TEMPLATE_DIR).check() == []


def test_the_ask_speaks_to_the_inviter_and_is_signed_by_the_owner() -> None:
    rendered = Templates(TEMPLATE_DIR).render("ask", sample_context())
    assert rendered.subject == "Re: Invitation to connect on LinkedIn"
    assert rendered.body.startswith("Hi Sam,")
    assert rendered.body.rstrip().endswith("Pat Owner")
    assert "tell me about yourself" in rendered.body


def test_the_handover_names_the_state_and_the_reason() -> None:
    rendered = Templates(TEMPLATE_DIR).render("handover", sample_context())
    assert rendered.subject == "[askfirst] Sam Sample: answered"
    assert "I am handing this invitation to you because the inviter answered." in rendered.body
    assert "What you can do:" in rendered.body
    assert "->" not in rendered.body and "hit," not in rendered.body


def test_a_rule_trace_reaches_the_owner_as_a_sentence() -> None:
    inv = Invitation(
        source_message_id="<i@x>",
        network="linkedin",
        inviter_name="Sam",
        inviter_email="sam@example.net",
        subject="s",
        decision=DecisionRecord(rule="personal-note"),
    )
    trace = "personal-note: hit, a personal note (12 words) -> hand_over"
    assert why_told(inv, trace) == (
        "the invitation carries a personal note, which deserves your own answer"
    )
    assert why_told(inv, "the inviter answered") == "the inviter answered"


def test_a_user_template_overrides_the_builtin_and_the_rest_fall_back(tmp_path: Path) -> None:
    templates = user_templates(tmp_path, ask="Subject: Hello {{ inviter.first_name }}\n\nCustom.\n")
    assert templates.render("ask", sample_context()) == Rendered("Hello Sam", "Custom.\n")
    assert templates.render("decline", sample_context()).subject.startswith("Re: ")
    assert templates.check() == []


def test_an_undefined_variable_is_a_template_problem(tmp_path: Path) -> None:
    templates = user_templates(tmp_path, ask="Subject: hi\n\nDear {{ inviter.nickname }}\n")
    with pytest.raises(TemplateProblem, match=r"templates/ask\.txt\.j2: .*nickname"):
        templates.render("ask", sample_context())
    assert len(templates.check()) == 1


def test_an_undefined_top_level_variable_is_a_template_problem(tmp_path: Path) -> None:
    templates = user_templates(tmp_path, decline="Subject: {{ no_such_thing }}\n\nx\n")
    with pytest.raises(TemplateProblem, match="no_such_thing"):
        templates.render("decline", sample_context())


@pytest.mark.parametrize("text", ["Hello Sam\n\nbody\n", "\n\nbody only\n", ""])
def test_a_template_without_a_subject_line_is_a_problem(tmp_path: Path, text: str) -> None:
    templates = user_templates(tmp_path, ask=text)
    with pytest.raises(TemplateProblem, match=re.escape("first line must be 'Subject: ...'")):
        templates.render("ask", sample_context())


def test_a_syntax_error_is_a_template_problem(tmp_path: Path) -> None:
    templates = user_templates(tmp_path, ask="Subject: {% if x %}\n\nbody\n")
    with pytest.raises(TemplateProblem, match=r"templates/ask\.txt\.j2"):
        templates.render("ask", sample_context())


def test_a_missing_template_is_a_template_problem(tmp_path: Path) -> None:
    with pytest.raises(TemplateProblem):
        Templates(tmp_path).render("nonexistent", sample_context())


@pytest.mark.parametrize(
    "expression",
    [
        "''.__class__.__mro__",
        "owner.__class__.__subclasses__()",
        "sample.__globals__",
        "[].append(1)",
        "owner.update({'name': 'x'})",
    ],
)
def test_the_sandbox_refuses_unsafe_access(tmp_path: Path, expression: str) -> None:
    templates = user_templates(tmp_path, ask=f"Subject: x\n\n{{{{ {expression} }}}}\n")
    context = {**sample_context(), "sample": sample_context}
    with pytest.raises(TemplateProblem) as caught:
        templates.render("ask", context)
    assert isinstance(caught.value.__cause__, SecurityError)


def test_a_subject_from_hostile_context_is_one_line(tmp_path: Path) -> None:
    context = sample_context()
    context["invitation"] = {"subject": "hi\r\nBcc: victim@example.com", "note": ""}
    rendered = Templates(TEMPLATE_DIR).render("ask", context)
    assert rendered.subject.startswith("Re: hi")
    assert "\r" not in rendered.subject and "\n" not in rendered.subject

    out = send(rendered)
    assert_clean_header_block(out.raw)
    assert "bcc" not in header_names(out.raw)


def test_person_cleans_the_name_and_finds_the_first_name() -> None:
    assert person("  Sam \r\n Sample ", "sam@example.net") == {
        "name": "Sam Sample",
        "first_name": "Sam",
        "email": "sam@example.net",
    }
    assert first_name("") == ""
    assert first_name("   ") == ""


# -- compose -------------------------------------------------------------------------------


def test_compose_sets_threading_and_auto_reply_headers() -> None:
    out = send(
        Rendered("Re: Invitation", "Hi Sam,\n\nTell me about yourself.\n"),
        in_reply_to="<inv@example.net>",
        references=("<root@example.net>", "<inv@example.net>"),
    )
    msg = load(out)

    assert out.message_id == "<ask-1@example.org>"
    assert msg["Message-ID"] == "<ask-1@example.org>"
    assert msg["In-Reply-To"] == "<inv@example.net>"
    assert msg["References"] == "<root@example.net> <inv@example.net>"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["Subject"] == "Re: Invitation"
    assert msg["From"].addresses[0].addr_spec == "pat@example.org"
    assert msg["To"].addresses[0].addr_spec == "sam@example.net"
    assert msg["Date"].datetime == WHEN
    assert content(out) == "Hi Sam,\n\nTell me about yourself.\n"


def test_compose_appends_the_parent_to_references_once() -> None:
    out = send(Rendered("s", "b"), in_reply_to="<inv@x>", references=("<a@x>", "<b@x>"))
    assert load(out)["References"] == "<a@x> <b@x> <inv@x>"


def test_compose_without_a_parent_has_no_threading_headers() -> None:
    names = header_names(send(Rendered("s", "b"), references=("<a@x>",)).raw)
    assert "in-reply-to" not in names
    assert "references" not in names
    assert "auto-submitted" in names


def test_compose_can_mark_a_notice_auto_generated() -> None:
    out = send(Rendered("s", "b"), auto_submitted="auto-generated")
    assert load(out)["Auto-Submitted"] == "auto-generated"


@pytest.mark.parametrize(
    ("sender_name", "to_name"),
    [
        ("Pat\r\nBcc: evil@example.com", "Sam\nX-Evil: 1"),
        ("Pat\rOwner", 'Sam "Q" \r\n\r\nbody-injection'),
        ("Ünïcode Nàme " * 12, "\x00\x07Sam\x7f"),
    ],
)
def test_compose_keeps_cr_lf_out_of_the_headers(sender_name: str, to_name: str) -> None:
    out = send(
        Rendered("Re: hi", "body\n"),
        sender=(sender_name, "pat@example.org"),
        to=(to_name, "sam@example.net"),
    )

    assert_clean_header_block(out.raw)
    names = header_names(out.raw)
    assert "bcc" not in names and "x-evil" not in names
    assert names.count("from") == 1 and names.count("to") == 1
    msg = load(out)
    assert [a.addr_spec for a in msg["To"].addresses] == ["sam@example.net"]
    assert [a.addr_spec for a in msg["From"].addresses] == ["pat@example.org"]
    assert "\n" not in msg["To"].addresses[0].display_name
    assert content(out) == "body\n"


def test_composed_mail_is_seven_bit_with_short_crlf_lines() -> None:
    out = send(Rendered("Re: café " + "x" * 200, "Grüße\n" + "y" * 500 + "\n"))
    assert all(byte < 128 for byte in out.raw)
    lines = out.raw.split(b"\r\n")
    assert all(len(line) <= 998 for line in lines)
    assert b"\n" not in out.raw.replace(b"\r\n", b"")
    assert content(out) == "Grüße\n" + "y" * 500 + "\n"
    assert str(load(out)["Subject"]) == "Re: café " + "x" * 200


def test_new_message_ids_are_unique_and_well_formed() -> None:
    ids = {new_message_id("example.org") for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"<[0-9a-f]{32}@example\.org>", mid) for mid in ids)


@pytest.mark.parametrize(
    ("subject", "quoted"),
    [
        ("Invitation to connect on LinkedIn", "Invitation to connect on LinkedIn"),
        ("Re: AW: Connecting", "Connecting"),
        ("Hi\u202e moc.live\u200b\x07 now", "Hi moc.live now"),
        ("word " * 40, ("word " * 15).strip() + "…"),
    ],
)
def test_the_ask_quotes_no_more_of_the_subject_than_threading_needs(
    subject: str, quoted: str
) -> None:
    assert thread_subject(subject) == quoted
    assert len(thread_subject(subject)) <= SUBJECT_LIMIT
