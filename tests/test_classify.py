"""classify: invitation or not, which network, boilerplate or personal, and who to answer."""

from __future__ import annotations

import tomllib
from email.message import EmailMessage
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from askfirst.addresses import is_system_address
from askfirst.classify import Verdict, classify
from askfirst.config import Classify
from askfirst.message import Mail, parse
from askfirst.notes import normalise, strip_boilerplate


def _default_sentences() -> list[tuple[str, str]]:
    text = resources.files("askfirst").joinpath("boilerplate.toml").read_text("utf-8")
    data = tomllib.loads(text)
    return [(lang, sentence) for lang, table in data.items() for sentence in table["sentences"]]


DEFAULTS = _default_sentences()
EN_DEFAULT = "I'd like to add you to my professional network on LinkedIn."


def build(sender: str, subject: str, body: str, **headers: str) -> Mail:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "Pat Owner <pat@example.org>"
    msg["Subject"] = subject
    msg["Message-ID"] = "<test@example.net>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return parse(msg.as_bytes())


def linkedin_2012(
    note: str, name: str = "Brian Rajuk", address: str = "brajuk@example.net", **headers: str
) -> Mail:
    """2012-13: From is the inviter's own address; the note follows the LinkedIn banner."""
    first = name.split()[0]
    body = (
        "LinkedIn\n------------\n\n"
        f"{note}\n\n"
        f"- {first}\n\n"
        f"{name}\nSenior Engineer at Example Corp\nGreater Boston Area\n\n"
        f"Confirm that you know {name}:\n"
        "https://www.linkedin.com/e/-abc123-h9x8y7z6/isd/10293847/AbCdEfGh/?hs=false&tok=0x\n\n"
        "--\nYou are receiving Invitation to Connect emails. Click to unsubscribe:\n"
        "http://www.linkedin.com/e/-abc123-h9x8y7z6/con/\n\n"
        "(c) 2012, LinkedIn Corporation. 2029 Stierlin Ct, Mountain View, CA 94043, USA\n"
    )
    return build(f"{name} <{address}>", "Invitation to connect on LinkedIn", body, **headers)


def linkedin_2016(note: str = "I'd like to join your LinkedIn network.") -> Mail:
    """2015-16 member invitation: From is LinkedIn's invitations@ address."""
    body = (
        f"Hi Pat,\n{note}\n\n"
        "Sam Sample\nEngineer at Example\n"
        "View profile: https://www.linkedin.com/comm/profile/view?id=AAkAAA&trk=eml-prof\n\n"
        "Accept: https://www.linkedin.com/comm/people/invite-accept?mboxid=I6&sharedKey=x1"
        "&invitationId=6112\n"
        "....................................\n"
        "Unsubscribe: https://www.linkedin.com/e/v2?e=x\nHelp: https://www.linkedin.com/e/v2?e=y\n"
        "You are receiving Invitation emails.\n"
        "This email was intended for Pat Owner (Engineer).\n"
    )
    return build(
        '"Sam Sample" <invitations@linkedin.com>',
        "Pat, please add me to your LinkedIn network",
        body,
    )


def direct(body: str, sender: str = "Sam Sample <sam@example.net>") -> Mail:
    return build(sender, "Connecting", body)


def assert_reasoned(verdict: Verdict) -> None:
    assert verdict.reasons, "every verdict says why"
    assert verdict.reasons[0].startswith("invitation: ")


# -- LinkedIn 2012-13 ----------------------------------------------------------------------


@pytest.mark.parametrize(("language", "sentence"), DEFAULTS, ids=[lang for lang, _ in DEFAULTS])
def test_linkedin_2012_default_sentence_is_boilerplate_in_every_language(
    language: str, sentence: str
) -> None:
    verdict = classify(linkedin_2012(sentence))

    assert verdict.is_invitation
    assert verdict.network == "linkedin"
    assert verdict.boilerplate is True
    assert verdict.language == language
    assert verdict.personal_note == ""
    assert verdict.reply_address == "brajuk@example.net"
    assert verdict.inviter_name == "Brian Rajuk"
    assert f"note: boilerplate ({language})" in verdict.reasons
    assert_reasoned(verdict)


