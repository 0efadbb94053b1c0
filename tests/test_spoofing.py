"""A spoofed network invitation is never answered: forged or missing Authentication-Results,
a comment that hides a domain, a forged block under the real one, look-alike names."""

from __future__ import annotations

import pytest

from askfirst.classify import Verdict, classify
from askfirst.config import Classify
from askfirst.message import parse
from askfirst.posing import skeleton, strip_invisible
from askfirst.rules import Context, Decision, decide
from askfirst.testing import storymail
from harness import OWNER, Harness

OURS = "mx.example.test"
ATTACKER = "dave@example.test"  # a rig user, so its inbox can be read
REAL_FAIL = f"{OURS}; dkim=fail header.d=linkedin.com; dmarc=fail header.from=linkedin.com"
FORGED_PASS = f"{OURS}; dkim=pass header.d=linkedin.com; dmarc=pass header.from=linkedin.com"


def invitation(
    *auth_results: str, sender: str = "Mallory Example via LinkedIn <invitations@linkedin.com>"
) -> bytes:
    """A LinkedIn invitation whose Reply-To is the attacker's; the Authentication-Results
    lines on top, in the order given (topmost first)."""
    msg = storymail.linkedin_2012("Mallory Example", ATTACKER, sender=sender, Reply_To=ATTACKER)
    stamps = "".join(f"Authentication-Results: {h}\r\n" for h in auth_results)
    return stamps.encode() + msg.as_bytes()


def judged(raw: bytes, authserv_id: str = OURS) -> tuple[Verdict, Decision]:
    mail = parse(raw)
    verdict = classify(mail, Classify(authserv_id=authserv_id), frozenset({OWNER}))
    return verdict, decide(mail, verdict, Context(owner_addresses=frozenset({OWNER})))


@pytest.mark.parametrize(
    ("stamps", "rule"),
    [
        pytest.param((), "unverified", id="no-authentication-results"),
        pytest.param(
            ("mx.elsewhere.test; dkim=pass header.d=linkedin.com",), "unverified", id="forged-id"
        ),
        pytest.param(
            (f"{OURS}; dkim=pass (2048-bit key; header.d=linkedin.com) header.d=evil.test",),
            "phishing-suspect",
            id="comment-with-semicolon-hides-the-signer",
        ),
        pytest.param((REAL_FAIL, FORGED_PASS), "phishing-suspect", id="forged-lower-block"),
        pytest.param(
            (f"{OURS}; dkim=pass header.d=linkedin.com; dmarc=fail header.from=linkedin.com",),
            "phishing-suspect",
            id="dmarc-fail-wins",
        ),
        pytest.param(
            (f"{OURS}; dkim=pass header.d=linkedin.com.attacker.example.net",),
            "phishing-suspect",
            id="signer-only-looks-like-the-network",
        ),
    ],
)
def test_a_spoofed_invitation_is_handed_over(stamps: tuple[str, ...], rule: str) -> None:
    verdict, decision = judged(invitation(*stamps))
    assert verdict.is_invitation and verdict.network == "linkedin"
    assert (decision.action, decision.rule) == ("hand_over", rule), verdict.reasons


def test_with_authserv_id_unset_a_network_invitation_is_handed_over() -> None:
    verdict, decision = judged(invitation(FORGED_PASS), authserv_id="")
    assert (decision.action, decision.rule) == ("hand_over", "unverified")
    assert "authserv_id is unset" in verdict.unverified


def test_a_trusted_aligned_pass_is_asked() -> None:
    opendkim = f"{OURS} 1; dkim=pass (2048-bit key; unprotected) header.d=linkedin.com"
    verdict, decision = judged(invitation(opendkim, "mx.elsewhere.test; dkim=fail"))
    assert verdict.authenticated is True and not verdict.phishing_suspect
    assert decision.action == "ask", decision.reasons


def test_prefer_asks_without_results_but_not_on_a_fail() -> None:
    prefer = Classify(authserv_id=OURS, authenticity="prefer")
    assert not classify(parse(invitation()), prefer).phishing_suspect
    assert not classify(parse(invitation()), prefer).unverified
    assert classify(parse(invitation(REAL_FAIL, FORGED_PASS)), prefer).phishing_suspect


# -- look-alikes ---------------------------------------------------------------------------


def test_skeletons_fold_confusables_invisibles_and_case() -> None:
    plain = skeleton("LinkedIn")
    for forged in (
        "L\u0456nkedIn",  # Cyrillic і
        "Linkedln",  # l for I
        "L\u200binked\u200dIn",  # zero-width space and joiner
        "\uff2c\uff49\uff4e\uff4b\uff45\uff44\uff29\uff4e",  # fullwidth, NFKC
        "\U0001d40binkedIn",  # mathematical bold L
        "LINKEDIN",
    ):
        assert skeleton(forged) == plain, forged
    assert strip_invisible("a\u202eb\u2066c\u200fd") == "abcd"  # bidi controls
    assert skeleton("Alice Example") != plain


@pytest.mark.parametrize(
    "sender",
    [
        "Mallory Example via LinkedIn <mallory@attacker.example.net>",
        "L\u0456nkedIn Invitations <invite@attacker.example.net>",
        "Link\u200bedIn <hello@attacker.example.net>",
        "Invitations <invitations@lXnkedin.com>",  # X: Cyrillic і in the raw UTF-8 header
        "Mallory Example <mallory@linkedln-mail.example.net>",
    ],
)
def test_a_look_alike_of_the_network_is_a_suspect(sender: str) -> None:
    raw = invitation(sender=sender).replace(b"lXnkedin", "l\u0456nkedin".encode())
    verdict, decision = judged(raw)
    assert verdict.phishing_suspect, verdict.reasons
    assert (decision.action, decision.rule) == ("hand_over", "phishing-suspect")
    assert verdict.reply_address is None


def test_a_network_template_header_from_a_foreign_domain_is_a_suspect() -> None:
    msg = storymail.build_mail(
        "Mallory Example <mallory@attacker.example.net>",
        OWNER,
        "Mallory wants to connect",
        "Hi, I'd like to add you to my professional network on LinkedIn.\n",
        X_LinkedIn_Class="INVITE-GUEST",
    )
    verdict, decision = judged(msg.as_bytes())
    assert verdict.phishing_suspect and "x-linkedin-class" in " ".join(verdict.reasons).lower()
    assert decision.action == "hand_over"


def test_a_person_who_names_the_network_is_not_a_suspect() -> None:
    own = storymail.linkedin_2012("Alice Example", "alice@example.org")  # 2012-13: her own From
    verdict, decision = judged(own.as_bytes())
    assert not verdict.phishing_suspect and decision.action == "ask", verdict.reasons


# -- through the rig -------------------------------------------------------------------------


async def test_a_forged_block_under_a_real_fail_never_reaches_the_attacker(h: Harness) -> None:
    h.settings.classify.authserv_id = OURS
    h.invite(invitation(REAL_FAIL, FORGED_PASS))
    await h.step()
    assert h.only_invitation().decision.rule == "phishing-suspect"
    assert h.inbox(ATTACKER) == []
    assert all(rcpts == [OWNER] for _, rcpts, _ in h.rig.accepted)
    assert any(m.subject.startswith("[askfirst]") for m in h.inbox(OWNER))
