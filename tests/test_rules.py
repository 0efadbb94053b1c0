"""rules.decide: the first rule that hits decides, and every rule looked at is recorded."""

from __future__ import annotations

from dataclasses import replace

import pytest

from askfirst.classify import Verdict, classify
from askfirst.message import Mail, parse
from askfirst.rules import RULES, Context, Decision, decide

OWNER = frozenset({"pat@example.org", "pat.alias@example.org"})
CTX = Context(owner_addresses=OWNER)

BOILERPLATE_LINKEDIN = Verdict(
    is_invitation=True,
    network="linkedin",
    boilerplate=True,
    inviter_name="Sam Sample",
    reply_address="sam@example.net",
    language="en",
)
BOILERPLATE_DIRECT = replace(BOILERPLATE_LINKEDIN, network="email")


def mail(from_addr: str = "sam@example.net", **headers: str) -> Mail:
    return Mail(
        message_id="<inv@example.net>",
        from_addr=from_addr,
        to=tuple(OWNER),
        headers={name.lower().replace("_", "-"): value for name, value in headers.items()},
    )


def rule_names(decision: Decision) -> list[str]:
    return [reason.split(":", 1)[0] for reason in decision.reasons]


def assert_only_last_hit(decision: Decision) -> None:
    *misses, hit = decision.reasons
    assert all(": miss" in reason and ": hit" not in reason for reason in misses), misses
    assert hit.startswith(f"{decision.rule}: hit, ")
    assert hit.split(" -> ")[1].startswith(decision.action)


def test_boilerplate_from_a_reachable_inviter_is_asked() -> None:
    decision = decide(mail(), BOILERPLATE_LINKEDIN, CTX)
    assert (decision.action, decision.rule) == ("ask", "boilerplate")


def test_reasons_record_every_miss_in_table_order_then_the_hit() -> None:
    decision = decide(mail(), BOILERPLATE_LINKEDIN, CTX)
    assert rule_names(decision) == [rule.name for rule in RULES]
    assert_only_last_hit(decision)
    assert decision.reasons[-1] == (
        "boilerplate: hit, boilerplate invitation from a reachable inviter -> ask"
    )


@pytest.mark.parametrize("owner", ["pat@example.org", "pat.alias@example.org"])
def test_the_owners_own_address_is_ignored(owner: str) -> None:
    decision = decide(mail(from_addr=owner), BOILERPLATE_LINKEDIN, CTX)
    assert (decision.action, decision.rule) == ("ignore", "own-address")
    assert decision.reasons == (
        f"own-address: hit, From {owner} is the owner's own address -> ignore"
        " [Pigeonhole vacation: never answer oneself]",
    )


def test_a_mail_that_is_not_an_invitation_is_ignored() -> None:
    decision = decide(mail(), Verdict(is_invitation=False), CTX)
    assert (decision.action, decision.rule) == ("ignore", "not-invitation")
    assert rule_names(decision) == ["own-address", "not-invitation"]


@pytest.mark.parametrize("value", ["auto-replied", "auto-generated", "Auto-Generated; x=1"])
def test_an_auto_submitted_direct_mail_is_ignored(value: str) -> None:
    decision = decide(mail(Auto_Submitted=value), BOILERPLATE_DIRECT, CTX)
    assert (decision.action, decision.rule) == ("ignore", "auto-submitted")
    assert "[RFC 3834 §2, RFC 5230 §4.6]" in decision.reasons[-1]
    assert_only_last_hit(decision)


def test_auto_submitted_no_is_a_person() -> None:
    decision = decide(mail(Auto_Submitted="no"), BOILERPLATE_DIRECT, CTX)
    assert decision.action == "ask"