@pytest.mark.parametrize(
    "note",
    [
        f"Pat,\n\n{EN_DEFAULT}",
        f"Hi Pat,\n{EN_DEFAULT}",
        f"Good evening Pat,\n{EN_DEFAULT}\nBest regards,\nBrian",
        f"{EN_DEFAULT}\nBrian Rajuk",
        EN_DEFAULT.rstrip("."),
        EN_DEFAULT.upper(),
        "I’d like to add you to my professional network on LinkedIn.",  # curly apostrophe
        "  I'd like to add   you to my\nprofessional network on LinkedIn .  ",
    ],
)
def test_linkedin_2012_default_with_greeting_signature_or_typography_is_boilerplate(
    note: str,
) -> None:
    verdict = classify(linkedin_2012(note))
    assert (verdict.is_invitation, verdict.boilerplate, verdict.language) == (True, True, "en")


def test_linkedin_2012_empty_note_is_boilerplate() -> None:
    verdict = classify(linkedin_2012(""))
    assert verdict.is_invitation and verdict.boilerplate is True
    assert verdict.language is None
    assert "note: boilerplate (empty note)" in verdict.reasons


@pytest.mark.parametrize(
    "note",
    [
        "Hi Pat, we met at PyCon in Portland and talked about mail servers.",
        f"We met at PyCon in Portland last spring.\n{EN_DEFAULT}",
        f"{EN_DEFAULT}\nLoved your talk!",
        f"Remember me? {EN_DEFAULT}",
        "Ich habe Ihren Vortrag über Sieve gehört, er war großartig.",
    ],
)
def test_linkedin_2012_personal_note_is_kept(note: str) -> None:
    verdict = classify(linkedin_2012(note))

    assert verdict.is_invitation and verdict.network == "linkedin"
    assert verdict.boilerplate is False
    first_words = note.splitlines()[0][:12]
    assert first_words in verdict.personal_note
    assert "Confirm that you know" not in verdict.personal_note
    assert any(r.startswith("note: personal") for r in verdict.reasons)
    assert verdict.reply_address == "brajuk@example.net"


def test_linkedin_2012_is_recognised_by_its_markers_not_only_its_subject() -> None:
    verdict = classify(linkedin_2012(EN_DEFAULT))
    (why,) = [r for r in verdict.reasons if r.startswith("invitation: LinkedIn")]
    assert "/isd/" in why
    assert "You are receiving Invitation" in why
    assert "Confirm that you know" in why


def test_a_reply_to_in_froms_organisation_beats_from() -> None:
    verdict = classify(linkedin_2012(EN_DEFAULT, Reply_To="brian.private@mail.example.net"))
    assert verdict.reply_address == "brian.private@mail.example.net"


def test_a_reflector_reply_to_is_never_used() -> None:
    """A third party at another domain: the ask goes to the personal From instead."""
    verdict = classify(linkedin_2012(EN_DEFAULT, Reply_To="victim@elsewhere.example.com"))
    assert verdict.reply_address == "brajuk@example.net"
    assert any("Reply-To victim@elsewhere.example.com is not used" in r for r in verdict.reasons)


@pytest.mark.parametrize("box", ["info", "sales", "support", "admin", "noreply", "team+x"])
def test_a_role_or_system_from_is_never_asked(box: str) -> None:
    verdict = classify(linkedin_2012(EN_DEFAULT, address=f"{box}@example.net"))
    assert verdict.reply_address is None


def test_a_system_reply_to_falls_back_to_a_personal_from() -> None:
    verdict = classify(linkedin_2012(EN_DEFAULT, Reply_To="noreply@example.net"))
    assert verdict.reply_address == "brajuk@example.net"
    assert any(
        "Reply-To noreply@example.net is a network, notification, list or system" in r
        for r in verdict.reasons
    )


# -- LinkedIn 2015-16 and later: no personal address ----------------------------------------


def test_linkedin_2016_member_invite_is_an_invitation_without_a_reply_address() -> None:
    verdict = classify(linkedin_2016())

    assert verdict.is_invitation
    assert verdict.network == "linkedin"
    assert verdict.reply_address is None
    assert verdict.inviter_name == "Sam Sample"
    assert verdict.profile_url is not None
    assert verdict.profile_url.startswith("https://www.linkedin.com/comm/profile/view?id=AAkAAA")
    assert "reachable: no personal address; hand over to the owner" in verdict.reasons


