"""One decision path: every corpus mail, under several configs, gets the same action, rule
and template from the daemon (a real pass against the rig) as from `askfirst explain`
(and `preview --invite` renders the template a rule picks)."""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

import pytest

from askfirst.clock import FakeClock
from askfirst.config_loading import load_settings
from askfirst.explain import explain_command, preview_command
from askfirst.message import parse
from askfirst.testing.ownerconfig import owner_config
from askfirst.testing.rig import MailRig
from harness import OWNER, REPO, Harness

CORPUS = Path(__file__).parent / "corpus"
MAILS = sorted(CORPUS.glob("*.eml"))
TRUST = '[classify]\nauthserv_id = "mx.example.test"\n'
CONFIGS = {
    "default": "",
    "deny": '[rules]\ndeny = ["example.de", "example.com"]\n',
    "allow": '[rules]\nallow = ["example.fr", "example.org"]\n',
    "template-sets": (
        '[rules]\ntemplate_sets = { "linkedin" = "formal", "example.it" = "friendly" }\n'
    ),
}
# What the state file decides, not the policy: a mail that answers an open invitation, a
# repeat of one (same invitation id or Message-ID). explain has no invitations to match.
# Outcomes that turn on stored facts, beyond judge(): answers, repeats, and a network's
# notification read against the open by-hand invitations.
STORE_FACTS = (
    "answer",
    "ignored: a repeat",
    "ignored: already handled",
    "ignored: network notification",
    "network message",
)


def templates_with_sets(directory: Path) -> Path:
    """The built-in templates plus the variants the template-sets config names."""
    target = directory / "templates"
    shutil.copytree(REPO / "templates", target)
    ask = (target / "ask.txt.j2").read_text()
    for variant in ("formal", "friendly", "friendly.de"):
        marked = ask.replace("\n\n", f"\n\n[{variant}]\n", 1)
        (target / f"ask.{variant}.txt.j2").write_text(marked)
    return target


def explained(config: Path, eml: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    args = argparse.Namespace(config=config, file=eml, uid=None, json=True)
    assert explain_command(args) == 0
    record = json.loads(capsys.readouterr().out)
    return {k: record[k] for k in ("action", "rule", "template")}


# A network's notification that someone wrote is looked at by the by-hand watch once the
# decision said "not an invitation"; its outcome names the notification, not that rule.
NOTIFICATION = re.compile(r"^ignored: \w+ says .+ sent you (an InMail|a message)")


def _rule_of(outcome: str) -> str:
    """The deciding rule of a mail the daemon ignored before creating an invitation."""
    if NOTIFICATION.match(outcome):
        return "not-invitation"
    return outcome.removeprefix("ignored: ").split(":", 1)[0]


@pytest.mark.parametrize("name", CONFIGS)
async def test_the_daemon_and_explain_decide_alike(
    name: str, rig: MailRig, tmp_path: Path, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    config = owner_config(rig, tmp_path, templates_with_sets(tmp_path), None, TRUST + CONFIGS[name])
    settings = load_settings(config)
    expected = {eml.name: explained(config, eml, capsys) for eml in MAILS}  # no state yet
    h = Harness(rig, settings, clock)
    for eml in MAILS:  # as the file is: an MTA's delivery would rewrite its Return-Path
        rig.append(OWNER, eml.read_bytes())
    async with h.build() as app:
        app.dry_run = True  # decisions only: nothing leaves the rig
        report = await app.run_once()
    assert len(report.outcomes) == len(MAILS), report.outcomes
    invitations = {inv.source_message_id: inv for inv in h.invitations()}
    compared = 0
    for eml, outcome in zip(MAILS, report.outcomes, strict=True):
        if outcome.startswith(STORE_FACTS):
            continue
        inv = invitations.get(parse(eml.read_bytes()).message_id)
        if inv is None:
            got: dict[str, object] = {
                "action": "ignore",
                "rule": _rule_of(outcome),
                "template": None,
            }
        else:
            action = inv.decision.action
            template = inv.decision.template if action == "ask" else None
            got = {"action": action, "rule": inv.decision.rule, "template": template}
        assert got == expected[eml.name], (eml.name, outcome)
        compared += 1
    assert compared >= len(MAILS) - 5
    rules = {e["rule"] for e in expected.values()}
    assert ("denied" in rules) == (name == "deny") and ("allowed" in rules) == (name == "allow")
    chosen = {e["template"] for e in expected.values()}
    assert ("ask.formal" in chosen) == (name == "template-sets"), chosen


def test_preview_picks_the_template_set_a_rule_names(
    rig: MailRig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = TRUST + CONFIGS["template-sets"]
    config = owner_config(rig, tmp_path, templates_with_sets(tmp_path), None, extra)
    eml = CORPUS / "invitation-linkedin-2012-dubois-own-from-fr.eml"
    args = argparse.Namespace(config=config, invite=eml, template="ask")
    assert preview_command(args) == 0
    assert "[formal]" in capsys.readouterr().out
    assert explained(config, eml, capsys)["template"] == "ask.formal"
