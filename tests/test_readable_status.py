"""Status stays readable: a newsletter or list mail that quotes an invitation sentence is
not an invitation and leaves no `skipped` row; `explain` still shows the decision."""

from __future__ import annotations

import json
from pathlib import Path

from askfirst.testing.storymail import build_mail
from harness import OWNER, Harness, askfirst
from mails import direct_invite

SENTENCE = "I'd like to connect with you on LinkedIn."


def newsletter(**headers: str) -> bytes:
    body = f"This week in networking\n\nHow to answer '{SENTENCE}' politely.\n\nThe editors\n"
    return build_mail(
        "Weekly Digest <editors@news.example.net>", OWNER, "This week", body, **headers
    ).as_bytes()


async def test_list_mail_quoting_an_invitation_leaves_no_row(h: Harness) -> None:
    h.invite(newsletter(List_Id="<weekly.news.example.net>", List_Unsubscribe="<mailto:u@x>"))
    h.invite(newsletter(Precedence="bulk"))
    h.invite(direct_invite("Carol Direct", "carol@example.test"))  # a person's: recorded
    report = await h.step()
    assert h.invitations()[0].inviter_email == "carol@example.test"
    assert len(h.invitations()) == 1
    assert sum(o.startswith("ignored: list-or-bulk: hit") for o in report.outcomes) == 2
    config = h.settings.state.path.parent / "config.toml"
    assert "skipped" not in askfirst("status", "--config", str(config)).stdout


def test_explain_shows_the_list_mail_is_not_recorded(tmp_path: Path) -> None:
    eml = tmp_path / "news.eml"
    eml.write_bytes(newsletter(List_Id="<weekly.news.example.net>"))
    record = json.loads(askfirst("explain", str(eml), "--json").stdout)
    assert (record["action"], record["rule"], record["recorded"]) == (
        "ignore",
        "list-or-bulk",
        False,
    )
    text = askfirst("explain", str(eml)).stdout
    assert record["is_invitation"] is True  # the quoted sentence is seen ...
    assert "not recorded as an invitation" in text  # ... and the decision shown