@pytest.mark.parametrize(
    "headers",
    [
        {"List_Id": "<friends.lists.example.org>"},
        {"List_Unsubscribe": "<mailto:leave@example.org>"},
        {"Precedence": "bulk"},
        {"Precedence": "LIST"},
        {"Precedence": "junk"},
    ],
)
def test_list_or_bulk_direct_mail_is_ignored(headers: dict[str, str]) -> None:
    decision = decide(mail(**headers), BOILERPLATE_DIRECT, CTX)
    assert (decision.action, decision.rule) == ("ignore", "list-or-bulk")
    assert_only_last_hit(decision)


def test_a_network_invitation_may_carry_bulk_headers() -> None:
    noisy = mail(
        "invitations@linkedin.com",
        Auto_Submitted="auto-generated",
        List_Unsubscribe="<https://www.linkedin.com/e/v2?e=u>",
        Precedence="bulk",
    )
    decision = decide(noisy, BOILERPLATE_LINKEDIN, CTX)
    assert decision.action == "ask"
    exceptions = [r for r in decision.reasons if "miss, exception:" in r]
    assert [r.split(":")[0] for r in exceptions] == ["auto-submitted", "list-or-bulk"]
    assert all("linkedin's own invitation mail" in r and "[RFC 3834" in r for r in exceptions)


@pytest.mark.parametrize("sender", ["noreply@example.net", "mailer-daemon@example.net", ""])
def test_a_direct_mail_from_a_system_sender_is_ignored(sender: str) -> None:
    decision = decide(mail(from_addr=sender), BOILERPLATE_DIRECT, CTX)
    assert (decision.action, decision.rule) == ("ignore", "system-sender")


def test_a_personal_note_is_handed_over() -> None:
    verdict = replace(BOILERPLATE_LINKEDIN, boilerplate=False, personal_note="We met at PyCon.")
    decision = decide(mail(), verdict, CTX)
    assert (decision.action, decision.rule) == ("hand_over", "personal-note")
    assert decision.reasons[-1] == (
        "personal-note: hit, the invitation carries a personal note -> hand_over"
    )


def test_an_unreachable_inviter_is_handed_over() -> None:
    decision = decide(mail(), replace(BOILERPLATE_LINKEDIN, reply_address=None), CTX)
    assert (decision.action, decision.rule) == ("hand_over", "unreachable")
    assert "no address where a reply reaches the inviter" in decision.reasons[-1]
    assert_only_last_hit(decision)


def test_an_inviter_asked_recently_is_not_asked_again() -> None:
    ctx = Context(owner_addresses=OWNER, recently_asked=True)
    decision = decide(mail(), BOILERPLATE_LINKEDIN, ctx)
    assert (decision.action, decision.rule) == ("ignore", "recently-asked")
    assert "lifecycle.ask_again_after" in decision.reasons[-1]


def test_a_personal_note_still_reaches_the_owner_when_recently_asked() -> None:
    ctx = Context(owner_addresses=OWNER, recently_asked=True)
    verdict = replace(BOILERPLATE_LINKEDIN, boilerplate=False)
    assert decide(mail(), verdict, ctx).action == "hand_over"


def test_the_owner_check_comes_before_everything() -> None:
    verdict = replace(BOILERPLATE_DIRECT, boilerplate=False)
    decision = decide(mail("pat@example.org", List_Id="<l.example.org>"), verdict, CTX)
    assert decision.rule == "own-address"


def test_decide_on_a_real_parsed_invitation() -> None:
    raw = (
        b"From: Brian Rajuk <brajuk@example.net>\r\nTo: pat@example.org\r\n"
        b"Subject: Invitation to connect on LinkedIn\r\nMessage-ID: <i@example.net>\r\n\r\n"
        b"LinkedIn\r\n------------\r\n\r\n"
        b"I'd like to add you to my professional network on LinkedIn.\r\n\r\n- Brian\r\n\r\n"
        b"Confirm that you know Brian Rajuk:\r\n"
        b"https://www.linkedin.com/e/-x-/isd/1/k/\r\n"
    )
    parsed = parse(raw)
    decision = decide(parsed, classify(parsed), CTX)
    assert (decision.action, decision.rule) == ("ask", "boilerplate")