def test_linkedin_2016_default_note_is_boilerplate_despite_the_name_block() -> None:
    verdict = classify(linkedin_2016())
    assert verdict.boilerplate is True
    assert verdict.language == "en"


def test_linkedin_2016_personal_note_stops_at_the_name_block() -> None:
    verdict = classify(linkedin_2016("We met at PyCon, I was the one asking about IDLE."))
    assert verdict.boilerplate is False
    assert "We met at PyCon" in verdict.personal_note
    assert "Engineer at Example" not in verdict.personal_note
    assert "Sam Sample" not in verdict.personal_note


def test_linkedin_template_header_decides_even_with_list_headers() -> None:
    mail = build(
        "Sam Sample <invitations@linkedin.com>",
        "I want to connect",
        "Hi Pat,\nI'd like to join your LinkedIn network.\n",
        X_LinkedIn_Template="email_m2m_invite_single_01",
        List_Unsubscribe="<https://www.linkedin.com/e/v2?e=u>",
    )
    verdict = classify(mail)
    assert verdict.is_invitation and verdict.network == "linkedin"
    assert verdict.boilerplate is True
    assert verdict.reply_address is None


@pytest.mark.parametrize(
    "template", ["email_m2m_invite_reminder_02", "email_pymk_02", "accept_invite_04"]
)
def test_linkedin_templates_that_are_not_invitations(template: str) -> None:
    mail = build(
        "Sam Sample <invitations@linkedin.com>",
        "I want to connect",
        "Hi Pat,\nI'd like to join your LinkedIn network.\n",
        X_LinkedIn_Template=template,
    )
    verdict = classify(mail)
    assert not verdict.is_invitation
    assert verdict.label in ("reminder", "people you may know", "acceptance")
    assert f"x-linkedin-template: {template}" in verdict.reasons[0]


# -- look-alikes ---------------------------------------------------------------------------


def test_accepted_invitation_is_not_an_invitation() -> None:
    mail = build(
        "LinkedIn <invitations@linkedin.com>",
        "Pat, start a conversation with your new connection, Sam Sample",
        "Sam Sample has accepted your invitation. Let's start a conversation.\n"
        "https://www.linkedin.com/comm/mynetwork/invite-accept/x\n"
        "You are receiving Accepted invitations emails.\n",
    )
    verdict = classify(mail)
    assert not verdict.is_invitation
    assert verdict.label == "acceptance"
    assert "acceptance" in verdict.reasons[0]


@pytest.mark.parametrize(
    ("sender", "subject", "body"),
    [
        (
            '"Sam Sample (via LinkedIn)" <messages-noreply@linkedin.com>',
            "Reminder: Sam Sample invited you to connect",
            "Sam Sample: Hi Pat, I'm still waiting for your response. "
            "Accept my invitation to connect on LinkedIn.\n"
            "https://www.linkedin.com/comm/mynetwork/invite-accept/invitationId/1/sharedKey/k/\n"
            "You are receiving Invitation emails.\n",
        ),
        (
            "Sam Sample <invitations@linkedin.com>",
            "Sam Sample's invitation is waiting for your response",
            "Sam Sample would like to connect on LinkedIn. How would you like to respond?\n"
            "Accept: https://www.linkedin.com/comm/people/invite-accept?invitationId=3\n"
            "Sam Sample is waiting for your response.\n",
        ),
    ],
)
def test_reminders_are_not_invitations(sender: str, subject: str, body: str) -> None:
    verdict = classify(build(sender, subject, body))
    assert not verdict.is_invitation
    assert "reminder" in verdict.reasons[0]


def test_an_ordinary_mail_is_not_an_invitation() -> None:
    verdict = classify(direct("Hi Pat, lunch on Tuesday?\nSam\n"))
    assert verdict == Verdict(
        is_invitation=False,
        reasons=(
            "authenticity: unknown (classify.authserv_id unset)",
            "invitation: no, no network marker and no default invitation sentence",
        ),
    )


def test_a_reply_that_only_quotes_the_default_sentence_is_not_an_invitation() -> None:
    body = f"Sure, see you on Tuesday.\n\nOn Mon, Sam wrote:\n> {EN_DEFAULT}\n"
    assert not classify(direct(body)).is_invitation


