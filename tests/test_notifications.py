"""Network notifications on the labelled public samples in tests/notifications/ (README there):
what they are, whether they count, who wrote, and which by-hand invitation they answer."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from askfirst.byhand import links, match, network_of, starts_by_hand
from askfirst.classify import classify
from askfirst.config import Classify, NetworkRule
from askfirst.events import NetworkMessage
from askfirst.lifecycle import Invitation, State, transition
from askfirst.message import Mail, parse
from askfirst.notifications import (
    NetworkNotification,
    Sender,
    invitation_slug,
    normalise_name,
    recognise,
)
from askfirst.record import DecisionRecord
from askfirst.rules import Context, decide

SAMPLES = Path(__file__).parent / "notifications"
TRUSTED = "mx.example.test"
OWNER = frozenset({"owner@example.test"})
OWN_SLUG = "pat-owner-mailsys"
XING = NetworkRule(id="xing", name="XING", domains=["xing.com"], subject=["möchte sich mit"])
POLICY = Classify(authserv_id=TRUSTED, networks=[XING])
NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


def _cases() -> dict[str, tuple[Mail, dict[str, Any]]]:
    return {
        p.stem: (parse(p.read_bytes()), json.loads(p.with_suffix(".json").read_text()))
        for p in sorted(SAMPLES.glob("*.eml"))
    }


CASES = _cases()
NOTIFYING = ("message_notification", "inmail", "forged_notification")


def by_kind(*kinds: str) -> list[str]:
    return [stem for stem, (_, label) in CASES.items() if label["kind"] in kinds]


def open_invitation(stem: str, number: int) -> Invitation:
    """An invitation sample as the daemon stores it, waiting by hand."""
    mail, _ = CASES[stem]
    verdict = classify(mail, POLICY, OWNER)
    assert verdict.is_invitation, verdict.reasons
    return Invitation(
        id=number,
        source_message_id=mail.message_id,
        network=verdict.network or "",
        inviter_name=verdict.inviter_name,
        inviter_email=mail.from_addr,
        state=State.BY_HAND,
        decision=DecisionRecord(profile_slug=invitation_slug(mail, verdict.network or "")),
        decline_due_at=NOW + WEEK,
    )


INVITATIONS = {stem: open_invitation(stem, n) for n, stem in enumerate(by_kind("invitation"), 1)}


def test_the_set_is_complete() -> None:
    assert len(CASES) == 21
    assert all(label["source"] for _, label in CASES.values())


@pytest.mark.parametrize("stem", list(CASES))
def test_what_claims_to_be_a_notification_is_recognised(stem: str) -> None:
    mail, label = CASES[stem]
    found = recognise(mail, TRUSTED)
    if label["kind"] not in NOTIFYING:
        assert found is None  # invitations and their reminders are not notifications
        return
    assert found is not None
    assert found.network == label["network"]
    assert found.kind == ("inmail" if label["kind"] == "inmail" else "message")
    assert found.authentic is label["authentic"], found.why


@pytest.mark.parametrize("stem", by_kind(*NOTIFYING))
def test_who_wrote_full_name_and_slug_never_the_owners_own(stem: str) -> None:
    mail, label = CASES[stem]
    found = recognise(mail, TRUSTED)
    assert found is not None
    names = {normalise_name(s.name) for s in found.senders}
    slugs = {s.slug for s in found.senders}
    assert normalise_name(label["inviter_name"]) in names
    if label["profile_slug"]:
        assert label["profile_slug"] in slugs
    assert OWN_SLUG not in slugs


@pytest.mark.parametrize("stem", by_kind("invitation", "invitation_reminder"))
def test_an_invitation_carries_its_inviters_slug(stem: str) -> None:
    mail, label = CASES[stem]
    assert invitation_slug(mail, label["network"]) == label["profile_slug"]


@pytest.mark.parametrize("stem", by_kind("message_notification", "inmail"))
def test_an_authentic_notification_answers_its_invitation_and_no_other(stem: str) -> None:
    mail, label = CASES[stem]
    found = recognise(mail, TRUSTED)
    assert found is not None and found.authentic
    result = match(found, list(INVITATIONS.values()))
    answered = {i.source_message_id for i in result.invitations}
    expected = {INVITATIONS[label["matches"]].source_message_id} if label["matches"] else set()
    assert answered == expected, result.why
    assert not result.ambiguous


@pytest.mark.parametrize("stem", by_kind("forged_notification"))
def test_a_forged_notification_does_not_count(stem: str) -> None:
    mail, _ = CASES[stem]
    found = recognise(mail, TRUSTED)
    assert found is not None and not found.authentic
    assert found.why.startswith(("sent from", "not authenticated", "no aligned"))


def test_forged_notifications_say_why() -> None:
    why = {
        stem.split("-")[2]: recognise(CASES[stem][0], TRUSTED).why  # type: ignore[union-attr]
        for stem in by_kind("forged_notification")
    }
    assert "notifications-center.example, which is not LinkedIn's domain" in why["foreign"]
    assert "linkedin.com.msg-notify.example, which is not LinkedIn's" in why["lookalike"]
    assert "xn--lnkedin-rog.com, which is not LinkedIn's domain" in why["homograph"]
    assert why["no"] == f"not authenticated: no Authentication-Results from {TRUSTED}"
    assert "no aligned DKIM/DMARC pass" in why["forged"]


def test_without_a_trusted_authserv_id_nothing_counts() -> None:
    mail, _ = CASES["message_notification-linkedin-solheim-just-messaged-2024"]
    found = recognise(mail, "")
    assert found is not None and not found.authentic
    assert recognise(mail, "mx.elsewhere.test").authentic is False  # type: ignore[union-attr]


def test_the_first_name_in_the_subject_is_never_a_key() -> None:
    berg, _ = CASES["message_notification-linkedin-berg-first-name-collision-2024"]
    solheim, _ = CASES["message_notification-linkedin-solheim-just-messaged-2024"]
    assert berg.subject == solheim.subject == "Ingrid just messaged you"
    found = recognise(berg, TRUSTED)
    assert found is not None
    assert match(found, list(INVITATIONS.values())).invitations == ()
    # without slugs on either side, "Ingrid" alone still matches nobody
    first_only = NetworkNotification("linkedin", "message", (Sender("Ingrid", None),), True, "")
    no_slugs = [replace(i, decision=DecisionRecord()) for i in INVITATIONS.values()]
    assert match(first_only, no_slugs).invitations == ()


def test_names_are_compared_after_nfkc_and_casefold() -> None:
    nfd = "Zoe\u0308 Ma\u0301rquez via LinkedIn"
    assert normalise_name(nfd) == normalise_name("ZOË  MÁRQUEZ") == "zoë márquez"
    assert normalise_name('"Foo Bar (via LinkedIn)"') == "foo bar"


def test_two_slugs_that_differ_are_two_people_even_with_one_name() -> None:
    solheim = INVITATIONS["invitation-linkedin-solheim-m2m-2024"]
    other = NetworkNotification(
        "linkedin", "message", (Sender("Ingrid Solheim", "ingrid-solheim-99"),), True, ""
    )
    assert match(other, [solheim]).invitations == ()


def test_a_name_that_could_be_two_invitations_is_asked_not_guessed() -> None:
    foobar = INVITATIONS["invitation-linkedin-foobar-m2m-2016"]
    twin = replace(foobar, id=99, source_message_id="<twin@example.test>")
    mail, _ = CASES["message_notification-linkedin-foobar-name-only-2016"]
    found = recognise(mail, TRUSTED)
    assert found is not None
    result = match(found, [foobar, twin])
    assert result.invitations == ()
    assert {i.id for i in result.ambiguous} == {foobar.id, 99}
    assert "does not guess" in result.why


def test_a_digest_answers_only_the_invitation_among_its_senders() -> None:
    mail, _ = CASES["message_notification-linkedin-digest-three-senders-2024"]
    found = recognise(mail, TRUSTED)
    assert found is not None
    assert [s.slug for s in found.senders] == [
        "ingrid-solheim-4b2a91",
        "kirstendahl",
        "rahul-menon-sre",
    ]
    result = match(found, list(INVITATIONS.values()))
    assert [i.inviter_name for i in result.invitations] == ["Ingrid Solheim"]


def test_only_open_by_hand_invitations_of_the_same_network_are_answered() -> None:
    mail, _ = CASES["message_notification-linkedin-solheim-just-messaged-2024"]
    found = recognise(mail, TRUSTED)
    assert found is not None
    solheim = INVITATIONS["invitation-linkedin-solheim-m2m-2024"]
    for state in (State.ANSWERED, State.CANCELLED, State.HANDED_OVER, State.ASKED):
        assert match(found, [replace(solheim, state=state)]).invitations == ()
    assert match(found, [replace(solheim, state=State.REMINDED)]).invitations
    assert match(found, [replace(solheim, network="facebook")]).invitations == ()


def test_an_answer_flags_the_invitation_and_the_notification_and_tells_the_owner() -> None:
    mail, _ = CASES["message_notification-linkedin-solheim-just-messaged-2024"]
    solheim = INVITATIONS["invitation-linkedin-solheim-m2m-2024"]
    after, effects = transition(
        solheim, NetworkMessage(mail.message_id, "LinkedIn says"), NOW, WEEK
    )
    assert after.state is State.ANSWERED and after.answered_at == NOW
    assert {getattr(e, "message_id", None) for e in effects} >= {mail.message_id}
    assert any(type(e).__name__ == "Notify" for e in effects)


def test_a_network_reminder_is_not_a_second_invitation() -> None:
    reminder, _ = CASES["invitation_reminder-linkedin-solheim-reminder-2024"]
    original, _ = CASES["invitation-linkedin-solheim-m2m-2024"]
    verdict = classify(reminder, POLICY, OWNER)
    assert verdict.is_invitation is False and verdict.label == "reminder"
    assert verdict.invitation_key == classify(original, POLICY, OWNER).invitation_key


@pytest.mark.parametrize(
    ("stem", "by_hand"),
    [
        ("invitation-linkedin-solheim-m2m-2024", True),
        ("invitation-linkedin-okonkwo-m2m-2025", True),
        ("invitation-linkedin-foobar-m2m-2016", True),
        ("invitation-facebook-brooks-friend-request-2018", True),
        ("invitation-linkedin-marquez-m2m-note-2025", False),  # a personal note: handed over
    ],
)
def test_which_invitations_the_owner_asks_by_hand(stem: str, by_hand: bool) -> None:
    mail, _ = CASES[stem]
    verdict = classify(mail, POLICY, OWNER)
    decision = decide(mail, verdict, Context(owner_addresses=OWNER))
    assert starts_by_hand(verdict, decision, enabled=True) is by_hand
    assert starts_by_hand(verdict, decision, enabled=False) is False
    untrusted = classify(mail, Classify(), OWNER)  # no trusted results: not authenticated
    assert starts_by_hand(untrusted, decide(mail, untrusted, Context(OWNER)), True) is False


def test_links_for_the_owner_are_clean() -> None:
    solheim = INVITATIONS["invitation-linkedin-solheim-m2m-2024"]
    assert links(solheim) == {
        "invitation_url": "https://www.linkedin.com/mynetwork/invitation-manager/",
        "profile_url": "https://www.linkedin.com/in/ingrid-solheim-4b2a91/",
    }


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("0f3c2a9e-1b2d-4c5e-8f90-123456789abc@reply.linkedin.com", "LinkedIn"),
        ("inmail-hit-reply@linkedin.com", "LinkedIn"),
        ("noreply@facebookmail.com", "Facebook"),
        ("mailrobot@mail.xing.com", "XING"),
        ("ingrid@linkedin.com.msg-notify.example", None),
        ("alice@example.test", None),
    ],
)
def test_network_addresses_are_known(address: str, network: str | None) -> None:
    assert network_of(address) == network


def test_the_owners_own_networks_count_as_networks() -> None:
    assert network_of("robot@mail.meetup.example", ("meetup.example",)) == "meetup.example"


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        '[owner]\nname = "Pat Owner"\nemail = "owner@example.test"\n'
        '[imap]\nhost = "127.0.0.1"\nusername = "owner"\npassword = "x"\n'
        '[smtp]\nhost = "127.0.0.1"\n'
        f'[classify]\nauthserv_id = "{TRUSTED}"\n[state]\npath = "{tmp_path / "s.sqlite3"}"\n'
    )
    return config


@pytest.mark.parametrize(
    ("stem", "counts", "why"),
    [
        ("message_notification-linkedin-solheim-just-messaged-2024", True, "linkedin.com verified"),
        ("forged_notification-linkedin-homograph-idn-okonkwo", False, "not LinkedIn's domain"),
        ("forged_notification-linkedin-no-auth-results-marquez", False, "not authenticated"),
    ],
)
def test_explain_says_whether_a_notification_counts_and_why(
    tmp_path: Path, stem: str, counts: bool, why: str
) -> None:
    from harness import askfirst

    config = str(_config(tmp_path))
    result = askfirst("explain", str(SAMPLES / f"{stem}.eml"), "--config", config, "--json")
    record = json.loads(result.stdout)
    assert record["notification"]["authentic"] is counts
    assert why in record["notification"]["verdict"]
    assert record["reasons"][-1] == record["notification"]["verdict"]
    text = askfirst("explain", str(SAMPLES / f"{stem}.eml"), "--config", config).stdout
    assert ("changes nothing" in text) is not counts


@pytest.mark.parametrize("template", ["byhand", "remind"])
def test_preview_renders_the_new_notices_from_a_real_invitation(template: str) -> None:
    from harness import askfirst

    invite = SAMPLES / "invitation-linkedin-solheim-m2m-2024.eml"
    result = askfirst("preview", template, "--invite", str(invite))
    assert result.returncode == 0, result.stderr
    assert "Ingrid Solheim" in result.stdout.splitlines()[0]
    assert "https://www.linkedin.com/in/ingrid-solheim-4b2a91/" in result.stdout
    assert "Hi Ingrid," in result.stdout  # the ask or the decline, ready to paste


@pytest.mark.parametrize(
    ("stem", "by_hand"),
    [
        ("invitation-linkedin-solheim-m2m-2024", True),
        ("invitation-linkedin-marquez-m2m-note-2025", False),
    ],
)
def test_explain_knows_an_invitation_the_owner_asks_by_hand(
    tmp_path: Path, stem: str, by_hand: bool
) -> None:
    from harness import askfirst

    config = str(_config(tmp_path))
    result = askfirst("explain", str(SAMPLES / f"{stem}.eml"), "--config", config, "--json")
    record = json.loads(result.stdout)
    assert record["by_hand"] is by_hand
    assert any(r.startswith("by-hand: LinkedIn hides") for r in record["reasons"]) is by_hand
    text = askfirst("explain", str(SAMPLES / f"{stem}.eml"), "--config", config).stdout
    assert ("HAND_OVER, BY HAND (rule unreachable)" in text) is by_hand
