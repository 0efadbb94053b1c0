"""The RFC 3834 / RFC 5230 gates one by one, on parsed mail (tests/test_conformance.py runs
the Pigeonhole-derived table)."""

from __future__ import annotations

import pytest

from askfirst.addresses import organisational_domain, role_address, system_sender
from askfirst.classify import classify
from askfirst.config import Classify
from askfirst.message import LIST_HEADERS, parse
from askfirst.rules import Context, Decision, decide

OWNER = frozenset({"pat@example.org"})
BODY = "Hi Pat,\n\nI'd like to add you to my professional network on LinkedIn.\n\nSam\n"


def judge(*headers: str, sender: str = "sam@example.net", to: str = "pat@example.org") -> Decision:
    head = "\r\n".join((f"From: Sam <{sender}>", f"To: {to}", "Subject: Hello", *headers))
    mail = parse(f"{head}\r\n\r\n{BODY}".encode())
    return decide(mail, classify(mail, None, OWNER), Context(owner_addresses=OWNER))


def test_a_plain_direct_invitation_passes_every_gate() -> None:
    assert judge("Return-Path: <sam@example.net>").action == "ask"


@pytest.mark.parametrize("name", LIST_HEADERS)
def test_every_list_header_gates(name: str) -> None:
    decision = judge(f"{name}: <mailto:hikers@lists.example.net>")
    assert (decision.action, decision.rule) == ("ignore", "list-or-bulk")
    assert "RFC 2369" in decision.reasons[-1]


@pytest.mark.parametrize(
    ("name", "first", "second"),
    [
        ("Precedence", "normal", "bulk"),
        ("Precedence", "list", "normal"),
        ("Auto-Submitted", "no", "auto-generated"),
        ("X-Auto-Response-Suppress", "None", "OOF"),
    ],
)
def test_any_copy_of_a_repeated_header_gates(name: str, first: str, second: str) -> None:
    decision = judge(f"{name}: {first}", f"{name}: {second}")
    assert decision.action == "ignore", decision.reasons


@pytest.mark.parametrize(
    "envelope",
    [
        "MAILER-DAEMON@mx.example.net",
        "hikers-bounces+pat=example.org@lists.example.net",
        "owner-hikers@lists.example.net",
        "hikers-request@lists.example.net",
        "no-reply@example.net",
        "listserv@example.net",
    ],
)
def test_the_envelope_sender_is_checked_as_well_as_from(envelope: str) -> None:
    decision = judge(f"Return-Path: <{envelope}>")
    assert (decision.action, decision.rule) == ("ignore", "system-sender")
    assert f"Return-Path {envelope.lower()}" in decision.reasons[-1]


def test_the_owner_as_envelope_sender_is_never_answered() -> None:
    decision = judge("Return-Path: <Pat@Example.org>")
    assert (decision.action, decision.rule) == ("ignore", "own-address")


def test_the_null_envelope_sender_gates() -> None:
    assert judge("Return-Path: <>").rule == "null-sender"


@pytest.mark.parametrize(
    "header",
    [
        "Cc: pat@example.org",
        "Bcc: pat@example.org",
        "Resent-To: pat@example.org",
        "Resent-Cc: Pat <pat@example.org>",
    ],
)
def test_resent_and_bcc_recipients_address_the_owner(header: str) -> None:
    assert judge(header, to="team@example.org").action == "ask"


def test_the_envelope_recipient_counts_as_the_owners_address() -> None:
    """Mail to an alias the config does not list, delivered to the owner."""
    alias = "pat@old.example.org"
    decision = judge(f"X-Original-To: {alias}", "Delivered-To: pat@example.org", to=alias)
    assert decision.action == "ask", decision.reasons


def test_the_envelope_recipient_alone_is_no_proof() -> None:
    """Every delivered mail carries Delivered-To: a Bcc among others is still not for us."""
    decision = judge("Delivered-To: pat@example.org", to="team@example.org")
    assert (decision.action, decision.rule) == ("ignore", "not-addressed")


def test_a_networks_own_invitation_mail_is_exempt_and_explain_says_so() -> None:
    raw = (
        "From: Sam via LinkedIn <invitations@linkedin.com>\r\nTo: pat@example.org\r\n"
        "Return-Path: <s-bounces+abc@bounce.linkedin.com>\r\nList-Unsubscribe: <https://x>\r\n"
        "X-LinkedIn-Class: INVITE-GUEST\r\nX-LinkedIn-Template: invite_guest_59\r\n"
        "Reply-To: Sam <sam@example.net>\r\nSubject: Sam wants to connect\r\n"
        "Authentication-Results: mx.example.org; dkim=pass header.d=linkedin.com;"
        " dmarc=pass header.from=linkedin.com\r\n\r\n" + BODY
    )
    mail = parse(raw.encode())
    verdict = classify(mail, Classify(authserv_id="mx.example.org"), OWNER)
    decision = decide(mail, verdict, Context(owner_addresses=OWNER))
    exempt = [r.split(":")[0] for r in decision.reasons if "miss, exception:" in r]
    assert {"list-or-bulk", "system-sender"} <= set(exempt)


@pytest.mark.parametrize(
    ("address", "system", "role"),
    [
        ("noreply@example.net", True, False),
        ("do_not_reply@example.net", True, False),
        ("news-noreply@example.net", True, False),
        ("feature-requests@example.net", True, False),
        ("info@example.net", False, True),
        ("support+eu@example.net", False, True),
        ("sam@example.net", False, False),
        ("bouncer.sam@example.net", False, False),
    ],
)
def test_address_tables(address: str, system: bool, role: bool) -> None:
    assert (system_sender(address), role_address(address)) == (system, role)


@pytest.mark.parametrize(
    ("domain", "organisation"),
    [
        ("mail.example.com", "example.com"),
        ("example.co.uk", "example.co.uk"),
        ("news.example.co.uk", "example.co.uk"),
        ("sam@lists.example.org", "example.org"),
    ],
)
def test_organisational_domain(domain: str, organisation: str) -> None:
    assert organisational_domain(domain) == organisation


def test_a_networks_bounce_address_on_a_personal_from_is_exempt() -> None:
    """2012-13 LinkedIn mail: From is the inviter, the envelope sender LinkedIn's bounces."""
    raw = (
        "From: Sam <sam@example.net>\r\nTo: pat@example.org\r\n"
        "Return-Path: <bounces+x1@bounce.linkedin.com>\r\n"
        "Subject: Invitation to connect on LinkedIn\r\n\r\nLinkedIn\r\n------------\r\n\r\n"
        "I'd like to add you to my professional network on LinkedIn.\r\n\r\n- Sam\r\n\r\n"
        "Confirm that you know Sam:\r\nhttps://www.linkedin.com/e/-x/isd/123/y/\r\n"
    )
    mail = parse(raw.encode())
    verdict = classify(mail, None, OWNER)
    decision = decide(mail, verdict, Context(owner_addresses=OWNER))
    assert verdict.network == "linkedin"
    assert decision.action == "ask", decision.reasons
    assert any(r.startswith("system-sender: miss, exception:") for r in decision.reasons)