def test_a_network_domain_sending_the_sentence_is_not_a_direct_invitation() -> None:
    verdict = classify(direct(EN_DEFAULT, sender="Someone <notification@facebookmail.com>"))
    assert not verdict.is_invitation


# -- direct mail from a person -------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        f"Hi Pat,\n\n{EN_DEFAULT}\n\nBest,\nSam\n",
        "I’d like to connect with you on LinkedIn.\n\n-- \nSam Sample\nCEO, Example\n",
        "Hallo Pat,\n\nIch möchte Sie gerne zu meinem beruflichen Netzwerk auf LinkedIn "
        "hinzufügen.\n\nViele Grüße\nSam\n",
    ],
)
def test_direct_mail_with_a_default_sentence_is_a_boilerplate_invitation(body: str) -> None:
    verdict = classify(direct(body))

    assert verdict.is_invitation
    assert verdict.network == "email"
    assert verdict.boilerplate is True
    assert verdict.reply_address == "sam@example.net"
    assert verdict.inviter_name == "Sam Sample"
    assert "invitation: yes, a direct mail that uses a network's default sentence" in (
        verdict.reasons
    )


def test_direct_mail_with_the_sentence_and_personal_text_is_personal() -> None:
    body = (
        f"Hi Pat,\n\n{EN_DEFAULT} We met at the Berlin meetup and I enjoyed your talk "
        "about IMAP.\n\nBest,\nSam\n"
    )
    verdict = classify(direct(body))
    assert verdict.is_invitation and verdict.network == "email"
    assert verdict.boilerplate is False
    assert "Berlin meetup" in verdict.personal_note


def test_direct_mail_from_a_noreply_address_is_unreachable() -> None:
    verdict = classify(direct(EN_DEFAULT, sender="Sam <no-reply@example.net>"))
    assert verdict.is_invitation and verdict.network == "email"
    assert verdict.reply_address is None


# -- helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "system"),
    [
        ("invitations@linkedin.com", True),
        ("member@linkedin.com", True),
        ("s-abc@bounce.linkedin.com", True),
        ("notification+zz@facebookmail.com", True),
        ("noreply@example.net", True),
        ("do-not-reply@example.net", True),
        ("MAILER-DAEMON@mx.example.net".lower(), True),
        ("owner-list@example.net", True),
        ("list-request@example.net", True),
        ("jobs-noreply@example.net", True),
        ("sam@example.net", False),
        ("linkedin.fan@example.net", False),
        ("sam@notlinkedin.com", False),
    ],
)
def test_system_addresses(address: str, system: bool) -> None:
    assert is_system_address(address) is system


def test_normalise_straightens_quotes_and_drops_punctuation() -> None:
    assert normalise("  I’D like,\tto   CONNECT!! ") == "i'd like to connect"


def test_strip_boilerplate_reports_the_leftover_and_the_language() -> None:
    leftover, language = strip_boilerplate(
        "Hola Pat,\nMe gustaría añadirte a mi red profesional en LinkedIn. Nos vimos ayer."
    )
    assert (leftover, language) == ("nos vimos ayer", "es")
    assert strip_boilerplate("") == ("", None)


# -- robustness ----------------------------------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=1500))
def test_classify_of_any_bytes_never_raises_and_is_deterministic(raw: bytes) -> None:
    mail = parse(raw)
    first = classify(mail)
    assert classify(mail) == first
    assert classify(parse(raw)) == first
    assert first.reasons
    if not first.is_invitation:
        assert first.network is None and first.reply_address is None


_TEXT_PIECES = st.sampled_from(
    [
        "LinkedIn",
        "------------",
        "- Sam",
        "Hi Pat,",
        EN_DEFAULT,
        "Confirm that you know Sam Sample:",
        "https://www.linkedin.com/e/x/isd/1/k/",
        "You are receiving Invitation to Connect emails.",
        "has accepted your invitation",
        "View profile:",
        "> quoted",
        "-- ",
        "Best,",
        "\n",
        "’",
    ]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.lists(st.one_of(_TEXT_PIECES, st.text(max_size=20)), max_size=30).map("\n".join),
    subject=st.text(max_size=60),
    from_addr=st.sampled_from(["", "sam@example.net", "invitations@linkedin.com", "x@y"]),
    from_name=st.text(max_size=30),
)
def test_classify_of_any_mail_never_raises(
    text: str, subject: str, from_addr: str, from_name: str
) -> None:
    mail = Mail(
        message_id="<h@example.net>",
        from_addr=from_addr,
        from_name=from_name,
        subject=subject,
        text=text,
    )
    verdict = classify(mail)
    assert verdict == classify(mail)
    if verdict.is_invitation:
        assert verdict.network in ("linkedin", "email")
        assert verdict.boilerplate is not None


def test_an_authenticated_networks_reply_to_is_the_inviter() -> None:
    """The 2010-12 'via LinkedIn' format puts the inviter into Reply-To; that counts only
    when the mail really comes from linkedin.com."""
    raw = Path(__file__).parent / "corpus/invitation-linkedin-2010-chloe-via-replyto.eml"
    auth = b"Authentication-Results: mx.example.test; dkim=pass header.d=linkedin.com;"
    auth += b" dmarc=pass header.from=linkedin.com\r\n"
    trust = Classify(authserv_id="mx.example.test")
    assert (
        classify(parse(auth + raw.read_bytes()), trust).reply_address == "chloe.desmet@example.be"
    )
    unverified = classify(parse(raw.read_bytes()), trust)
    assert unverified.reply_address is None
    assert any("Reply-To chloe.desmet@example.be is not used" in r for r in unverified.reasons)


# -- direct invitations in the sender's own words -------------------------------------------


@pytest.mark.parametrize(
    ("sentence", "language"),
    [
        ("I'd like to add you to my professional network.", "en"),
        ("I'd like to connect with you.", "en"),
        ("Let's connect!", "en"),
        ("¿Te gustaría unirte a mi red profesional?", "es"),
        ("Saya ingin mengajak Anda bergabung ke jaringan profesional saya.", "id"),
        ("Ich würde mich gerne mit Ihnen vernetzen.", "de"),
        ("Je serais ravie de vous compter parmi mes relations.", "fr"),
        ("Gostaria de o ter na minha rede profissional.", "pt"),
        ("Mi piacerebbe averti tra i miei contatti.", "it"),
        ("Mag ik je toevoegen aan mijn netwerk?", "nl"),
        ("Would you like to connect?", "en"),
        ("Ich würde mich freuen, mich mit Ihnen zu vernetzen.", "de"),
        ("Me gustaría agregarte a mis contactos.", "es"),
        ("Je voudrais vous ajouter à mes relations.", "fr"),
        ("Gostaria de adicioná-lo à minha rede.", "pt"),
        ("Vorrei aggiungerti ai miei contatti.", "it"),
        ("Zullen we connecten?", "nl"),
        ("Mari terhubung!", "id"),
    ],
)
def test_a_bare_request_to_connect_in_own_words_is_a_boilerplate_invitation(
    sentence: str, language: str
) -> None:
    verdict = classify(build("Sam <sam@example.net>", "Hello", f"Hi Pat,\n\n{sentence}\n\nSam\n"))
    assert (verdict.is_invitation, verdict.network, verdict.boilerplate) == (True, "email", True)
    assert verdict.language == language


def test_a_request_with_a_story_is_a_personal_invitation() -> None:
    body = (
        "Hi Pat,\n\nWe met at the Dovecot meetup in Berlin and talked about Sieve. "
        "I'd like to connect with you.\n\nSam\n"
    )
    verdict = classify(build("Sam <sam@example.net>", "Berlin", body))
    assert (verdict.is_invitation, verdict.boilerplate) == (True, False)
    assert "Berlin" in verdict.personal_note


@pytest.mark.parametrize(
    "sentence",
    [
        "Let's connect on Tuesday about the invoice.",
        "I'd like to add you to the planning meeting.",
        "I'd like to connect with you about the contract renewal.",
        "Connect with us on our community forum.",
        "Ich möchte Sie mit meinem Kollegen vernetzen.",
        "Podemos nos conectar amanhã às 10h?",
    ],
)
def test_ordinary_mail_that_mentions_connecting_is_not_an_invitation(sentence: str) -> None:
    verdict = classify(build("Sam <sam@example.net>", "Hello", f"Hi Pat,\n\n{sentence}\n\nSam\n"))
    assert verdict.is_invitation is False, verdict.reasons
